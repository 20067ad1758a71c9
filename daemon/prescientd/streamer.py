"""The daemon's streaming task: which tokens to stream, and trading on their changes.

`Streamer` owns the market-channel client (polymarket/stream.py). After every poll and reload
`refresh` picks the watch set (core/watch.py): every strategy's held markets, unless their REST
book vanished, then the eligible markets whose YES price (each strategy reading its own price
source) is within `watch_band` of an active strategy's threshold, nearest first, up to
`max_assets` tokens. `run` keeps the connections and evaluates each debounced batch of changes:
the changed markets, with their streamed siblings of the same event (so "best per event" compares
what it can see), on their live local books, through the poll's own evaluation step
(evaluation.py) under the store's trade lock (trade_guard.py). A market whose two books are not
both trusted on a live connection is left to the poll, as is one the poll is settling. A
`market_resolved` frame runs the poll's settlement check of that market at once.

Counters go to /metrics (`prescientd_stream_*`), each stream trade's signal-to-trade latency to a
histogram, and a `stream_summary` log line every minute; connections log their own connect and
disconnect lines, and nothing is logged per message.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Protocol

import aiohttp
import structlog

from prescientd.config import StreamConfig
from prescientd.core import accounts, filters, prices
from prescientd.core.watch import WatchRule, WatchSet, select_watch_rules
from prescientd.evaluation import STREAM, trade_step
from prescientd.jobs import JobContext, settle_positions
from prescientd.mirrors.build import Mirror
from prescientd.models import (
    STREAM_RUN_PREFIX,
    Book,
    JobOutcome,
    Market,
    Portfolio,
    Quote,
    Settlement,
    Trade,
    Valuation,
)
from prescientd.observe import JobObserver, PricesPolled
from prescientd.polymarket.stream import MarketStream

log = structlog.get_logger(__name__)

SUMMARY_EVERY_S: Final = 60.0
CHANGE_WAIT_S: Final = 1.0  # a stop is noticed within this while the stream is quiet
FAILURE_LOG_EVERY_S: Final = 10.0  # a failing evaluation is logged at most this often
MAX_SUMMARY_LATENCIES: Final = 10_000


@dataclass(frozen=True, slots=True)
class WatchedMarkets:
    """The streamed markets the stream can evaluate: by id and token, eligible ones by event."""

    markets: Mapping[str, Market] = field(default_factory=dict)
    market_of: Mapping[str, str] = field(default_factory=dict)  # token -> market id
    eligible: frozenset[str] = frozenset()
    by_event: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, watch: WatchSet, markets: Iterable[Market], eligible: Collection[str]
    ) -> WatchedMarkets:
        """The binary markets of the watch set (held or eligible)."""
        by_token = {t: m for m in markets if filters.is_binary(m) for t in m.token_ids}
        chosen = {
            by_token[g[0]].market_id: by_token[g[0]] for g in watch.groups if g[0] in by_token
        }
        events: dict[str, list[str]] = {}
        for market_id, market in chosen.items():
            if market_id in eligible:
                events.setdefault(market.event_id, []).append(market_id)
        return cls(
            chosen,
            {t: m.market_id for m in chosen.values() for t in m.token_ids},
            frozenset(m for m in chosen if m in eligible),
            {event: tuple(ids) for event, ids in events.items()},
        )


@dataclass(slots=True)
class StreamCounts:
    """What the streaming task did since start (the client's own counters are separate)."""

    evaluations: int = 0
    markets_evaluated: int = 0
    untrusted_skips: int = 0  # a changed market with a book not trusted on a live connection
    settling_skips: int = 0  # a changed market the poll was settling
    trades: int = 0
    evaluation_failures: int = 0
    settlement_checks: int = 0
    watch_refreshes: int = 0


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What one stream evaluation decides on: the markets with trusted books, quotes, books."""

    eligible: list[Market]
    markets: dict[str, Market]
    quotes: dict[str, Quote]
    books: dict[str, Book]


class _TradeRecorder:
    """The job observer of one stream evaluation: forwards every report, notes each trade with
    the time its commit was reported (the end of its signal-to-trade latency)."""

    def __init__(self, inner: JobObserver, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self.trades: list[tuple[Trade, float]] = []

    def job_finished(self, outcome: JobOutcome, duration_s: float) -> None:
        """Forward."""
        self._inner.job_finished(outcome, duration_s)

    def paper_traded(self, trade: Trade) -> None:
        """Note the trade and its commit time; forward."""
        self.trades.append((trade, self._clock()))
        self._inner.paper_traded(trade)

    def position_settled(self, settlement: Settlement, question: str) -> None:
        """Forward."""
        self._inner.position_settled(settlement, question)

    def prices_polled(self, polled: PricesPolled) -> None:
        """Forward."""
        self._inner.prices_polled(polled)

    def portfolio_valued(
        self, strategy: str, portfolio: Portfolio, valuation: Valuation, at: datetime
    ) -> None:
        """Forward."""
        self._inner.portfolio_valued(strategy, portfolio, valuation, at)


class StreamMetrics(Protocol):
    """Where the streamer's figures go (the daemon's /metrics)."""

    def observe_stream_latency(self, seconds: float) -> None:
        """One trade's signal-to-trade latency."""
        ...

    def add_stats(self, prefix: str, stats: Callable[[], Mapping[str, float]]) -> None:
        """Export stats() as prescientd_<prefix>_*."""
        ...


