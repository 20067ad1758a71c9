"""The jobs: morning refresh, price poll (with strategy, paper fills and settlement) and evening.

Each job reads like a short script: fetch at the edge, decide in the core, write to the store in
one transaction, then ask for the mirrors to be rebuilt. `run_job` wraps any of them with the
run id, the one summary log line and the job-runs ledger row.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog

from prescientd import joblog, learn
from prescientd.clock import Clock, iso_utc
from prescientd.config import Config
from prescientd.core import accounts, filters, ledger, prices, resolution_watch
from prescientd.core.schedule import local_instant
from prescientd.evaluation import trade_step
from prescientd.mirrors.build import Mirror, MirrorBuilder
from prescientd.models import (
    DEFAULT_STRATEGY,
    JOB_CANCELLED_ERROR,
    JobOutcome,
    Market,
    Portfolio,
    Quote,
    Settlement,
)
from prescientd.observe import NO_OBSERVER, JobObserver, PricesPolled
from prescientd.polymarket.clob import BooksFetch, ClobClient
from prescientd.polymarket.gamma import GammaClient
from prescientd.polymarket.http import FetchError
from prescientd.polymarket.jsonsafe import ItemError, RecordMismatch
from prescientd.portfolio import PortfolioService
from prescientd.redact import redact_text
from prescientd.store import retention
from prescientd.store.bars import Retained
from prescientd.store.db import Store
from prescientd.trade_guard import TradeGuard

log = structlog.get_logger(__name__)

JOBS = ("morning", "poll", "evening")
MAX_IDS_LOGGED = 50  # ids on one debug line at most


class JobFailed(Exception):
    """A job could not complete; the message is the one line an operator needs."""


@dataclass
class JobContext:
    """Everything a job needs; built by the composition root (daemon or CLI).

    `run_id` names one run: `run_job` gives each run its own copy of the context with a new one.
    `observer` is told what the jobs did (the daemon's live events and metrics).
    `plan_next` tells the `job_finished` line of a failed run when it runs again (the daemon's
    schedule; None: nothing retries it, as in `prescientd once`).
    """

    config: Config
    config_version: int
    store: Store
    gamma: GammaClient
    clob: ClobClient
    clock: Clock
    publish: Callable[[set[Mirror]], Awaitable[None]]
    run_id: str = ""
    observer: JobObserver = NO_OBSERVER
    plan_next: Callable[[JobOutcome], datetime | None] | None = None
    # Held around the one write that swaps the eligible set in: the daemon lets polls run while a
    # morning fetches and gives the morning its job lock only for the swap (nothing to hold when
    # jobs run one after another, as in `prescientd once`, or when the caller holds it already).
    exclusive: Callable[[], AbstractAsyncContextManager[Any]] = contextlib.nullcontext

    @property
    def portfolio(self) -> PortfolioService:
        """The store's portfolio service (its replay of the ledger is shared)."""
        return PortfolioService.of(self.store)

    @property
    def trade_guard(self) -> TradeGuard:
        """The store's trade lock, shared with the stream (see trade_guard.py)."""
        return TradeGuard.of(self.store)

    @property
    def mirrors(self) -> MirrorBuilder:
        """A mirror builder for the current config."""
        return MirrorBuilder(self.store, self.config)

    def local_date(self, now: datetime) -> str:
        """now's calendar date in the configured timezone."""
        return now.astimezone(self.config.tz).date().isoformat()


Counts = dict[str, Any]


async def run_job(
    name: str, ctx: JobContext, body: Callable[[JobContext], Awaitable[Counts]]
) -> JobOutcome:
    """Run one job with a new run id in its context and on every log line; record and log it."""
    run_id = uuid.uuid4().hex[:12]
    ctx = replace(ctx, run_id=run_id)
    started = ctx.clock.now()
    t0 = ctx.clock.monotonic()
    counts: Counts = {}
    error: str | None = None
    with (
        structlog.contextvars.bound_contextvars(job=name, run_id=run_id),
        joblog.tallying() as tally,
    ):
        try:
            counts = await body(ctx)
        except (JobFailed, FetchError) as exc:
            error = str(exc)
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, I/O error
            error = f"database: {exc}"
        except asyncio.CancelledError:
            # shielded: the record of a job cut short at shutdown must still be written
            await asyncio.shield(
                _finish(ctx, name, started, t0, {**counts, **tally}, JOB_CANCELLED_ERROR)
            )
            raise
        except Exception as exc:  # the one broad except: the job boundary
            log.exception("job_crashed")
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:  # stored and printed: one line, no credentials
            error = redact_text(" ".join(error.split()))
        return await _finish(ctx, name, started, t0, {**counts, **tally}, error)


async def _finish(
    ctx: JobContext,
    name: str,
    started: datetime,
    t0: float,
    counts: Counts,
    error: str | None,
) -> JobOutcome:
    outcome = await _record(ctx, name, started, counts, error)
    next_at = None
    if error is not None and error != JOB_CANCELLED_ERROR and ctx.plan_next is not None:
        next_at = ctx.plan_next(outcome)
    # duration in real seconds whatever the clock (the demo's runs faster)
    duration_s = ctx.clock.real_seconds(ctx.clock.monotonic() - t0)
    joblog.log_job_finished(outcome, duration_s=duration_s, next_attempt_at=next_at)
    ctx.observer.job_finished(outcome, duration_s)
    return outcome


async def _record(
    ctx: JobContext, name: str, started: datetime, counts: Counts, error: str | None
) -> JobOutcome:
    finished = ctx.clock.now()
    outcome = JobOutcome(
        run_id=ctx.run_id,
        job=name,
        local_date=ctx.local_date(started),
        started_at=started,
        finished_at=finished,
        ok=error is None,
        config_version=ctx.config_version,
        counts=counts,
        error=error,
    )
    try:
        await ctx.store.record_job_run(outcome)
    except Exception as exc:  # noqa: BLE001 - recording must not hide the job's own outcome
        log.error("job_run_not_recorded", error=" ".join(f"{type(exc).__name__}: {exc}".split()))
    return outcome


# ----------------------------------------------------------------------------------------------
# morning
async def morning(ctx: JobContext) -> Counts:
    """Fetch events page by page into the filter and the raw backup, then swap the eligible set.

    Nothing universe-sized is held: each page is judged (only eligible markets are kept, at most
    2 x max_markets) and appended to the compressed raw payload staged in SQLite, then dropped.
    The fetch runs without the job lock (polls keep going on the previous eligible set); the
    refresh is one transaction under ctx.exclusive(), so a poll sees the old set or the new one.
    """
    now = ctx.clock.now()
    collector = filters.EligibleCollector(ctx.config.filters, now)
    backup = ctx.store.raw_payload_writer() if ctx.config.mirrors.raw_events_backup else None
    if backup is not None:
        await backup.start()

    async def on_page(events: list[Any], raw_events: list[dict[str, Any]]) -> None:
        collector.add(events)
        if backup is not None:
            await backup.add(raw_events)

    fetch = await ctx.gamma.stream_events({"closed": "false"}, on_page)
    result = collector.result()
    raw = await backup.finish() if backup is not None else None
    rejections = {**{f"item_{k}": v for k, v in fetch.skipped.items()}, **result.rejections}
    async with ctx.exclusive():
        await ctx.store.save_refresh(
            run_id=ctx.run_id,
            fetched_at=now,
            pages=fetch.pages,
            events_received=fetch.items,
            eligible_events=result.events,
            items_skipped=fetch.skipped_total,
            rejections=rejections,
            raw_payload=raw,
        )
    await ctx.publish({Mirror.EVENTS, Mirror.PRICES})
    return {
        "pages": fetch.pages,
        "events_received": fetch.items,
        "items_skipped": fetch.skipped_total,
        "events_eligible": len(result.events),
        "markets_eligible": len(result.markets),
        "raw_bytes": raw.raw_bytes if raw is not None else 0,
    }


# ----------------------------------------------------------------------------------------------
# poll
async def poll(ctx: JobContext) -> Counts:
    """Fetch books, store prices, settle resolved positions, evaluate every strategy, trade."""
    portfolios = await _open_accounts(ctx)
    tracked = await ctx.portfolio.tracked(*portfolios.values())
    by_id = tracked.by_id()
    tokens = sorted({t for m in by_id.values() if filters.is_binary(m) for t in m.token_ids})
    counts: Counts = {"markets": len(by_id), "tokens": len(tokens)}
    if not tokens:
        log.warning(
            "poll_nothing_tracked", hint="the morning job has not found eligible markets yet"
        )
        await ctx.publish({Mirror.PRICES, Mirror.PORTFOLIO, Mirror.SIGNALS})
        return counts

    # Settlement first, from Gamma: it needs no book (a resolved market's book is gone), it still
    # happens when the CLOB is down, and a resolved position frees its cash before new trades.
    # The stream leaves the held markets alone meanwhile (trade_guard.py).
    async with ctx.trade_guard.settlement(m.market_id for m in tracked.held) as portfolios:
        settled, resolving = await settle_positions(ctx, portfolios, tracked.held)
    counts.update(settled=settled, settlement_pending=len(resolving.pending))
    if settled:
        await ctx.publish({Mirror.PORTFOLIO})

    books_fetch, quotes = await _fetch_and_store_prices(ctx, by_id.values(), tokens, counts)
    vanished = sorted(
        m.market_id for m in tracked.held if any(t in books_fetch.missing for t in m.token_ids)
    )
    # a held book that vanished is what a resolution does first: checked at every poll from now,
    # and at once when it was not checked above (not due), so it may settle in this very poll
    ResolutionWatch.of(ctx.store).vanished = set(vanished)
    unchecked = [
        m for m in tracked.held if m.market_id in vanished and m.market_id not in resolving.checked
    ]
    if unchecked:
        async with ctx.trade_guard.settlement(m.market_id for m in unchecked) as portfolios:
            more, also = await settle_positions(ctx, portfolios, unchecked)
        resolving = resolving.merged(also)
        settled += more
        counts.update(settled=settled, settlement_pending=len(resolving.pending))
        if more:
            await ctx.publish({Mirror.PORTFOLIO})
    if vanished:
        # valued at the last known price, flagged; awaiting or past resolution that is the
        # market's lifecycle, otherwise the poll is degraded (joblog.DEGRADING); ids at debug
        counts["held_books_missing"] = sum(1 for m in vanished if m not in resolving.all)
        log.debug("held_book_vanished", count=len(vanished), markets=vanished[:MAX_IDS_LOGGED])

    async with ctx.trade_guard.lock:  # held only for read -> decide -> record, not the fetch
        now = ctx.clock.now()
        counts.update(
            await trade_step(ctx, tracked.eligible, by_id, quotes, books_fetch.books, now)
        )
    await _value_after_poll(ctx, counts)
    await ctx.publish({Mirror.PRICES, Mirror.SIGNALS, Mirror.PORTFOLIO})
    return counts


async def _value_after_poll(ctx: JobContext, counts: Counts) -> None:
    """Mark every strategy's portfolio at the prices just stored: the poll's equity points (kept
    with the job run, so each strategy's equity curve survives restarts) and the observer's
    figures for each strategy.

    The default account's equity and cash stay at the top level of the counts (`equity_usd`,
    `cash_usd`, as with one strategy); every other account's (retired ones included) are in
    `strategy_equity.NAME`. (`strategies` stays what the poll evaluated.)
    """
    now = ctx.clock.now()
    valued = await ctx.portfolio.valued_all(now, ctx.config.schedule.price_max_age_s)
    variants: dict[str, dict[str, str]] = {}
    for strategy, (portfolio, valuation) in valued.items():
        point = {"equity_usd": str(valuation.equity_usd), "cash_usd": str(valuation.cash_usd)}
        if strategy == DEFAULT_STRATEGY:
            counts.update(point)
        else:
            variants[strategy] = point
        ctx.observer.portfolio_valued(strategy, portfolio, valuation, now)
    if variants:
        counts["strategy_equity"] = variants


async def _open_accounts(ctx: JobContext) -> dict[str, Portfolio]:
    """Every strategy's portfolio, after opening an account (its deposit) for each active
    strategy that has none yet: a variant added by a reload trades from its first poll."""
    service = ctx.portfolio
    balances = {s.name: s.starting_balance_usd for s in ctx.config.strategy_specs()}
    missing = accounts.new_accounts(balances, await service.strategies())
    if missing:
        for name in await ctx.store.ensure_deposits(missing, ctx.clock.now()):
            log.info(
                "strategy_account_opened", strategy=name, starting_balance_usd=str(balances[name])
            )
    return await service.read_all()


async def _fetch_and_store_prices(
    ctx: JobContext, markets: Iterable[Market], tokens: Sequence[str], counts: Counts
) -> tuple[BooksFetch, dict[str, Quote]]:
    """Fetch the books of the tracked tokens, price them and record the poll."""
    fetched_at = ctx.clock.now()
    books_fetch = await ctx.clob.fetch_books(tokens)
    quotes = {
        token: prices.quote_from_book(book, fetched_at, ctx.config.prices)
        for token, book in books_fetch.books.items()
    }
    for market in markets:
        if filters.is_binary(market):
            yes, no = (quotes.get(t) for t in market.token_ids)
            if yes is not None and no is not None:
                quotes[no.token_id] = prices.complement_display(yes, no)
    snapshots = await ctx.store.record_poll(
        run_id=ctx.run_id,
        fetched_at=fetched_at,
        local_date=ctx.local_date(fetched_at),
        quotes=quotes,
        missing=books_fetch.missing,
        rejected=books_fetch.rejected_tokens,
        requests=books_fetch.requests,
        tokens_requested=len(tokens),
    )
    counts.update(
        books=len(books_fetch.books),
        missing=len(books_fetch.missing),
        rejected=len(books_fetch.rejected_tokens),
        requests=books_fetch.requests,
        snapshots=snapshots,
    )
    if books_fetch.missing:  # counted on job_finished (`missing`); the ids only at debug
        missing = sorted(books_fetch.missing)
        log.debug("books_missing", count=len(missing), tokens=missing[:MAX_IDS_LOGGED])
    ctx.observer.prices_polled(
        PricesPolled(
            fetched_at=fetched_at,
            tokens=len(tokens),
            books=len(books_fetch.books),
            missing=len(books_fetch.missing),
            rejected=len(books_fetch.rejected_tokens),
            snapshots=snapshots,
            requests=books_fetch.requests,
        )
    )
    return books_fetch, quotes


@dataclass(frozen=True)
class Resolving:
    """Held markets whose resolution a poll found: awaiting it, or resolved."""

    pending: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()
    checked: frozenset[str] = frozenset()  # every held market asked about in this poll

    @property
    def all(self) -> frozenset[str]:
        """Both: markets whose book may be gone as part of their resolution."""
        return self.pending | self.resolved

    def merged(self, other: Resolving) -> Resolving:
        """Both polls' findings together."""
        return Resolving(
            self.pending | other.pending,
            self.resolved | other.resolved,
            self.checked | other.checked,
        )


@dataclass
class ResolutionWatch:
    """When each held market was last checked on Gamma, and which held books just vanished.

    Kept in memory for the store's lifetime: after a restart every held market is checked once.
    """

    last_checked: dict[str, datetime] = field(default_factory=dict)
    vanished: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, store: Store) -> ResolutionWatch:
        """The watch of this store (shared by its polls)."""
        return store.attachment(cls, lambda _: cls())


