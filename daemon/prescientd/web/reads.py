"""The daemon's ReadModel: every document of the web layer, read from SQLite as the mirrors are.

Each read goes through the same store reads, the same portfolio service and the same row builders
(`mirrors/rows.py`, `core/performance.py`) as the mirror files, and `status()` is the very
document `prescientd status --json` prints, so the API, the files and `status` agree. Nothing here
reads a mirror file.

Reads share the store's reader connection, whose lock is held for one query at a time, so a job
waits at most one short read. Lists that grow with history page in SQL (the ledger) or are kept
incrementally (the equity curves, one per strategy); lists that are rebuilt each poll (signals,
tracked markets) are cached until the store says they changed (a new evaluation id, poll, refresh
or ledger entry). Every list covers every strategy unless one is asked for; each row names its
`strategy`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from prescientd import liveness, reporting
from prescientd import status as status_report
from prescientd.clock import Clock, iso_utc
from prescientd.config import Config
from prescientd.core import accounts, performance
from prescientd.jobs import JOBS
from prescientd.mirrors import rows
from prescientd.mirrors.columns import EXPORT_BY_FILENAME
from prescientd.mirrors.files import render_table_csv
from prescientd.models import JOB_CANCELLED_ERROR, Market, Portfolio, PortfolioSnapshot, Valuation
from prescientd.observe import DEFAULT_STRATEGY
from prescientd.portfolio import PortfolioService
from prescientd.redact import redact_text
from prescientd.store.db import EvaluationRow, QuoteRow, Store, StoreError
from prescientd.vocabulary import number, plain, timestamp
from prescientd.web.contract import JsonObject, Listing, PageRequest, ReadUnavailable, TradeKind
from prescientd.web.equity import EquitySeries, merged_page

P = ParamSpec("P")
T = TypeVar("T")
EQUITY_CHUNK = 5000  # job-run rows per read while the curve catches up (the lock is freed between)
MarketsKey = tuple[Any, ...]
Evaluations = list[tuple[EvaluationRow, list[JsonObject]]]


def _available(
    fn: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A read the database refuses (locked past busy_timeout, I/O error) is answered 503."""

    @wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (sqlite3.OperationalError, StoreError) as exc:
            raise ReadUnavailable(" ".join(str(exc).split())) from exc

    return inner


def _ordered(items: list[T], page: PageRequest) -> list[T]:
    """items (in ascending natural order) as the page asks: reversed for desc, then sliced."""
    if page.order == "desc":
        items = items[::-1]
    return items[page.offset : page.offset + page.limit]


def _market_key(market: Market) -> tuple[int, str]:
    return len(market.market_id), market.market_id  # numeric ids in numeric order