class Streamer:
    """The streaming task of one daemon run: watch refresh, evaluation loop, counters."""

    def __init__(
        self,
        stream: MarketStream,
        context: Callable[[], JobContext],
        *,
        enabled: bool,
        on_latency: Callable[[float], None] = lambda _s: None,
    ) -> None:
        self.stream = stream
        self.enabled = enabled  # restart-only: the task runs only when the daemon started with it
        self.counts = StreamCounts()
        self.watched = WatchedMarkets()
        self._context = context
        self._on_latency = on_latency
        self._latencies: list[float] = []
        self._failure_logged_at = -FAILURE_LOG_EVERY_S
        self._failures_unlogged = 0
        self._summary_at = 0.0
        self._summarised: dict[str, int] = {}

    @classmethod
    def open(
        cls,
        http: aiohttp.ClientSession,
        config: StreamConfig,
        context: Callable[[], JobContext],
        metrics: StreamMetrics,
    ) -> Streamer:
        """The daemon's streamer on its HTTP session, its counters and latencies in metrics.

        `enabled`, `ws_url` and `assets_per_connection` are restart-only (reload.py).
        """
        stream = MarketStream(http, config)
        streamer = cls(
            stream, context, enabled=config.enabled, on_latency=metrics.observe_stream_latency
        )
        metrics.add_stats("stream", streamer.stats)
        return streamer

    # -- the watch set ---------------------------------------------------------------------------

    async def refresh(self, ctx: JobContext) -> None:
        """Pick the watch set again (after a poll or a reload); on any error keep the old one."""
        self.stream.configure(ctx.config.stream)
        if not self.enabled:
            return
        try:
            watch, candidates, eligible = await self._select(ctx)
        except Exception as exc:  # noqa: BLE001 - the poll that asked must not fail for this
            log.warning("stream_watch_failed", error=f"{type(exc).__name__}: {exc}")
            return
        before = set(self.watched.market_of)
        self.stream.set_watch(watch.groups)
        self.watched = WatchedMarkets.of(watch, candidates, eligible)
        self.counts.watch_refreshes += 1
        now_watched = set(watch.tokens)
        if now_watched != before:
            log.info(
                "stream_watch",
                tokens=len(now_watched),
                held_markets=watch.held_markets,
                near_markets=watch.near_markets,
                dropped_markets=watch.dropped_markets,
                added=len(now_watched - before),
                removed=len(before - now_watched),
            )

    async def _select(self, ctx: JobContext) -> tuple[WatchSet, list[Market], set[str]]:
        """The watch set from the stored portfolios, eligible set and latest polled quotes."""
        cfg = ctx.config
        portfolios = await ctx.portfolio.read_all()
        tracked = await ctx.portfolio.tracked(*portfolios.values())
        eligible = [m for m in tracked.eligible if filters.is_binary(m) and filters.is_tradable(m)]
        held = [m for m in tracked.held if filters.is_binary(m)]
        held_tokens = {p.token_id for pf in portfolios.values() for p in pf.positions.values()}
        wanted = {m.yes_token_id for m in eligible} | {t for m in held for t in m.token_ids}
        rows = await ctx.store.latest_quotes(wanted)
        # a held market whose REST book vanished (resolution proposed) has nothing to stream
        vanished = {
            t
            for m in held
            if any(rows[t].status == "missing" for t in m.token_ids if t in rows)
            for t in m.token_ids
        }
        quotes = {t: r.quote for t, r in rows.items() if r.status == "ok"}
        rules = [WatchRule(s.rule.threshold, s.rule.price_source) for s in cfg.strategy_specs()]
        candidates = [m for m in [*held, *eligible] if not vanished.intersection(m.token_ids)]
        watch = select_watch_rules(
            held_tokens - vanished,
            candidates,
            quotes,
            rules,
            watch_band=cfg.stream.watch_band,
            max_assets=cfg.stream.max_assets,
        )
        return watch, candidates, {m.market_id for m in eligible}

    # -- the task --------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the stream and evaluate its changes until stop is set."""
        streaming = asyncio.create_task(self.stream.run(stop), name="market-stream")
        self._summary_at = self.stream.monotonic() + SUMMARY_EVERY_S
        self._summarised = self._totals()
        try:
            while not stop.is_set() and not streaming.done():
                changes = await self.stream.next_changes(timeout_s=CHANGE_WAIT_S)
                if changes.tokens:
                    await self._evaluate(changes.tokens, changes.received_at)
                if changes.resolved:
                    await self._settle_resolved(changes.resolved)
                self._summarise()
        finally:
            streaming.cancel()
            await asyncio.gather(streaming, return_exceptions=True)
        if streaming.done() and not streaming.cancelled() and streaming.exception() is not None:
            raise RuntimeError("the market stream stopped") from streaming.exception()

    async def _evaluate(self, tokens: Collection[str], received_at: Mapping[str, float]) -> None:
        """Evaluate the changed markets on their live books; record, time and publish trades."""
        watched = self.watched
        changed = {watched.market_of[t] for t in tokens if t in watched.market_of}
        if not changed:
            return
        base = self._context()
        recorder = _TradeRecorder(base.observer, self.stream.monotonic)
        run_id = f"{STREAM_RUN_PREFIX}{uuid.uuid4().hex[:12]}"
        ctx = replace(base, run_id=run_id, observer=recorder)
        try:
            # reads wait while the lock is held (a few ms): the books stay as read, and the
            # commit's round trips to SQLite do not queue behind thousands of frames
            async with ctx.trade_guard.lock:
                with self.stream.reads_held():
                    await self._evaluate_locked(ctx, watched, changed)
        except Exception as exc:  # noqa: BLE001 - one evaluation's failure; the poll retries it
            self._failed("stream_evaluation_failed", exc)
        if recorder.trades:
            self.counts.trades += len(recorder.trades)
            start = min(received_at.values(), default=None)
            for trade, committed_at in recorder.trades:
                market = watched.markets.get(trade.market_id)
                tokens_of = market.token_ids if market is not None else ()
                # a sibling traded on its event's change: from the batch's first change
                begun = min((received_at[t] for t in tokens_of if t in received_at), default=start)
                if begun is not None:
                    self._latency(committed_at - begun)
            await ctx.publish({Mirror.PORTFOLIO})

    async def _evaluate_locked(
        self, ctx: JobContext, watched: WatchedMarkets, changed: set[str]
    ) -> None:
        """Read the portfolios and the live books of the changed markets, then trade_step."""
        now = ctx.clock.now()  # the books are read now, inside the lock
        portfolios = await ctx.portfolio.read_all()
        inputs = self._inputs(ctx, watched, changed, portfolios, now)
        if inputs.markets:
            chosen = (inputs.eligible, inputs.markets, inputs.quotes, inputs.books)
            await trade_step(ctx, *chosen, now, source=STREAM)
            self.counts.evaluations += 1
            self.counts.markets_evaluated += len(inputs.markets)

    def _inputs(
        self,
        ctx: JobContext,
        watched: WatchedMarkets,
        changed: set[str],
        portfolios: Mapping[str, Portfolio],
        now: datetime,
    ) -> _Inputs:
        """Quotes and books of the changed markets and their streamed event siblings that could
        trade (accounts.may_act), from trusted local books only; a book's quote is as old as
        its connection's last frame."""
        chosen = set(changed)
        for market_id in changed:
            chosen.update(watched.by_event.get(watched.markets[market_id].event_id, ()))
        heard_now = self.stream.monotonic()
        out = _Inputs([], {}, {}, {})

        def read(market_id: str, token: str) -> bool:
            found = self.stream.book_at(token)
            if found is None:  # half-built, stale or not live: the poll will see it
                self.counts.untrusted_skips += market_id in changed
                return False
            book, heard_at = found
            fetched_at = now - timedelta(seconds=max(0.0, heard_now - heard_at))
            out.quotes[token] = prices.quote_from_book(book, fetched_at, ctx.config.prices)
            out.books[token] = book
            return True

        priced = []
        for market_id in sorted(chosen):
            market = watched.markets[market_id]
            if ctx.trade_guard.settling(market_id):
                self.counts.settling_skips += market_id in changed
            elif read(market_id, market.yes_token_id):
                priced.append(market)
        specs = ctx.config.strategy_specs()
        for market in accounts.may_act(priced, out.quotes, specs, portfolios):
            yes, no = market.token_ids
            if read(market.market_id, no):
                out.quotes[no] = prices.complement_display(out.quotes[yes], out.quotes[no])
                out.markets[market.market_id] = market
                if market.market_id in watched.eligible:
                    out.eligible.append(market)
        kept = {t for m in out.markets.values() for t in m.token_ids}
        return _Inputs(
            out.eligible,
            out.markets,
            {t: q for t, q in out.quotes.items() if t in kept},
            {t: b for t, b in out.books.items() if t in kept},
        )

    async def _settle_resolved(self, condition_ids: Collection[str]) -> None:
        """Run the poll's settlement check now for held markets announced resolved."""
        base = self._context()
        guard = base.trade_guard
        targets = [
            m
            for m in self.watched.markets.values()
            if m.condition_id in condition_ids and not guard.settling(m.market_id)
        ]
        if not targets:
            return
        ctx = replace(base, run_id=f"{STREAM_RUN_PREFIX}{uuid.uuid4().hex[:12]}")
        settled = 0
        try:
            async with guard.settlement(m.market_id for m in targets) as portfolios:
                held = accounts.held_markets(portfolios.values())
                mine = [m for m in targets if m.market_id in held]
                if mine:
                    self.counts.settlement_checks += len(mine)
                    settled, _ = await settle_positions(ctx, portfolios, mine)
        except Exception as exc:  # noqa: BLE001 - the next poll checks these markets again
            self._failed("stream_settlement_failed", exc)
        if settled:
            await ctx.publish({Mirror.PORTFOLIO})

    # -- reporting -------------------------------------------------------------------------------

    def _latency(self, seconds: float) -> None:
        self._on_latency(seconds)
        if len(self._latencies) < MAX_SUMMARY_LATENCIES:
            self._latencies.append(seconds)

    def _failed(self, event: str, exc: Exception) -> None:
        """Count a failure; log it at most every FAILURE_LOG_EVERY_S (with the ones not logged)."""
        self.counts.evaluation_failures += 1
        now = self.stream.monotonic()
        if now - self._failure_logged_at < FAILURE_LOG_EVERY_S:
            self._failures_unlogged += 1
            return
        log.error(event, error=f"{type(exc).__name__}: {exc}", not_logged=self._failures_unlogged)
        self._failure_logged_at = now
        self._failures_unlogged = 0

    def _totals(self) -> dict[str, int]:
        return {**self.stream.status().counters, **asdict(self.counts)}

    def _summarise(self) -> None:
        """Every SUMMARY_EVERY_S: one line with the gauges and what happened since the last."""
        now = self.stream.monotonic()
        if now < self._summary_at:
            return
        elapsed_s = now - self._summary_at + SUMMARY_EVERY_S
        self._summary_at = now + SUMMARY_EVERY_S
        status = self.stream.status()
        totals = self._totals()
        delta = {k: v - self._summarised.get(k, 0) for k, v in totals.items()}
        self._summarised = totals
        latencies = sorted(self._latencies)
        self._latencies = []
        log.info(
            "stream_summary",
            connections=status.connections,
            watched=status.watched,
            trusted=status.trusted,
            stale=status.stale,
            poll_only=status.poll_only,
            messages=delta["messages"],
            messages_per_s=round(delta["messages"] / elapsed_s, 1),
            reconnects=delta["reconnects"],
            malformed=delta["malformed"],
            evaluations=delta["evaluations"],
            untrusted_skips=delta["untrusted_skips"],
            trades=delta["trades"],
            latency_p50_s=round(latencies[len(latencies) // 2], 4) if latencies else None,
            latency_max_s=round(latencies[-1], 4) if latencies else None,
        )

    def stats(self) -> dict[str, float]:
        """The gauges and counters of /metrics (prescientd_stream_*)."""
        status = self.stream.status()
        gauges = {
            "enabled": int(self.enabled),
            "running": int(status.running),
            "poll_only": int(status.poll_only),
            "connections": status.connections,
            "watched_tokens": status.watched,
            "trusted_books": status.trusted,
            "stale_books": status.stale,
        }
        counters = {f"{k}_total": v for k, v in self._totals().items()}
        return {**gauges, **counters}