async def settle_positions(
    ctx: JobContext, portfolios: Mapping[str, Portfolio], held: Sequence[Market]
) -> tuple[int, Resolving]:
    """Check the held markets whose resolution may have moved (batched on Gamma, then the CLOB
    where Gamma says closed or resolving); from each verdict, settle every strategy holding that
    market (active or retired).

    Returns how many positions settled and which held markets are resolving or resolved."""
    if not held:
        return 0, Resolving()
    watch = ResolutionWatch.of(ctx.store)
    checked_at = ctx.clock.now()
    due = resolution_watch.due_for_check(
        held, watch.last_checked, watch.vanished, checked_at, ctx.config.schedule.settlement_sweep_s
    )
    results = await _check_resolutions(ctx, due, watch, checked_at)
    now = ctx.clock.now()
    # only the markets whose lifecycle changed are written (and patched into the cached set)
    stored = {m.market_id: m for m in held}
    await ctx.store.update_markets(
        [merged for merged, _ in results if merged != stored.get(merged.market_id)], now
    )
    intents = []
    pending: set[str] = set()
    resolved: set[str] = set()
    for merged, verdict in results:
        if verdict.status == "resolved":
            resolved.add(merged.market_id)
            intents += accounts.settlement_intents(portfolios.values(), verdict, merged.market_id)
        elif verdict.status == "pending":  # counted on job_finished; which and why at debug
            pending.add(merged.market_id)
            log.debug("settlement_pending", market_id=merged.market_id, reason=verdict.reason)
    settlements = await ctx.store.record_settlements(intents, now)
    markets = {merged.market_id: merged for merged, _ in results}
    _log_settlements(settlements, markets)
    for settlement in settlements:
        ctx.observer.position_settled(settlement, markets[settlement.market_id].question)
    checked = frozenset(m.market_id for m in due)
    return len(settlements), Resolving(frozenset(pending), frozenset(resolved), checked)


