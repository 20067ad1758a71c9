"""The shared HTTP edge: one retrying, rate-limited, circuit-broken JSON client per Polymarket host.

Gamma and CLOB both go through `HostClient`. Per host it keeps a sliding-window limiter, a
concurrency semaphore and a host-wide "blocked until" set by `Retry-After`; per route class (the
first path segment: `books`, `markets`, `events` ...) a consecutive-failure circuit breaker, so
failing settlement look-ups (`/markets/...`) can never starve price polling (`/books`). Each
request is retried (tenacity, capped full-jitter backoff) on 429/5xx, connection errors, timeouts,
undecodable bodies and HTTP 200 bodies carrying an `error` key, which is how Polymarket has
signalled rate limits. Bodies are size-capped while being read and decoded with `parse_json` (no
NaN/inf floats, bounded nesting) or a caller's own decoder (POST /books uses a typed one). Every
message is one line, with credentials redacted.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final

import aiohttp
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from prescientd.observe import NO_OBSERVER, HttpObserver
from prescientd.polymarket.breaker import Breaker, RouteBreakers
from prescientd.polymarket.jsonsafe import parse_json
from prescientd.polymarket.ratelimit import WindowLimiter
from prescientd.redact import host_of, redact_text, redact_url

log = structlog.get_logger(__name__)

# 408 and Cloudflare's 520-524 (origin unreachable / timed out) are as transient as a 502/504.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_CHUNK_BYTES: Final = 1 << 16
_SNIPPET_CHARS: Final = 200
# Retry-After delay-seconds longer than this are absurd; clamp before float conversion.
_MAX_RETRY_AFTER_S: Final = 10.0**9

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Decode = Callable[[bytes], Any]
"""Body bytes to a value; ValueError when the body is not decodable (a transient failure)."""
QueryParams = Mapping[str, str | Sequence[str]]


class FetchError(Exception):
    """A request that could not produce a usable response (after its retries, or not retryable)."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        method: str,
        path: str,
        status: int | None = None,
        attempts: int = 0,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.host = host
        self.method = method
        self.path = path
        self.status = status
        self.attempts = attempts
        # True when the host looked unhealthy (retries exhausted, throttled): feeds the breaker.
        self.transient = transient


class BreakerOpenError(FetchError):
    """The host's circuit breaker is open: the request was not sent."""


class ResponseTooLargeError(FetchError):
    """The response body exceeded max_response_bytes; it was not read in full."""


class PagingError(FetchError):
    """Cursor paging failed: a cursor that does not advance, too many pages, a bad page shape."""


