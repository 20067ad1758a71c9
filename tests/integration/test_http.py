"""HostClient against small local aiohttp servers: retries, Retry-After, caps, limiter, breaker."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from conftest import serve
from prescientd.polymarket.http import (
    BreakerOpenError,
    FetchError,
    HostClient,
    ResponseTooLargeError,
    make_session,
    parse_retry_after,
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process-wide session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=5) as s:
        yield s


def host_client(session: aiohttp.ClientSession, base_url: str, **overrides: Any) -> HostClient:
    """A HostClient with small backoffs so retry tests take milliseconds."""
    settings: dict[str, Any] = {
        "requests_per_10s": 1000,
        "max_concurrency": 8,
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "retry_after_max_s": 5.0,
        "max_response_bytes": 1_000_000,
        "connect_timeout_s": 2.0,
        "request_timeout_s": 2.0,
    }
    settings.update(overrides)
    return HostClient(session, base_url, **settings)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- basics ---------------------------------------------------------------------------------------


async def test_session_sends_user_agent_and_params(session: aiohttp.ClientSession) -> None:
    """The explicit User-Agent is sent and list params become repeated query keys."""
    seen: dict[str, Any] = {}

    async def echo(request: web.Request) -> web.Response:
        seen["ua"] = request.headers.get("User-Agent")
        seen["ids"] = request.query.getall("id")
        seen["closed"] = request.query.get("closed")
        return web.json_response({"ok": True})

    async with serve({"/x": echo}) as url:
        result = await host_client(session, url).get_json(
            "/x", {"id": ["1", "2"], "closed": "false"}
        )
    assert result == {"ok": True}
    assert seen == {"ua": "prescientd-test/1.0", "ids": ["1", "2"], "closed": "false"}


async def test_make_session_sets_explicit_timeouts() -> None:
    """make_session sets total, connect and sock_read timeouts and the User-Agent header."""
    async with make_session(
        "ua/1", connect_timeout_s=3, request_timeout_s=20, sock_read_timeout_s=7
    ) as s:
        assert s.headers["User-Agent"] == "ua/1"
        assert (s.timeout.total, s.timeout.connect, s.timeout.sock_read) == (20, 3, 7)


async def test_non_finite_literals_in_body_become_text(session: aiohttp.ClientSession) -> None:
    """NaN and 1e400 in a body decode to strings; the payload still dumps with allow_nan=False."""

    async def body(request: web.Request) -> web.Response:
        return web.Response(text='{"a": NaN, "b": 1e400, "c": [0.5, 2]}')

    async with serve({"/x": body}) as url:
        result = await host_client(session, url).get_json("/x")
    assert result == {"a": "NaN", "b": "1e400", "c": [0.5, 2]}
    json.dumps(result, allow_nan=False)


# -- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retryable_status_retried_then_clean_error(
    session: aiohttp.ClientSession, status: int
) -> None:
    """429/5xx are retried max_attempts times, then one clean FetchError names the failure."""
    hits: list[float] = []

    async def failing(request: web.Request) -> web.Response:
        hits.append(time.monotonic())
        return web.json_response({"error": "nope"}, status=status)

    async with serve({"/events/keyset": failing}) as url:
        client = host_client(session, url, max_attempts=4)
        with pytest.raises(FetchError) as caught:
            await client.get_json("/events/keyset")
    assert len(hits) == 4
    assert client.requests_sent == 4
    error = caught.value
    assert (error.status, error.attempts, error.method) == (status, 4, "GET")
    assert str(error) == f"GET {url}/events/keyset failed after 4 attempts: HTTP {status}"


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_client_errors_not_retried(session: aiohttp.ClientSession, status: int) -> None:
    """400/404/422 fail at once with their status; the server sees one request."""
    hits: list[int] = []

    async def bad(request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response(
            {"error": "offset is not allowed on keyset endpoints"}, status=status
        )

    async with serve({"/x": bad}) as url:
        with pytest.raises(FetchError) as caught:
            await host_client(session, url).get_json("/x")
    assert len(hits) == 1
    assert (caught.value.status, caught.value.attempts) == (status, 1)
    assert "offset is not allowed" in str(caught.value)


async def test_not_found_ok_returns_none(session: aiohttp.ClientSession) -> None:
    """A 404 with not_found_ok gives None (and is not retried)."""
    hits: list[int] = []

    async def missing(request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({"error": "No orderbook exists"}, status=404)

    async with serve({"/book": missing}) as url:
        assert await host_client(session, url).get_json("/book", not_found_ok=True) is None
    assert hits == [1]


async def test_http_200_error_body_retried(session: aiohttp.ClientSession) -> None:
    """HTTP 200 with {"error": ...} (a rate-limit signal) is retried until a real body comes."""
    hits: list[int] = []

    async def flaky(request: web.Request) -> web.Response:
        hits.append(1)
        if len(hits) < 3:
            return web.json_response({"error": "Too Many Requests"})
        return web.json_response([{"id": "1"}])

    async with serve({"/x": flaky}) as url:
        result = await host_client(session, url, max_attempts=3).get_json("/x")
    assert result == [{"id": "1"}]
    assert len(hits) == 3


async def test_undecodable_body_retried(session: aiohttp.ClientSession) -> None:
    """A truncated/garbled 200 body is retried like a transient failure."""
    hits: list[int] = []

    async def garbled(request: web.Request) -> web.Response:
        hits.append(1)
        return web.Response(text='{"events": [' if len(hits) == 1 else '{"events": []}')

    async with serve({"/x": garbled}) as url:
        assert await host_client(session, url).get_json("/x") == {"events": []}
    assert len(hits) == 2


async def test_post_books_retried(session: aiohttp.ClientSession) -> None:
    """POST /books is a read: a 503 is retried and the JSON body arrives intact."""
    bodies: list[Any] = []

    async def books(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        if len(bodies) == 1:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response([])

    async with serve({"/books": books}) as url:
        assert await host_client(session, url).post_json("/books", [{"token_id": "1"}]) == []
    assert bodies == [[{"token_id": "1"}], [{"token_id": "1"}]]


async def test_connection_refused_retried_then_error(session: aiohttp.ClientSession) -> None:
    """Connection errors are retried; the final FetchError has no status and counts attempts."""
    client = host_client(session, f"http://127.0.0.1:{free_port()}", max_attempts=3)
    with pytest.raises(FetchError) as caught:
        await client.get_json("/x")
    assert client.requests_sent == 3
    assert (caught.value.status, caught.value.attempts) == (None, 3)
    assert "failed after 3 attempts" in str(caught.value)


async def test_connection_reset_retried(session: aiohttp.ClientSession) -> None:
    """A server that drops the connection mid-request is retried, then reported."""
    connections: list[int] = []

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a"')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = host_client(session, f"http://127.0.0.1:{port}", max_attempts=3)
        with pytest.raises(FetchError) as caught:
            await client.get_json("/x")
    finally:
        server.close()
        await server.wait_closed()
    assert len(connections) == 3
    assert caught.value.attempts == 3


async def test_slow_body_times_out_retried_then_fails(session: aiohttp.ClientSession) -> None:
    """A body that stalls beyond the read timeout is retried, then fails cleanly."""
    hits: list[int] = []
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"events": [')
        with suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 5)
        return response

    async with serve({"/x": slow}) as url:
        client = host_client(session, url, max_attempts=2, request_timeout_s=0.3)
        started = time.monotonic()
        try:
            with pytest.raises(FetchError) as caught:
                await client.get_json("/x")
        finally:
            release.set()
    assert len(hits) == 2
    assert caught.value.attempts == 2 and caught.value.status is None
    assert "Timeout" in str(caught.value)
    assert time.monotonic() - started < 3


async def test_backoff_is_capped_full_jitter_and_logged(session: aiohttp.ClientSession) -> None:
    """Each wait is uniform in [0, min(max, base*2**retry)], and each retry logs http_retry."""
    waits: list[float] = []

    async def record_sleep(delay: float) -> None:
        waits.append(delay)

    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async with serve({"/x": failing}) as url:
        client = host_client(
            session,
            url,
            max_attempts=6,
            backoff_base_s=0.1,
            backoff_max_s=0.25,
            sleep=record_sleep,
        )
        with capture_logs() as logs, pytest.raises(FetchError):
            await client.get_json("/x")
    caps = [min(0.25, 0.1 * 2**retry) for retry in range(5)]
    assert len(waits) == 5
    assert all(0 <= wait <= cap for wait, cap in zip(waits, caps, strict=True))
    assert len(set(waits)) > 1  # jittered, not a fixed schedule
    retries = [entry for entry in logs if entry["event"] == "http_retry"]
    assert [entry["attempt"] for entry in retries] == [1, 2, 3, 4, 5]
    assert {entry["status"] for entry in retries} == {503}
    assert [entry["wait_s"] for entry in retries] == [round(wait, 3) for wait in waits]


# -- Retry-After ----------------------------------------------------------------------------------


class ManualTime:
    """Monotonic and wall clocks with a sleep that waits for no real time.

    With auto=True a sleep moves both clocks by its delay at once; otherwise sleepers wait until
    the test calls `release` (after moving the clocks itself), so it can look while they sleep.
    """

    def __init__(self, *, auto: bool, wall_s: float = 1_700_000_000.5) -> None:
        self.auto = auto
        self.mono_s = 1000.0
        self.wall_s = wall_s
        self.sleeps: list[float] = []
        self._released = asyncio.Event()

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self.mono_s

    def time(self) -> float:
        """The fake wall time (epoch seconds)."""
        return self.wall_s

    def advance(self, seconds: float) -> None:
        """Let seconds pass on both clocks."""
        self.mono_s += seconds
        self.wall_s += seconds

    async def sleep(self, delay: float) -> None:
        """Record the delay; pass it at once (auto) or wait for release."""
        self.sleeps.append(delay)
        if self.auto:
            self.advance(delay)
            await asyncio.sleep(0)
        else:
            await self._released.wait()

    def release(self) -> None:
        """Wake every sleeper."""
        self._released.set()

    async def until_sleeping(self, count: int) -> None:
        """Wait (bounded) until count sleeps have started."""
        for _ in range(2000):
            if len(self.sleeps) >= count:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"only {len(self.sleeps)} of {count} sleeps started")

    def client_options(self) -> dict[str, Any]:
        """The HostClient keyword arguments that make it use this time."""
        return {"sleep": self.sleep, "clock": self.monotonic, "wall_clock": self.time}


async def test_retry_after_seconds_blocks_the_whole_host(session: aiohttp.ClientSession) -> None:
    """After a 429 with Retry-After: 1 no request to the host (any path) goes out within 1 s."""
    clock = ManualTime(auto=False)
    arrivals: list[tuple[str, float]] = []

    async def limited(request: web.Request) -> web.Response:
        arrivals.append(("a", clock.monotonic()))
        if len(arrivals) == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"ok": "a"})

    async def other(request: web.Request) -> web.Response:
        arrivals.append(("b", clock.monotonic()))
        return web.json_response({"ok": "b"})

    async with serve({"/a": limited, "/b": other}) as url:
        client = host_client(session, url, **clock.client_options())
        first = asyncio.create_task(client.get_json("/a"))
        await clock.until_sleeping(1)  # the 429 has been handled
        second = asyncio.create_task(client.get_json("/b"))
        await clock.until_sleeping(2)  # the other path waits for the same block
        assert [name for name, _ in arrivals] == ["a"]
        assert clock.sleeps == [1.0, 1.0]
        clock.advance(1.0)
        clock.release()
        assert await first == {"ok": "a"}
        assert await second == {"ok": "b"}
    limited_at = arrivals[0][1]
    later = arrivals[1:]
    assert {name for name, _ in later} == {"a", "b"}
    assert all(at - limited_at >= 1.0 for _, at in later)


async def test_retry_after_http_date_honoured(session: aiohttp.ClientSession) -> None:
    """A Retry-After HTTP-date 1.5 s ahead: the retry waits for that date, on the wall clock."""
    clock = ManualTime(auto=True)
    arrivals: list[float] = []
    retry_at = math.floor(clock.time()) + 2

    async def limited(request: web.Request) -> web.Response:
        arrivals.append(clock.time())
        if len(arrivals) == 1:
            date = formatdate(retry_at, usegmt=True)
            return web.Response(status=429, headers={"Retry-After": date})
        return web.json_response({"ok": True})

    async with serve({"/x": limited}) as url:
        client = host_client(session, url, **clock.client_options())
        assert await client.get_json("/x") == {"ok": True}
    assert len(arrivals) == 2
    assert clock.sleeps == [pytest.approx(1.5)]
    assert arrivals[1] >= retry_at


async def test_retry_after_beyond_cap_fails_fast(session: aiohttp.ClientSession) -> None:
    """A Retry-After longer than the cap fails at once, and the host stays blocked meanwhile."""
    clock = ManualTime(auto=True)
    hits: list[int] = []

    async def limited(request: web.Request) -> web.Response:
        hits.append(1)
        return web.Response(status=429, headers={"Retry-After": "3600"})

    async with serve({"/x": limited}) as url:
        client = host_client(session, url, retry_after_max_s=5.0, **clock.client_options())
        with pytest.raises(FetchError) as caught:
            await client.get_json("/x")
        assert clock.sleeps == []  # no wait at all
        assert "Retry-After 3600 s" in str(caught.value) and "5 s cap" in str(caught.value)
        assert caught.value.status == 429
        clock.advance(10.0)  # still blocked for 3590 s, past the cap: nothing is sent
        with pytest.raises(FetchError) as again:
            await client.get_json("/x")
    assert hits == [1]
    assert "not sent" in str(again.value)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("1", 0.0, 1.0),
        (" 120 ", 0.0, 120.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", datetime(2015, 10, 21, 7, 27, 55, tzinfo=UTC), 5.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", datetime(2015, 10, 21, 8, 0, tzinfo=UTC), 0.0),
        ("soon", 0.0, None),
        ("-1", 0.0, None),
        ("", 0.0, None),
    ],
)
def test_parse_retry_after(value: str, now: float | datetime, expected: float | None) -> None:
    """Retry-After parses as delay-seconds or HTTP-date (past dates mean 0); junk gives None."""
    now_s = now.timestamp() if isinstance(now, datetime) else now
    assert parse_retry_after(value, now_s) == expected


# -- size cap -------------------------------------------------------------------------------------


async def test_declared_body_over_cap_refused(session: aiohttp.ClientSession) -> None:
    """A Content-Length above max_response_bytes is refused without retry."""
    hits: list[int] = []

    async def big(request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({"d": "x" * 5000})

    async with serve({"/x": big}) as url:
        with pytest.raises(ResponseTooLargeError) as caught:
            await host_client(session, url, max_response_bytes=1000).get_json("/x")
    assert hits == [1]
    assert "1000 byte cap" in str(caught.value)


async def test_chunked_body_over_cap_refused(session: aiohttp.ClientSession) -> None:
    """A chunked body is counted while read and refused once it passes the cap."""
    hits: list[int] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(b'["')
            for _ in range(40):
                await response.write(b"y" * 500)
            await response.write(b'"]')
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async with serve({"/x": stream}) as url:
        with pytest.raises(ResponseTooLargeError):
            await host_client(session, url, max_response_bytes=4000).get_json("/x")
    assert hits == [1]


# -- limiter and concurrency -----------------------------------------------------------------------


async def test_semaphore_bounds_in_flight_requests(session: aiohttp.ClientSession) -> None:
    """No more than max_concurrency requests are in flight at once."""
    state = {"now": 0, "max": 0}

    async def slow(request: web.Request) -> web.Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.05)
        state["now"] -= 1
        return web.json_response(1)

    async with serve({"/x": slow}) as url:
        client = host_client(session, url, max_concurrency=2)
        results = await asyncio.gather(*(client.get_json("/x") for _ in range(6)))
    assert results == [1] * 6
    assert state["max"] == 2


async def test_rate_limiter_holds_requests_past_the_window_budget(
    session: aiohttp.ClientSession,
) -> None:
    """With 20 requests per window the first 20 go at once and the 21st waits for the window."""
    stamps: list[float] = []

    async def ok(request: web.Request) -> web.Response:
        stamps.append(time.monotonic())
        return web.json_response(1)

    async with serve({"/x": ok}) as url:
        client = host_client(session, url, requests_per_10s=20, rate_window_s=0.5)
        started = time.monotonic()
        await asyncio.gather(*(client.get_json("/x") for _ in range(21)))
    assert len(stamps) == 21
    assert max(stamps[:20]) - started < 0.4  # the budget's burst is not spaced out
    assert stamps[20] - started >= 0.5  # the 21st waited for the first to leave the window


# -- circuit breaker -----------------------------------------------------------------------------


async def test_breaker_opens_then_half_opens_after_cooldown(
    session: aiohttp.ClientSession,
) -> None:
    """After N failed requests the host fails fast; after the cooldown one probe closes it."""
    state = {"status": 503, "hits": 0}

    async def toggled(request: web.Request) -> web.Response:
        state["hits"] += 1
        return web.json_response({"ok": True}, status=state["status"])

    clock = FakeClock()
    async with serve({"/x": toggled}) as url:
        client = host_client(
            session, url, max_attempts=1, breaker_threshold=3, breaker_cooldown_s=30, clock=clock
        )
        for _ in range(3):
            with pytest.raises(FetchError) as failed:
                await client.get_json("/x")
            assert not isinstance(failed.value, BreakerOpenError)
        with pytest.raises(BreakerOpenError) as fast:
            await client.get_json("/x")
        assert state["hits"] == 3
        assert fast.value.attempts == 0 and "circuit breaker open" in str(fast.value)
        assert client.breaker_open

        clock.now += 29
        with pytest.raises(BreakerOpenError):
            await client.get_json("/x")
        assert state["hits"] == 3

        clock.now += 2
        state["status"] = 200
        assert await client.get_json("/x") == {"ok": True}
        assert await client.get_json("/x") == {"ok": True}
        assert state["hits"] == 5
        assert not client.breaker_open


async def test_failed_probe_reopens_breaker(session: aiohttp.ClientSession) -> None:
    """A probe that fails re-opens the breaker for another cooldown at once."""
    hits: list[int] = []

    async def failing(request: web.Request) -> web.Response:
        hits.append(1)
        return web.Response(status=502)

    clock = FakeClock()
    async with serve({"/x": failing}) as url:
        client = host_client(
            session, url, max_attempts=1, breaker_threshold=2, breaker_cooldown_s=10, clock=clock
        )
        for _ in range(2):
            with pytest.raises(FetchError):
                await client.get_json("/x")
        clock.now += 11
        with pytest.raises(FetchError) as probe:
            await client.get_json("/x")
        assert not isinstance(probe.value, BreakerOpenError)
        with pytest.raises(BreakerOpenError):
            await client.get_json("/x")
    assert len(hits) == 3


async def test_half_open_lets_one_probe_through(session: aiohttp.ClientSession) -> None:
    """While the half-open probe is in flight, other requests fail fast instead of piling on."""
    state = {"status": 503}
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if state["status"] == 200:
            arrived.set()
            await asyncio.wait_for(release.wait(), 5)
        return web.json_response({"ok": True}, status=state["status"])

    clock = FakeClock()
    async with serve({"/x": handler}) as url:
        client = host_client(
            session, url, max_attempts=1, breaker_threshold=1, breaker_cooldown_s=5, clock=clock
        )
        with pytest.raises(FetchError):
            await client.get_json("/x")
        clock.now += 6
        state["status"] = 200
        probe = asyncio.create_task(client.get_json("/x"))
        await asyncio.wait_for(arrived.wait(), 2)
        with pytest.raises(BreakerOpenError) as fast:
            await client.get_json("/x")
        assert "half-open" in str(fast.value)
        release.set()
        assert await probe == {"ok": True}
        assert not client.breaker_open


async def test_client_errors_do_not_open_breaker(session: aiohttp.ClientSession) -> None:
    """4xx answers show the host is up: they never open the breaker."""
    hits: list[int] = []

    async def bad(request: web.Request) -> web.Response:
        hits.append(1)
        return web.Response(status=400, text="Invalid payload")

    async with serve({"/x": bad}) as url:
        client = host_client(session, url, breaker_threshold=2)
        for _ in range(4):
            with pytest.raises(FetchError) as caught:
                await client.get_json("/x")
            assert caught.value.status == 400
    assert len(hits) == 4