async def _check_resolutions(
    ctx: JobContext, due: Sequence[Market], watch: ResolutionWatch, checked_at: datetime
) -> list[tuple[Market, ledger.ResolutionCheck]]:
    """Gamma's record of each due market (one request per 100), cross-checked with the CLOB."""
    if not due:
        return []
    # only the record of this very market (id, condition, tokens) may settle it
    fetched = await ctx.gamma.fetch_markets_by_id(due)
    # on the job_finished line: how many held markets were asked about, in how many requests
    joblog.tally("settlement_checked", len(due))
    joblog.tally("settlement_requests", fetched.requests)
    log.debug(
        "settlement_checks",
        due=len(due),
        found=len(fetched.found),
        rejected=len(fetched.problems),
        requests=fetched.requests,
    )
    if fetched.problems:  # one market's failed check must not stop the others; it stays due
        first = min(fetched.problems)
        joblog.tally("settlement_checks_failed", len(fetched.problems))
        log.warning(
            "settlement_checks_failed",
            count=len(fetched.problems),
            first_error=fetched.problems[first],
            first_market_id=first,
        )
        for market_id, problem in sorted(fetched.problems.items()):
            log.debug("settlement_check_failed", market_id=market_id, error=problem)

    async def check(market: Market, fresh: Market) -> tuple[Market, ledger.ResolutionCheck]:
        merged = _with_lifecycle(market, fresh)
        clob = None
        if merged.closed or merged.uma_resolution_status:
            try:
                clob = await ctx.clob.fetch_market(merged.condition_id, token_ids=market.token_ids)
            except (FetchError, ItemError) as exc:
                log.warning("clob_market_check_failed", market_id=market.market_id, error=str(exc))
                if isinstance(exc, RecordMismatch):  # not "CLOB down": never settle past it
                    return merged, ledger.ResolutionCheck("pending", {}, f"CLOB {exc}")
        return merged, ledger.resolve(merged, clob)

    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(check(m, fetched.found[m.market_id]))
            for m in due
            if m.market_id in fetched.found
        ]
    for market in due:  # a failed or rejected check stays due; an unknown market waits its turn
        if market.market_id not in fetched.problems:
            watch.last_checked[market.market_id] = checked_at
    return [t.result() for t in tasks]