class StoreReads:
    """ReadModel over the daemon's store (see web/contract.py for each document).

    :param get_config: the running config (a reload swaps it; the next read sees it).
    :param started_at: when the daemon started (no poll yet is no problem before max age).
    :param watchdog_problems: the daemon's stalled loops, one line each.
    """

    def __init__(
        self,
        store: Store,
        get_config: Callable[[], Config],
        clock: Clock,
        *,
        started_at: datetime,
        watchdog_problems: Callable[[], list[str]] = list,
    ) -> None:
        self._store = store
        self._get_config = get_config
        self._clock = clock
        self._started_at = started_at
        self._watchdog_problems = watchdog_problems
        self._portfolio = PortfolioService.of(store)
        self._status: asyncio.Task[JsonObject] | None = None
        self._equity: dict[str, EquitySeries] = {}
        self._equity_lock = asyncio.Lock()
        self._signals: tuple[int | None, Evaluations] | None = None
        self._markets: tuple[MarketsKey, dict[str, Market], dict[str, QuoteRow]] | None = None
        self._reports: dict[str | None, asyncio.Task[JsonObject]] = {}

    # -- documents -------------------------------------------------------------------------------
    @_available
    async def health(self) -> JsonObject:
        """ok, or degraded with stale prices, failed jobs and stalled loops named."""
        now = self._clock.now()
        max_age_s = self._get_config().schedule.price_max_age_s
        last_poll = await self._store.last_poll()
        runs = await self._store.last_job_runs()
        problems: list[str] = []
        age_s = (now - last_poll[0]).total_seconds() if last_poll else None
        if age_s is None:
            waited_s = (now - self._started_at).total_seconds()
            if waited_s > max_age_s:
                problems.append(
                    f"no price poll has completed in the {waited_s:.0f} s since start-up"
                    f" (limit {max_age_s:g} s)"
                )
        elif age_s > max_age_s:
            problems.append(
                f"prices are stale: last successful poll {age_s:.0f} s ago (limit {max_age_s:g} s)"
            )
        jobs: dict[str, JsonObject | None] = {}
        for job in JOBS:
            run = runs.get(job)
            if run is None:
                jobs[job] = None
                continue
            jobs[job] = {
                "outcome": "ok" if run.ok else "failed",
                "finished_at": iso_utc(run.finished_at),
                "age_s": round((now - run.finished_at).total_seconds(), 3),
            }
            if not run.ok and run.error != JOB_CANCELLED_ERROR:
                problems.append(f"last {job} run failed: {redact_text(run.error or '')}")
        problems += self._watchdog_problems()
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "checked_at": iso_utc(now),
            "last_poll_at": timestamp(last_poll[0] if last_poll else None),
            "prices_age_s": None if age_s is None else round(age_s, 3),
            "max_price_age_s": max_age_s,
            "jobs": jobs,
        }

    @_available
    async def status(self) -> JsonObject:
        """`prescientd status --json`; concurrent requests share one collection."""
        if self._status is None or self._status.done():
            self._status = asyncio.ensure_future(self._collect_status())
        return await asyncio.shield(self._status)

    @_available
    async def report(self, strategy: str | None = None) -> JsonObject:
        """`prescientd report --json` (reporting.report_document with the daemon's store);
        concurrent requests for the same strategy share one build."""
        task = self._reports.get(strategy)
        if task is None or task.done():
            task = asyncio.ensure_future(self._build_report(strategy))
            self._reports[strategy] = task
        return await asyncio.shield(task)

    async def _build_report(self, strategy: str | None) -> JsonObject:
        document = await reporting.report_document(
            self._store, self._get_config(), self._clock.now(), strategy
        )
        built: JsonObject = plain(document)
        return built

    async def _collect_status(self) -> JsonObject:
        # the one call site of the status document: the function `prescientd status` uses, here
        # with the daemon's own store (its portfolio service keeps the replay between requests)
        config = self._get_config()
        paths = status_report.writer_lock_paths(config.paths)
        probe = await asyncio.to_thread(liveness.probe_writer, paths)
        document = await status_report.status_document(
            self._store, config, self._clock.now(), probe
        )
        collected: JsonObject = plain(document)
        return collected

    # -- strategies ------------------------------------------------------------------------------
    @_available
    async def strategy_names(self) -> list[str]:
        """Every account (active or retired) and every strategy the config names."""
        active = [spec.name for spec in self._get_config().strategy_specs()]
        return accounts.ordered([*await self._portfolio.strategies(), *active])

    @_available
    async def strategies(self, page: PageRequest) -> Listing:
        """strategies.csv rows: the builder of the file and of `status`'s comparison."""
        rows_now = await status_report.strategy_rows(
            self._store, self._get_config(), self._clock.now()
        )
        return Listing(_ordered(rows_now, page), len(rows_now))

    async def _valued(self, strategy: str | None) -> dict[str, tuple[Portfolio, Valuation]]:
        """Every account (or the one asked for) and its mark to market now; an account the
        ledger does not hold yet (no deposit) is an empty one."""
        now = self._clock.now()
        max_age_s = self._get_config().schedule.price_max_age_s
        valued = await self._portfolio.valued_all(now, max_age_s)
        wanted = DEFAULT_STRATEGY if strategy is None else strategy
        if wanted not in valued:
            valued = {wanted: await self._portfolio.valued(now, max_age_s, wanted), **valued}
        return valued if strategy is None else {strategy: valued[strategy]}

    # -- documents (continued) -------------------------------------------------------------------
    @_available
    async def portfolio(self, strategy: str | None = None) -> JsonObject:
        """As trades/portfolio.json (the same document builder as the mirror); with a strategy,
        that account at the top level and alone in `strategies`."""
        now = self._clock.now()
        active = [spec.name for spec in self._get_config().strategy_specs()]
        valued = await self._valued(strategy)
        if strategy is None or strategy == DEFAULT_STRATEGY:  # the default account is in valued
            return rows.portfolio_document(now, valued, active)
        # portfolio_document's shape with the variant at the top level (the builder puts
        # "default" there)
        account = {
            **rows.portfolio_summary(*valued[strategy]),
            "status": accounts.status(strategy, active),
            "positions": [rows.position_row(mp, strategy) for mp in valued[strategy][1].positions],
        }
        top = {k: v for k, v in account.items() if k not in ("status", "positions")}
        return {
            "generated_at": timestamp(now),
            **top,
            "mark": "best_bid",
            "positions": account["positions"],
            "strategies": [account],
        }

    @_available
    async def trades_csv(self) -> bytes:
        """exports/trades_summary.csv, rendered now by the mirrors' CSV writer."""
        trades, settlements = await self._store.ledger()
        summary = rows.trade_summary_rows(trades, settlements)
        return render_table_csv(EXPORT_BY_FILENAME["trades_summary.csv"].columns, summary)

    # -- lists -----------------------------------------------------------------------------------
    @_available
    async def positions(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """positions_current.csv rows by opened_at (then strategy, market, token)."""
        valued = await self._valued(strategy)
        rank = {name: i for i, name in enumerate(valued)}
        items = sorted(
            (
                rows.position_row(mp, name)
                for name, (_, valuation) in valued.items()
                for mp in valuation.positions
            ),
            key=lambda r: (
                r["opened_at"] or "",
                rank[r["strategy"]],
                r["market_id"],
                r["token_id"],
            ),
        )
        return Listing(_ordered(items, page), len(items))

    @_available
    async def trades(
        self, page: PageRequest, kind: TradeKind | None, strategy: str | None = None
    ) -> Listing:
        """paper_trades.json entries by seq, paged in SQL."""
        kinds = ("trade", "settlement") if kind is None else (kind,)
        found = await self._store.ledger_page(
            kinds,
            limit=page.limit,
            offset=page.offset,
            newest_first=page.order == "desc",
            strategy=strategy,
        )
        entries = rows.ledger_entries(found.trades, found.settlements, found.levels)
        if page.order == "desc":
            entries.reverse()
        return Listing(entries, found.total)

    @_available
    async def trade(self, trade_id: int) -> JsonObject | None:
        """One paper_trades.json trade entry, or None."""
        found = await self._store.trade_by_id(trade_id)
        if found is None:
            return None
        trade, levels = found
        return rows.ledger_entries([trade], [], {trade.trade_id: levels})[0]

    @_available
    async def signals(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """current_signals.json: the latest poll's evaluations (of every strategy, or of one)."""
        latest_id = await self._store.latest_evaluation_id()
        if self._signals is None or self._signals[0] != latest_id:
            evaluations = await self._store.latest_evaluations()
            parsed = [(e, [rows.signal_row(s) for s in signals]) for e, signals in evaluations]
            self._signals = (latest_id, parsed)
        chosen = [(e, items) for e, items in self._signals[1] if strategy in (None, e.strategy)]
        items = [row for _, signal_rows in chosen for row in signal_rows]
        return Listing(_ordered(items, page), len(items), _signals_header(chosen))

    @_available
    async def markets(self, page: PageRequest) -> Listing:
        """markets_current.csv rows of the tracked markets, by market id."""
        markets, quotes = await self._tracked()
        now = self._clock.now()
        max_age_s = self._get_config().schedule.price_max_age_s
        chosen = _ordered(sorted(markets.values(), key=_market_key), page)
        items = [rows.market_current_row(m, quotes, now, max_age_s) for m in chosen]
        meta = {"generated_at": iso_utc(now), "max_price_age_s": max_age_s}
        return Listing(items, len(markets), meta)

    @_available
    async def market(self, market_id: str) -> JsonObject | None:
        """One tracked market's markets_current.csv row, or None."""
        markets, quotes = await self._tracked()
        found = markets.get(market_id)
        if found is None:
            return None
        max_age_s = self._get_config().schedule.price_max_age_s
        return rows.market_current_row(found, quotes, self._clock.now(), max_age_s)

    async def _tracked(self) -> tuple[dict[str, Market], dict[str, QuoteRow]]:
        """The tracked markets and their quotes; re-read when a poll, refresh or trade landed."""
        portfolio = await self._portfolio.read()
        last_poll = await self._store.last_poll()
        refresh = await self._store.latest_refresh()
        key = (last_poll, refresh.refresh_id if refresh else None, portfolio.last_seq)
        if self._markets is None or self._markets[0] != key:
            markets = (await self._portfolio.tracked(portfolio)).by_id()
            tokens = [t for m in markets.values() for t in m.token_ids]
            self._markets = (key, markets, await self._store.latest_quotes(tokens))
        return self._markets[1], self._markets[2]

    @_available
    async def equity(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """Each poll's valuation and each evening snapshot of every account (or of one), with
        drawdown, by time."""
        names = [n for n in await self._portfolio.strategies() if strategy in (None, n)]
        async with self._equity_lock:
            series = [await self._caught_up_equity(name) for name in names]
            items = merged_page(series, page.limit, page.offset, page.order == "desc")
            return Listing(items, sum(len(s) for s in series))

    async def _caught_up_equity(self, strategy: str) -> EquitySeries:
        series = self._equity.get(strategy)
        if series is None:
            balance = await self._store.starting_balance(strategy)
            series = self._equity[strategy] = EquitySeries(balance, strategy)
        snapshots = (await self._store.portfolio_snapshots(strategy))[series.snapshots_seen :]
        while True:
            polls = await self._store.poll_valuations(
                series.last_run_row_id, EQUITY_CHUNK, strategy
            )
            last = len(polls) < EQUITY_CHUNK
            # snapshots join the chunk of polls they fall among, so the series stays in time order
            cut = polls[-1].finished_at if polls and not last else None
            due = [s for s in snapshots if cut is None or s.taken_at <= cut]
            snapshots = snapshots[len(due) :]
            series.extend(polls, due)
            if last:
                return series

    @_available
    async def performance(self, page: PageRequest, strategy: str | None = None) -> Listing:
        """performance_daily.csv rows by date (then strategy), with each day's P&L."""
        balances = await self._store.starting_balances()
        names = [n for n in accounts.ordered(balances) if strategy in (None, n)]
        items: list[JsonObject] = []
        for name in names:
            items += _daily_rows(await self._store.portfolio_snapshots(name), balances[name])
        rank = {name: i for i, name in enumerate(names)}
        items.sort(key=lambda row: (row["date"], rank[row["strategy"]]))
        return Listing(_ordered(items, page), len(items))

    @_available
    async def config_versions(self, page: PageRequest) -> Listing:
        """Every config version by version number."""
        items: list[JsonObject] = [
            {
                "version": v.version,
                "loaded_at": iso_utc(v.loaded_at),
                "source": v.source,
                "changed_keys": list(v.changed_keys),
                "sha256": v.sha256,
            }
            for v in await self._store.config_versions()
        ]
        return Listing(_ordered(items, page), len(items))


def _daily_rows(snapshots: list[PortfolioSnapshot], start_usd: Decimal) -> list[JsonObject]:
    """One strategy's performance_daily.csv rows, each with the day's P&L."""
    items = performance.performance_rows(snapshots, start_usd)
    previous = start_usd
    for row, snap in zip(items, sorted(snapshots, key=lambda s: s.local_date), strict=True):
        row["daily_pnl_usd"] = number(snap.equity_usd - previous)
        previous = snap.equity_usd
    return items


def _signals_header(evaluations: Evaluations) -> JsonObject:
    """current_signals.json's header over the evaluations listed: the newest one's id, time and
    config version, their totals, and each one's part."""
    parts: list[JsonObject] = [
        {
            "strategy": e.strategy,
            "evaluation_id": e.evaluation_id,
            "markets_considered": e.markets_considered,
            "actionable": e.actionable,
            "skipped": e.signals - e.actionable,
        }
        for e, _ in evaluations
    ]
    last = evaluations[-1][0] if evaluations else None
    return {
        "evaluation_id": last.evaluation_id if last else None,
        "evaluated_at": iso_utc(last.evaluated_at) if last else None,
        "config_version": last.config_version if last else None,
        "markets_considered": last.markets_considered if last else 0,
        "actionable": sum(e.actionable for e, _ in evaluations),
        "skipped": sum(e.signals - e.actionable for e, _ in evaluations),
        "strategies": parts,
    }