class _TransientError(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, status: int | None, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str, now_s: float) -> float | None:
    """Seconds to wait from Retry-After (delay-seconds or HTTP-date, RFC 9110); None if invalid."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), _MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # An HTTP-date is always GMT; email.utils leaves "-0000" dates naive.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s)


def make_session(
    user_agent: str,
    *,
    connect_timeout_s: float = 10.0,
    request_timeout_s: float = 30.0,
    sock_read_timeout_s: float | None = None,
) -> aiohttp.ClientSession:
    """The one ClientSession of the process: explicit User-Agent and timeouts, no raise_for_status.

    Call it from a running event loop and close it at shutdown.
    """
    timeout = aiohttp.ClientTimeout(
        total=request_timeout_s,
        connect=connect_timeout_s,
        sock_read=sock_read_timeout_s if sock_read_timeout_s is not None else request_timeout_s,
    )
    # Cloudflare answered Python urllib's default UA with 403; always send our own.
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    return aiohttp.ClientSession(headers=headers, timeout=timeout, raise_for_status=False)


def _query(params: QueryParams | None) -> list[tuple[str, str]] | None:
    if not params:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, str):
            pairs.append((key, value))
        else:
            pairs.extend((key, item) for item in value)
    return pairs


def _snippet(data: bytes) -> str:
    text = data[: _SNIPPET_CHARS * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    return redact_text(text[:_SNIPPET_CHARS])


def _one_line(text: str) -> str:
    """Collapse whitespace (aiohttp puts newlines in some messages) and redact credentials."""
    return redact_text(" ".join(text.split()))


def _describe(exc: BaseException) -> str:
    text = _one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HostClient:
    """JSON over HTTP to one host: retries, Retry-After, a rate limiter and a circuit breaker."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        requests_per_10s: int,
        max_concurrency: int,
        max_attempts: int,
        backoff_base_s: float,
        backoff_max_s: float,
        retry_after_max_s: float,
        max_response_bytes: int,
        connect_timeout_s: float,
        request_timeout_s: float,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        api: str = "",
        observer: HttpObserver = NO_OBSERVER,
        rate_window_s: float = 10.0,
    ) -> None:
        """api names this host in what observer is told of each response and retry."""
        if max_attempts < 1 or breaker_threshold < 1 or max_concurrency < 1:
            raise ValueError("max_attempts, breaker_threshold and max_concurrency must be >= 1")
        self._session = session
        self.base_url = base_url.rstrip("/")
        # what messages and log lines show: never the URL's user:password or query tokens
        self.shown_url = redact_url(self.base_url)
        self.host = host_of(self.base_url)
        self.api = api or self.host
        self._observer = observer
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._retry_after_max_s = retry_after_max_s
        self._max_response_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, connect=connect_timeout_s, sock_read=request_timeout_s
        )
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        # requests_per_10s in any 10 s (rate_window_s is shorter only in tests)
        self._limiter = WindowLimiter(requests_per_10s, rate_window_s)
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._blocked_until = -math.inf
        self._breakers = RouteBreakers(self.host, breaker_threshold, breaker_cooldown_s, clock)
        self.requests_sent = 0

    @property
    def breaker_open(self) -> bool:
        """True while some route class fails fast (open, or half-open with a probe out)."""
        return self._breakers.is_open()

    def route_breaker_open(self, route: str) -> bool:
        """True while requests of one route class (`books`, `markets` ...) fail fast."""
        return self._breakers.is_open(route)

    async def get_json(
        self, path: str, params: QueryParams | None = None, *, not_found_ok: bool = False
    ) -> Any:
        """GET base_url+path and decode its JSON; None on 404 when not_found_ok."""
        return await self._request("GET", path, _query(params), None, not_found_ok=not_found_ok)

    async def post_json(self, path: str, body: Any, *, decode: Decode = parse_json) -> Any:
        """POST a JSON body (a read such as /books, retried like a GET) and decode the reply."""
        return await self._request("POST", path, None, body, not_found_ok=False, decode=decode)

    # -- errors -------------------------------------------------------------------------------

    def _error(
        self,
        method: str,
        path: str,
        reason: str,
        *,
        status: int | None,
        attempts: int,
        transient: bool,
        cls: type[FetchError] = FetchError,
    ) -> FetchError:
        target = f"{method} {self.shown_url}{path}"
        reason = _one_line(reason)
        if attempts == 0:
            message = f"{target} not sent: {reason}"
        else:
            noun = "attempt" if attempts == 1 else "attempts"
            message = f"{target} failed after {attempts} {noun}: {reason}"
        return cls(
            message,
            host=self.host,
            method=method,
            path=path,
            status=status,
            attempts=attempts,
            transient=transient,
        )

    # -- circuit breaker ----------------------------------------------------------------------

    def _enter_breaker(self, breaker: Breaker, method: str, path: str) -> bool:
        """Raise if the breaker is open; return True when this request is the half-open probe."""
        probe, refusal = breaker.admit(self._clock())
        if refusal is not None:
            raise self._error(
                method,
                path,
                refusal,
                status=None,
                attempts=0,
                transient=False,
                cls=BreakerOpenError,
            )
        if probe:
            log.info("http_breaker_probe", host=self.host, method=method, path=path)
        return probe

    # -- request flow -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        body: Any,
        *,
        not_found_ok: bool,
        decode: Decode = parse_json,
    ) -> Any:
        breaker = self._breakers.for_path(path)
        probe = self._enter_breaker(breaker, method, path)
        try:
            result = await self._send_with_retries(method, path, params, body, not_found_ok, decode)
        except FetchError as exc:
            breaker.record(self._clock(), failed=exc.transient)
            raise
        else:
            breaker.record(self._clock(), failed=False)
            return result
        finally:
            if probe:
                breaker.probe_in_flight = False

    def _wait_s(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _TransientError) and exc.retry_after_s is not None:
            return max(0.0, self._blocked_until - self._clock())
        # Full jitter (AWS): uniform in [0, min(max, base * 2**retry)], retry counted from 0.
        cap_s = min(self._backoff_max_s, self._backoff_base_s * 2 ** (state.attempt_number - 1))
        return random.uniform(0.0, cap_s)

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        body: Any,
        not_found_ok: bool,
        decode: Decode,
    ) -> Any:
        def log_retry(state: RetryCallState) -> None:
            self._observer.http_retry(self.api)
            exc = state.outcome.exception() if state.outcome is not None else None
            wait_s = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "http_retry",
                host=self.host,
                method=method,
                path=path,
                attempt=state.attempt_number,
                max_attempts=self._max_attempts,
                status=getattr(exc, "status", None),
                error=_one_line(getattr(exc, "detail", None) or (str(exc) if exc else "")) or None,
                wait_s=round(wait_s, 3),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait_s,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        attempt_number = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_number = attempt.retry_state.attempt_number
                    return await self._attempt(
                        method, path, params, body, (not_found_ok, decode), attempt_number
                    )
        except _TransientError as exc:
            raise self._error(
                method,
                path,
                exc.detail,
                status=exc.status,
                attempts=attempt_number,
                transient=True,
            ) from exc
        raise AssertionError("tenacity ended without a result or an error")  # pragma: no cover

    async def _wait_until_unblocked(self, method: str, path: str, attempt: int) -> None:
        """Sleep until the host-wide Retry-After block expires; fail at once if it is too long."""
        while True:
            remaining_s = self._blocked_until - self._clock()
            if remaining_s <= 0:
                return
            if remaining_s > self._retry_after_max_s:
                raise self._error(
                    method,
                    path,
                    f"host blocked by Retry-After for {remaining_s:.0f} s more, "
                    f"longer than the {self._retry_after_max_s:g} s cap",
                    status=None,
                    attempts=attempt - 1,
                    transient=True,
                )
            await self._sleep(remaining_s)

    async def _attempt(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        body: Any,
        reply: tuple[bool, Decode],
        attempt: int,
    ) -> Any:
        url = self.base_url + path
        async with self._semaphore:
            await self._wait_until_unblocked(method, path, attempt)
            await self._limiter.acquire()
            # Another request may have received a Retry-After while this one queued.
            await self._wait_until_unblocked(method, path, attempt)
            self.requests_sent += 1
            answered = False
            try:
                async with self._session.request(
                    method, url, params=params, json=body, timeout=self._timeout
                ) as resp:
                    answered = True
                    self._observer.http_response(self.api, resp.status)
                    return await self._handle(resp, method, path, reply, attempt)
            except aiohttp.InvalidURL as exc:
                raise self._error(
                    method, path, _describe(exc), status=None, attempts=attempt, transient=False
                ) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not answered:  # a body cut short was counted with its status already
                    self._observer.http_response(self.api, None)
                raise _TransientError(None, _describe(exc)) from exc

    async def _handle(
        self,
        resp: aiohttp.ClientResponse,
        method: str,
        path: str,
        reply: tuple[bool, Decode],
        attempt: int,
    ) -> Any:
        not_found_ok, decode = reply
        status = resp.status
        if status == 404 and not_found_ok:
            return None
        if status in RETRY_STATUSES:
            hint_s = self._note_retry_after(
                resp.headers.get("Retry-After"), method, path, status, attempt
            )
            raise _TransientError(status, f"HTTP {status}", hint_s)
        data = await self._read_body(resp, method, path, attempt)
        if not 200 <= status < 300:
            raise self._error(
                method,
                path,
                f"HTTP {status}: {_snippet(data)}",
                status=status,
                attempts=attempt,
                transient=False,
            )
        try:
            payload = decode(data)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise _TransientError(
                status, f"HTTP {status} with an undecodable body: {_one_line(str(exc))}"
            ) from exc
        if isinstance(payload, dict) and "error" in payload:
            hint = payload.get("retry_after_seconds")
            hint_s = None
            if isinstance(hint, int | float) and not isinstance(hint, bool):
                hint_s = self._note_retry_after(str(int(hint)), method, path, status, attempt)
            raise _TransientError(
                status, f"HTTP {status} with an error body: {_snippet(data)}", hint_s
            )
        return payload

    def _note_retry_after(
        self, value: str | None, method: str, path: str, status: int, attempt: int
    ) -> float | None:
        """Block the whole host until a Retry-After hint expires; fail at once if it is too long."""
        if value is None:
            return None
        delay_s = parse_retry_after(value, self._wall_clock())
        if delay_s is None:
            log.warning(
                "http_retry_after_invalid", host=self.host, path=path, value=_one_line(value[:80])
            )
            return None
        self._blocked_until = max(self._blocked_until, self._clock() + delay_s)
        if delay_s > self._retry_after_max_s:
            raise self._error(
                method,
                path,
                f"HTTP {status} with Retry-After {delay_s:.0f} s, "
                f"longer than the {self._retry_after_max_s:g} s cap",
                status=status,
                attempts=attempt,
                transient=True,
            )
        return delay_s

    async def _read_body(
        self, resp: aiohttp.ClientResponse, method: str, path: str, attempt: int
    ) -> bytes:
        cap = self._max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > cap:
            resp.close()
            raise self._error(
                method,
                path,
                f"response body of {declared} bytes exceeds the {cap} byte cap",
                status=resp.status,
                attempts=attempt,
                transient=False,
                cls=ResponseTooLargeError,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
            size += len(chunk)
            if size > cap:
                resp.close()
                raise self._error(
                    method,
                    path,
                    f"response body exceeds the {cap} byte cap (read {size} bytes, stopped)",
                    status=resp.status,
                    attempts=attempt,
                    transient=False,
                    cls=ResponseTooLargeError,
                )
            chunks.append(chunk)
        return b"".join(chunks)