def _log_settlements(settlements: Iterable[Settlement], markets: Mapping[str, Market]) -> None:
    for s in settlements:
        market = markets.get(s.market_id)
        log.info(
            "position_settled",
            strategy=s.strategy,
            market_id=s.market_id,
            question=market.question if market is not None else None,
            outcome=s.outcome,
            shares=str(s.shares),
            payout_usd=str(s.payout_usd),
            realized_pnl_usd=str(s.realized_pnl_usd),
            resolution=s.resolution,
        )


def _with_lifecycle(market: Market, fresh: Market) -> Market:
    """The stored market with the lifecycle fields of a fresh GET /markets/{id} record.

    That record lacks the event and the volume figures of the morning's copy: those are kept.
    """
    return replace(
        market,
        active=fresh.active,
        closed=fresh.closed,
        accepting_orders=fresh.accepting_orders,
        enable_order_book=fresh.enable_order_book,
        uma_resolution_status=fresh.uma_resolution_status,
        uma_resolution_statuses=fresh.uma_resolution_statuses,
        outcome_prices=fresh.outcome_prices,
    )


# ----------------------------------------------------------------------------------------------
# evening
async def evening(ctx: JobContext) -> Counts:
    """Daily prices, every strategy's portfolio snapshot, the month's signal archive, the
    resolutions of tracked markets nobody held (learn.py) and the analytics report's files."""
    now = ctx.clock.now()
    builder = ctx.mirrors
    today = now.astimezone(ctx.config.tz).date()
    valued = await ctx.portfolio.valued_all(now, ctx.config.schedule.price_max_age_s)
    snaps = [
        ledger.snapshot(portfolio, valuation, today.isoformat(), now)
        for portfolio, valuation in valued.values()
    ]
    added = await ctx.store.append_portfolio_snapshots(snaps)
    if added < len(snaps):
        log.info("portfolio_snapshot_exists", date=today.isoformat())
    for strategy, (portfolio, valuation) in valued.items():
        ctx.observer.portfolio_valued(strategy, portfolio, valuation, now)
    ok = await builder.write_daily_prices(today)
    retained = await retain_price_history(ctx, today)
    # the previous month's file too: signals after its last evening belong to it
    last_month = today.replace(day=1) - timedelta(days=1)
    if last_month.strftime("%Y-%m") in await ctx.store.signal_months():
        ok = await builder.write_signals_archive(last_month.strftime("%Y-%m"), last_month) and ok
    ok = await builder.write_signals_archive(today.strftime("%Y-%m"), today) and ok
    learned = await learn.learn_resolutions(ctx, now)
    await ctx.publish({Mirror.HISTORY, Mirror.PORTFOLIO, Mirror.REPORT})
    if not ok:
        raise JobFailed("evening files could not be written (see mirror_write_failed)")
    counts: Counts = {"date": today.isoformat(), "snapshot_added": added > 0}
    if DEFAULT_STRATEGY in valued:
        _, default_valuation = valued[DEFAULT_STRATEGY]
        counts["equity_usd"] = str(default_valuation.equity_usd)
        counts["open_positions"] = len(default_valuation.positions)
    counts["taken_at"] = iso_utc(now)
    counts["snapshot_days_dropped"] = len(retained.dropped)
    counts.update(learned)
    if len(valued) > 1:
        counts["strategies"] = {
            name: {"equity_usd": str(v.equity_usd), "open_positions": len(v.positions)}
            for name, (_, v) in valued.items()
        }
    return counts


async def retain_price_history(ctx: JobContext, today: date) -> Retained:
    """Drop the snapshot partitions older than [record] keep_days (their bars stay)."""
    first_kept = retention.oldest_kept(today, ctx.config.record.keep_days)
    first_kept_at = local_instant(first_kept, time(0, 0), ctx.config.tz)
    retained = await ctx.store.retain_price_history(first_kept, first_kept_at)
    if retained.dropped:
        log.info(
            "price_history_retained",
            dropped=list(retained.dropped),
            freed_bytes=retained.freed_bytes,
            keep_days=ctx.config.record.keep_days,
        )
    if retained.kept_uncollapsed:  # never expected: bars are written with their snapshots
        log.error("price_history_not_collapsed", kept=list(retained.kept_uncollapsed))
    return retained


JOB_BODIES: dict[str, Callable[[JobContext], Awaitable[Counts]]] = {
    "morning": morning,
    "poll": poll,
    "evening": evening,
}
