"""The WebSocket market channel client: live local books for the watched tokens.

Tokens are spread over connections of `assets_per_connection` (the tokens of a market share one).
Each connection subscribes, sends `PING` every `ping_interval_s` and takes `silence_limit_s`
without any frame (a PONG included) as dead. A dead, closed or corrupt connection marks its books
stale and reconnects with capped full-jitter backoff, resubscribing; books are trusted again only
after fresh snapshots. A book that goes stale on a live connection (a malformed entry, a delta that
disagrees with the server's best prices) is re-requested with unsubscribe + subscribe, and the
connection is rebuilt if that does not heal it. Repeated failed connects open a circuit: poll-only
for `circuit_open_s`.

The daemon reads trusted books with `book(token)` and coalesced change notices with
`next_changes()`; nothing here evaluates, trades or writes.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Final

import aiohttp
import structlog

from prescientd.config import StreamConfig
from prescientd.core.reconnect import Circuit, backoff_delay
from prescientd.core.stream_book import (
    DISCONNECTED,
    MALFORMED,
    Applied,
    AssetFault,
    BookDelta,
    LastTrade,
    LocalBooks,
    TickSizeChange,
)
from prescientd.models import Book
from prescientd.polymarket.stream_state import (
    ChangeNotices,
    Connection,
    StreamChanges,
    StreamStats,
    StreamStatus,
    capped_groups,
    describe_error,
)
from prescientd.polymarket.ws_frames import (
    PING,
    PONG,
    Frame,
    FrameError,
    MarketFault,
    MarketResolved,
    parse_message,
    subscribe_message,
    unsubscribe_message,
)

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]

# Resyncs of one stale book before the whole connection is rebuilt (a fresh dump heals them all).
MAX_RESYNC_TRIES: Final = 3
# Malformed-frame warnings per connection at most this often (the rest are counted).
LOG_EVERY_S: Final = 10.0
WS_CLOSE_TIMEOUT_S: Final = 2.0
READ_BURST: Final = 20  # messages read in a row before other tasks get the loop


class _Gap(Exception):
    """The connection can no longer be trusted: end the session and reconnect."""


class MarketStream:
    """Streams the watched tokens' books; `run(stop)` keeps the connections until stop is set."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: StreamConfig,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._cfg = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._books = LocalBooks()
        self._notices = ChangeNotices()
        self._circuit = Circuit(
            failures=config.circuit_failures,
            window_s=config.circuit_window_s,
            open_s=config.circuit_open_s,
        )
        self._connections: list[Connection] = []
        self._conn_of: dict[str, Connection] = {}
        self._numbers = 0
        self._running = False
        self._reading = asyncio.Event()
        self._reading.set()
        self.stats = StreamStats()

    # -- what the daemon calls -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the watched tokens streaming until stop is set; network errors never escape."""
        if not self._cfg.enabled:
            await stop.wait()
            return
        self._running = True
        try:
            for conn in list(self._connections):
                self._start(conn)
            await stop.wait()
        finally:
            self._running = False
            tasks = [c.task for c in self._connections if c.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._books.mark_stale(list(self._conn_of), DISCONNECTED)

    def set_watch(self, groups: Iterable[Sequence[str]]) -> None:
        """Stream exactly these tokens, grouped by market in priority order (max_assets cap)."""
        wanted_groups = capped_groups(groups, self._cfg.max_assets)
        wanted = {token for group in wanted_groups for token in group}
        for conn in self._connections:
            gone = conn.assets - wanted
            if gone:
                conn.assets -= gone
                for token in gone:
                    del self._conn_of[token]
                self._books.unwatch(gone)
                self._notices.discard(gone)
                conn.wake.set()
        for group in wanted_groups:
            new = [token for token in group if token not in self._conn_of]
            if new:
                self._place(group, new)

    def configure(self, config: StreamConfig) -> None:
        """Take a reloaded config (timers, caps; new circuit limits start a fresh circuit)."""
        old = self._cfg
        self._cfg = config
        limits = ("circuit_failures", "circuit_window_s", "circuit_open_s")
        if any(getattr(old, key) != getattr(config, key) for key in limits):
            self._circuit = Circuit(
                failures=config.circuit_failures,
                window_s=config.circuit_window_s,
                open_s=config.circuit_open_s,
            )
        for conn in self._connections:
            conn.wake.set()  # re-plan PINGs and silence checks with the new timers

    def book(self, token_id: str) -> Book | None:
        """The token's streamed book when trusted on a live connection; None = use the poll's."""
        return self._books.book(token_id) if self._live(token_id) else None

    def book_at(self, token_id: str) -> tuple[Book, float] | None:
        """The trusted book with the time (`monotonic()`) its connection last heard the server:
        the book is known to be current as of then. None when not trusted on a live connection."""
        book = self.book(token_id)
        if book is None:
            return None
        return book, self._conn_of[token_id].last_message_at

    def monotonic(self) -> float:
        """The stream's clock (receipt times and `book_at` are on it)."""
        return self._clock()

    @contextmanager
    def reads_held(self) -> Iterator[None]:
        """Hold every connection's reading for a short critical step (frames wait in the
        socket buffers), such as the commit of a trade the stream just caused."""
        self._reading.clear()
        try:
            yield
        finally:
            self._reading.set()

    def _live(self, token_id: str) -> bool:
        """Subscribed on a connection that is open and not silent for too long."""
        conn = self._conn_of.get(token_id)
        if conn is None or conn.ws is None or token_id not in conn.subscribed:
            return False
        # The keeper may not have woken up yet to notice a silence that already began.
        return self._clock() - conn.last_message_at <= self._cfg.silence_limit_s

    async def next_changes(self, timeout_s: float | None = None) -> StreamChanges:
        """Wait for a change (up to timeout_s), let the burst settle for debounce_ms, return it."""
        if not self._notices.ready.is_set():
            try:
                async with asyncio.timeout(timeout_s):
                    await self._notices.ready.wait()
            except TimeoutError:
                return StreamChanges()
        if self._cfg.debounce_ms:
            await self._sleep(self._cfg.debounce_ms / 1000)
        return self._notices.take()

    @property
    def poll_only(self) -> bool:
        """True when the stream cannot help: disabled, not running, or the circuit is open."""
        return not self._running or self._circuit.is_open(self._clock())

    @property
    def watched(self) -> frozenset[str]:
        """The tokens currently asked for."""
        return frozenset(self._conn_of)

    def assignment(self) -> tuple[frozenset[str], ...]:
        """The tokens of each connection (for status and tests)."""
        return tuple(frozenset(c.assets) for c in self._connections if c.assets)

    def status(self) -> StreamStatus:
        """Gauges and counters for metrics and status."""
        trusted = sum(1 for t in self._conn_of if self._live(t) and self._books.is_trusted(t))
        return StreamStatus(
            running=self._running,
            poll_only=self.poll_only,
            connections=sum(1 for c in self._connections if c.ws is not None),
            watched=len(self._conn_of),
            trusted=trusted,
            stale=len(self._conn_of) - trusted,
            counters=self.stats.as_dict(),
        )

    # -- placement -------------------------------------------------------------------------------

    def _place(self, group: Sequence[str], new: list[str]) -> None:
        """Put a market's new tokens on the connection of a sibling, or one with room."""
        per = self._cfg.assets_per_connection
        if len(new) > per:  # a market with more outcomes than a connection carries
            for start in range(0, len(new), per):
                self._place(new[start : start + per], new[start : start + per])
            return
        sibling = next((self._conn_of[t] for t in group if t in self._conn_of), None)
        candidates = [sibling] if sibling is not None else []
        candidates += [c for c in self._connections if c.assets]
        target = next((c for c in candidates if len(c.assets) + len(new) <= per), None)
        if target is None:
            self._numbers += 1
            target = Connection(self._numbers)
            self._connections.append(target)
        target.assets.update(new)
        for token in new:
            self._conn_of[token] = target
        self._books.watch(new)
        target.wake.set()
        self._start(target)

    def _start(self, conn: Connection) -> None:
        if self._running and conn.task is None and conn.assets:
            conn.task = asyncio.create_task(
                self._run_connection(conn), name=f"stream-connection-{conn.number}"
            )

    # -- one connection's life -------------------------------------------------------------------

    async def _run_connection(self, conn: Connection) -> None:
        """Connect, serve, reconnect with backoff while the connection has tokens."""
        cfg = self._cfg
        attempt = 0
        tried = False
        try:
            while conn.assets:
                wait_s = self._circuit.remaining_s(self._clock())
                if wait_s > 0:
                    await self._sleep(wait_s)
                    continue
                if tried:
                    self.stats.reconnects += 1
                tried = True
                healthy = await self._connect_once(conn)
                if not conn.assets:
                    break
                if self._circuit.is_open(self._clock()):
                    continue  # another connection opened it: wait it out, nothing to count
                if healthy:
                    attempt = 0
                    self._circuit.record_success()
                elif self._circuit.record_failure(self._clock()):
                    self._open_circuit()
                delay_s = backoff_delay(attempt, cfg.backoff_base_s, cfg.backoff_max_s, self._rng)
                attempt += 1
                await self._sleep(delay_s)
        finally:
            conn.task = None
            if not conn.assets and conn in self._connections:
                self._connections.remove(conn)
            elif self._running and conn.assets:
                self._start(conn)  # tokens arrived while this task was winding down

    async def _connect_once(self, conn: Connection) -> bool:
        """One connection attempt and its session; True when the session proved healthy."""
        cfg = self._cfg
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                ws = await self._session.ws_connect(
                    cfg.ws_url,
                    autoping=True,
                    heartbeat=None,
                    max_msg_size=int(cfg.max_frame_mb * 1024 * 1024),
                    timeout=aiohttp.ClientWSTimeout(ws_close=WS_CLOSE_TIMEOUT_S),
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.stats.connect_failures += 1
            log.warning("stream_connect_failed", connection=conn.number, error=describe_error(exc))
            return False
        self.stats.connects += 1
        started = self._clock()
        reason = "cancelled"
        healthy = False
        try:
            reason = await self._serve(conn, ws)
        finally:
            # A session that never answered a PING counts as a failed connect for the circuit.
            healthy = conn.pongs > 0 or reason == "unwatched"
            conn.reset_session()
            with suppress(Exception):
                await ws.close()
            went = self._books.mark_stale(conn.assets, DISCONNECTED)
            self.stats.stale_marks += len(went)
            self.stats.disconnects += 1
            log.info(
                "stream_disconnected",
                connection=conn.number,
                reason=reason,
                session_s=round(self._clock() - started, 3),
                stale_books=len(went),
            )
        return healthy

    async def _serve(self, conn: Connection, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Run the reader and the keeper until either ends; returns why the session ended."""
        conn.ws = ws
        conn.last_message_at = self._clock()
        reader = asyncio.create_task(self._read(conn, ws))
        keeper = asyncio.create_task(self._keep(conn, ws))
        try:
            done, _ = await asyncio.wait((reader, keeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            keeper.cancel()
            await asyncio.gather(reader, keeper, return_exceptions=True)
        finished = done.pop()
        error = finished.exception()
        if error is None:
            return finished.result()
        if isinstance(error, _Gap):
            return str(error)
        if isinstance(error, aiohttp.ClientError | OSError):
            return f"error: {describe_error(error)}"
        log.error("stream_connection_error", connection=conn.number, exc_info=error)
        return f"error: {type(error).__name__}"

    async def _read(self, conn: Connection, ws: aiohttp.ClientWebSocketResponse) -> str:
        burst = 0
        reading = self._reading
        while True:
            if not reading.is_set():
                await reading.wait()
            msg = await ws.receive()
            burst += 1
            if burst >= READ_BURST:
                # buffered messages are returned without yielding: let evaluations and the
                # other connections run between bursts
                burst = 0
                await asyncio.sleep(0)
            if msg.type is aiohttp.WSMsgType.TEXT:
                conn.last_message_at = self._clock()
                self.stats.messages += 1
                self._on_text(conn, msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                conn.last_message_at = self._clock()
                self.stats.messages += 1
                self._malformed(conn, "binary_frame", None)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return f"error: {describe_error(ws.exception())}"
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return f"closed by server ({ws.close_code})"

    def _on_text(self, conn: Connection, text: str) -> None:
        if len(text) < 8 and text.strip() == PONG:
            conn.pongs += 1
            self.stats.pongs += 1
            return
        try:
            frames = parse_message(text)
        except FrameError as exc:
            self._malformed(conn, "undecodable", None)
            raise _Gap(f"undecodable frame: {exc}") from None
        for frame in frames:
            self._on_frame(conn, frame)

    def _on_frame(self, conn: Connection, frame: Frame) -> None:
        """Apply one frame to the books; count it; queue notices and resyncs."""
        if isinstance(frame, LastTrade):
            applied = self._books.apply(frame)  # market-level: both tokens' books
        elif isinstance(frame, Book | BookDelta | TickSizeChange | AssetFault):
            token = frame.token_id
            if token not in conn.subscribed or token not in conn.assets:
                self.stats.ignored += 1  # an unsubscribed sibling, an unknown or dropped token
                return
            if isinstance(frame, AssetFault):
                self._malformed(conn, frame.reason, token)
            elif isinstance(frame, Book):
                self.stats.snapshots += 1
                conn.had_book.add(token)
                conn.resync_tries.pop(token, None)
            elif isinstance(frame, BookDelta):
                self.stats.deltas += 1
            applied = self._books.apply(frame)
        elif isinstance(frame, MarketFault):
            self._malformed(conn, frame.reason, None)
            if frame.condition_id is None:
                raise _Gap(f"malformed frame without a token ({frame.reason})")
            suspects = self._books.tokens_of(frame.condition_id) & conn.subscribed
            applied = Applied(went_stale=self._books.mark_stale(suspects, MALFORMED))
        elif isinstance(frame, MarketResolved):
            self.stats.resolved += 1
            self._notices.add_resolved(frame.condition_id)
            return
        else:
            return  # new_market, best_bid_ask and unknown types change no book
        if applied.went_stale:
            self.stats.stale_marks += len(applied.went_stale)
            conn.wake.set()  # the keeper re-requests the snapshots
        if applied.changed:
            self._notices.add_tokens(applied.changed, conn.last_message_at)

    async def _keep(self, conn: Connection, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Subscribe, then keep the session: PING, silence, subscription changes, resyncs."""
        cfg = self._cfg
        conn.subscribed = set(conn.assets)
        await ws.send_str(subscribe_message(conn.subscribed, initial=True))
        log.info("stream_connected", connection=conn.number, assets=len(conn.subscribed))
        next_ping = self._clock() + cfg.ping_interval_s
        while True:
            conn.wake.clear()
            now = self._clock()
            if not conn.assets:
                return "unwatched"
            if self._circuit.is_open(now):
                return "circuit open"
            if now - conn.last_message_at > cfg.silence_limit_s:
                self.stats.silences += 1
                return "silence"
            if now >= next_ping:
                await ws.send_str(PING)
                next_ping = now + cfg.ping_interval_s
            await self._sync_subscriptions(conn, ws)
            next_resync = await self._resync(conn, ws, now)
            deadline = min(next_ping, conn.last_message_at + cfg.silence_limit_s, next_resync)
            with suppress(TimeoutError):
                async with asyncio.timeout(max(deadline - self._clock(), 0.001)):
                    await conn.wake.wait()

    async def _sync_subscriptions(
        self, conn: Connection, ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        gone = conn.subscribed - conn.assets
        if gone:
            # Forget first, so frames still in flight for them are ignored.
            conn.subscribed -= gone
            conn.had_book -= gone
            for token in gone:
                conn.resynced_at.pop(token, None)
                conn.resync_tries.pop(token, None)
            await ws.send_str(unsubscribe_message(gone))
        new = conn.assets - conn.subscribed
        if new:
            conn.subscribed |= new
            await ws.send_str(subscribe_message(new, initial=False))

    async def _resync(
        self, conn: Connection, ws: aiohttp.ClientWebSocketResponse, now: float
    ) -> float:
        """Re-request snapshots of books that went stale in this session; next due time."""
        stale = [t for t in conn.had_book if not self._books.is_trusted(t)]
        if not stale:
            return math.inf
        interval = self._cfg.resync_interval_s
        due = [t for t in stale if now - conn.resynced_at.get(t, -math.inf) >= interval]
        if due:
            if any(conn.resync_tries.get(t, 0) >= MAX_RESYNC_TRIES for t in due):
                raise _Gap("stale books did not recover after resync")
            await ws.send_str(unsubscribe_message(due))
            await ws.send_str(subscribe_message(due, initial=False))
            for token in due:
                conn.resynced_at[token] = now
                conn.resync_tries[token] = conn.resync_tries.get(token, 0) + 1
            self.stats.resyncs += len(due)
        return min(conn.resynced_at[t] for t in stale) + interval

    # -- bookkeeping -----------------------------------------------------------------------------

    def _open_circuit(self) -> None:
        self.stats.circuit_opens += 1
        log.warning(
            "stream_circuit_open",
            poll_only_s=self._cfg.circuit_open_s,
            failures=self._cfg.circuit_failures,
            window_s=self._cfg.circuit_window_s,
        )
        for conn in self._connections:
            conn.wake.set()  # live sessions end too: the stream is poll-only as a whole

    def _malformed(self, conn: Connection, reason: str, token_id: str | None) -> None:
        self.stats.malformed += 1
        now = self._clock()
        if now < conn.log_next_at:
            conn.log_suppressed += 1
            return
        log.warning(
            "stream_frame_malformed",
            connection=conn.number,
            reason=reason,
            token_id=token_id,
            suppressed=conn.log_suppressed,
        )
        conn.log_next_at = now + LOG_EVERY_S
        conn.log_suppressed = 0
