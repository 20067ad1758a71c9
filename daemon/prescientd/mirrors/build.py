"""Every JSON/CSV mirror of DESIGN.md §3 and the workbook of §7, rebuilt from SQLite.

Cost follows work: each group of files is rewritten only when what it is made from changed (the
ledger's last seq, the latest poll, evaluation, refresh or snapshot; `MirrorState`), and the
append-only ledger file and the monthly signal archive grow by their new entries instead of being
encoded again (`mirrors.arrays`). Rows are built and files encoded, written and fsynced in a worker
thread, so the event loop (watchdog, HTTP) stays responsive during a big write. Each flush logs
one `mirrors_written` line with the files, bytes and seconds. A failure to write one group (disk
full, permissions) is logged and leaves its old files in place; the next flush retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time as time_module
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import ParamSpec, TypeVar

import structlog

from prescientd import reporting
from prescientd.config import Config
from prescientd.core import accounts
from prescientd.core.report import report_csv_tables
from prescientd.core.schedule import local_instant
from prescientd.mirrors import arrays, columns, rows
from prescientd.mirrors.raw_backup import write_raw_backup
from prescientd.mirrors.state import Flush, Layout, Mirror, MirrorState, Row
from prescientd.mirrors.workbook import Sheet
from prescientd.mirrors.writers import FileWriter, Written, write_export
from prescientd.models import DEFAULT_STRATEGY, Market
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store

__all__ = ["Layout", "Mirror", "MirrorBuilder", "Written", "write_export"]
log = structlog.get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
GROUP_EXPORTS: dict[Mirror, tuple[str, ...]] = {
    Mirror.EVENTS: ("events_filtered.csv", "markets_extracted.csv"),
    Mirror.PRICES: ("markets_current.csv",),
    Mirror.SIGNALS: ("signals_current.csv",),
    Mirror.PORTFOLIO: ("positions_current.csv", "trades_summary.csv", "strategies.csv"),
    Mirror.HISTORY: ("portfolio_history.csv", "performance_daily.csv"),
    Mirror.REPORT: tuple(e.filename for e in columns.REPORT_EXPORTS),
}


def _guard(
    name: str,
) -> Callable[[Callable[P, Awaitable[None]]], Callable[P, Awaitable[bool]]]:
    """Decorator: a mirror that cannot be written is logged and skipped (True = written).

    Mirrors are copies: a full disk, a permission problem or odd data in one of them must not stop
    trading; the old file stays and the next rebuild tries again.
    """

    def wrap(fn: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[bool]]:
        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> bool:
            try:
                await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.error("mirror_write_failed", mirror=name, error=f"{type(exc).__name__}: {exc}")
                return False
            return True

        return inner

    return wrap


class MirrorBuilder:
    """Rebuilds mirrors from the store for one configuration."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.layout = Layout(config.paths.data_dir)
        self.portfolio = PortfolioService.of(store)
        self.state = MirrorState.of(store)
        self.files = FileWriter(self.layout, self.state, config.timezone)
        self._flush: Flush | None = None

    # ------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def flushing(self) -> AsyncIterator[Flush]:
        """One flush: everything written inside it is counted in one mirrors_written line.

        The daemon opens one around its whole flush (groups under the job lock, the workbook after
        it); the public writers below open their own when called outside one.
        """
        if self._flush is not None:  # nested in an outer flush: counted there
            yield self._flush
            return
        flush = self._flush = Flush(self.layout.data_dir)
        try:
            yield flush
        finally:
            self._flush = None
            if flush.files or flush.unchanged:  # a flush with nothing to do says nothing
                log.info("mirrors_written", **flush.summary())

    async def _offload(self, fn: Callable[P, Written], *args: P.args, **kwargs: P.kwargs) -> None:
        """Run fn (build rows, encode, write, fsync) in a worker thread; count what it wrote."""
        written = await asyncio.to_thread(fn, *args, **kwargs)
        if self._flush is not None:
            for path, size in written:
                self._flush.wrote(path, size)

    def _skip(self, group: str, source: object, force: bool) -> bool:
        if force or self.state.changed(group, source):
            self.state.sources.pop(group, None)
            return False
        if self._flush is not None:
            self._flush.unchanged.append(group)
        return True

    # ------------------------------------------------------------------------------------------
    async def write(self, mirror: Mirror, now: datetime, *, force: bool = False) -> bool:
        """Rebuild one group of mirrors if its source changed; False if a file failed."""
        async with self.flushing():
            return await self._write_group(mirror, now, force)

    async def _write_group(self, mirror: Mirror, now: datetime, force: bool) -> bool:
        if mirror is Mirror.EVENTS:
            return await self.write_events(force=force)
        if mirror is Mirror.PRICES:
            return await self.write_prices(now, force=force)
        if mirror is Mirror.SIGNALS:
            return await self.write_signals(force=force)
        if mirror is Mirror.PORTFOLIO:
            return await self.write_portfolio(now, force=force)
        if mirror is Mirror.REPORT:
            return await self.write_report(now)
        return await self.write_history(force=force)

    async def write_many(
        self, mirrors: set[Mirror], now: datetime, *, force: bool = False, workbook: bool = True
    ) -> bool:
        """One flush: the groups whose source changed (in a fixed order), then the workbook."""
        async with self.flushing():
            ok = True
            for mirror in sorted(mirrors):
                ok = await self._write_group(mirror, now, force) and ok
            if workbook:
                ok = await self.write_workbook(now, force=force) and ok
            return ok

    async def write_all(self, now: datetime) -> bool:
        """Rebuild every mirror, including every dated file that has data (`export`)."""
        async with self.flushing():
            ok = await self.write_many(set(Mirror), now, force=True)
            for month in await self.store.signal_months():
                ok = await self.write_signals_archive(month, date.max, full=True) and ok
            for day in await self._price_days():
                ok = await self.write_daily_prices(day) and ok
            return ok

    async def write_fixed(self, now: datetime) -> bool:
        """Rebuild every fixed-name mirror and the workbook (start-up; not the dated files)."""
        return await self.write_many(set(Mirror), now, force=True)

    async def _price_days(self) -> list[date]:
        days = {snap.local_date for snap in await self.store.portfolio_snapshots()}
        return sorted(date.fromisoformat(d) for d in days)

    # ------------------------------------------------------------------------------------------
    # morning
    @_guard("events")
    async def write_events(self, *, force: bool = False) -> None:
        """filtered_events.json, filtered_markets.json, raw backup, events/markets CSVs."""
        refresh = await self.store.latest_refresh()
        backup = self.config.mirrors.raw_events_backup
        source = (refresh.refresh_id if refresh else None, backup)
        if self._skip("events", source, force):
            return
        events = await self.store.eligible_events()
        as_of = refresh.fetched_at if refresh else None
        await self._offload(self.files.events_files, events, None, as_of)
        if backup:  # streamed from the stored chunks, and only when its content changed
            path = self.layout.events_dir / "raw_events_backup.json"
            size = await write_raw_backup(self.store, path)
            if size is not None and self._flush is not None:
                self._flush.wrote(path, size)
        self.state.written("events", source)

    # ------------------------------------------------------------------------------------------
    # prices
    async def _tracked_markets(self) -> list[Market]:
        tracked = await self.portfolio.tracked()  # eligible, and held by any strategy
        return list(tracked.by_id().values())

    @_guard("prices")
    async def write_prices(self, now: datetime, *, force: bool = False) -> None:
        """market_cache.json and markets_current.csv, when the quotes or the tracked set changed."""
        portfolio = await self.portfolio.read()
        refresh = await self.store.latest_refresh()
        last_poll = await self.store.last_poll()
        max_age_s = self.config.schedule.price_max_age_s
        source = (
            refresh.refresh_id if refresh else None,
            tuple(sorted(portfolio.held_markets())),
            last_poll[0] if last_poll else None,
            max_age_s,
        )
        if self._skip("prices", source, force):
            return
        markets = sorted(await self._tracked_markets(), key=lambda m: (m.event_id, m.market_id))
        quotes = await self.store.latest_quotes([t for m in markets for t in m.token_ids])
        await self._offload(self.files.prices_files, markets, quotes, now, max_age_s)
        self.state.written("prices", source)

    @_guard("daily_prices")
    async def write_daily_prices(self, day: date) -> None:
        """markets/daily_prices_YYYY-MM-DD.json for one local date (always written)."""
        async with self.flushing():
            tz = self.config.tz
            start = local_instant(day, time(0, 0), tz)
            end = local_instant(day + timedelta(days=1), time(0, 0), tz)
            bars = await self.store.daily_bars(day.isoformat())
            token_markets = await self._token_index([b.token_id for b in bars])
            await self._offload(self.files.daily_prices_file, day, start, end, bars, token_markets)

    async def _token_index(self, tokens: Iterable[str]) -> dict[str, tuple[Market, str]]:
        wanted = set(tokens)
        markets = await self._tracked_markets()
        index: dict[str, tuple[Market, str]] = {}
        for market in markets:
            for i, token in enumerate(market.token_ids):
                if token in wanted:
                    outcome = market.outcomes[i] if i < len(market.outcomes) else ""
                    index[token] = (market, outcome)
        return index

    # ------------------------------------------------------------------------------------------
    # signals
    @_guard("signals")
    async def write_signals(self, *, force: bool = False) -> None:
        """current_signals.json and signals_current.csv from the latest poll's evaluation: every
        strategy's signals, each naming its strategy."""
        source = await self.store.latest_evaluation_id()
        if self._skip("signals", source, force):
            return
        latest = await self.store.latest_evaluations()
        await self._offload(self.files.signals_files, latest)
        self.state.written("signals", source)

    @_guard("signals_archive")
    async def write_signals_archive(self, month: str, through: date, *, full: bool = False) -> None:
        """history/signals_archive_YYYY-MM.json: the month's signals up to `through`.

        Only the file's last day (the one day that may have grown since) and the days after it
        are read and encoded; the earlier days are copied as they are (mirrors.arrays.splice).
        """
        async with self.flushing():
            path = self.layout.signals_archive(month)
            first = f"{month}-01"
            last = min(through, _month_end(month)).isoformat()
            found = None if full else await asyncio.to_thread(arrays.last_day, path)
            if found is not None and first <= found[0] <= last:
                day, keep = found
                entries = rows.archive_entries(await self.store.signal_archive(day, last))
                await self._offload(self.files.splice, path, keep, entries)
                return
            signals = await self.store.signal_archive(first, last)
            await self._offload(self.files.archive_file, path, signals)

    # ------------------------------------------------------------------------------------------
    # portfolio
    @_guard("portfolio")
    async def write_portfolio(self, now: datetime, *, force: bool = False) -> None:
        """paper_trades.json and trades_summary.csv when the ledger grew; portfolio.json,
        positions_current.csv and strategies.csv when the ledger, the prices or the set of
        active strategies changed.

        portfolio.json's top level is the default strategy's account (as with one strategy);
        its `strategies` list holds every account, active or retired, with its positions.
        """
        max_age_s = self.config.schedule.price_max_age_s
        valued = await self.portfolio.valued_all(now, max_age_s)
        if DEFAULT_STRATEGY not in valued:  # a ledger without its deposit: an empty account
            valued = {DEFAULT_STRATEGY: await self.portfolio.valued(now, max_age_s), **valued}
        seq = max(portfolio.last_seq for portfolio, _ in valued.values())
        if not self._skip("ledger", seq, force):
            await self._write_ledger(seq)
            self.state.written("ledger", seq)
        last_poll = await self.store.last_poll()
        active = tuple(spec.name for spec in self.config.strategy_specs())
        source = (seq, last_poll[0] if last_poll else None, max_age_s, active)
        if self._skip("valuation", source, force):
            return
        document = rows.portfolio_document(now, valued, active)
        snapshots = await self.store.portfolio_snapshots()
        figures = [
            accounts.figures(
                portfolio,
                valuation,
                [s for s in snapshots if s.strategy == name],
                accounts.status(name, active),
            )
            for name, (portfolio, valuation) in valued.items()
        ]
        await self._offload(self.files.valuation_files, document, figures, now)
        self.state.written("valuation", source)

    async def _write_ledger(self, seq: int) -> None:
        """paper_trades.json (its new entries appended when this process wrote it last) and
        trades_summary.csv (whose statuses can change with any settlement: rewritten)."""
        state = self.state
        trades, settlements = await self.store.ledger()
        known, after = state.ledger_file, state.ledger_seq
        state.ledger_file = None  # until this write is done
        path = self.layout.trades_dir / "paper_trades.json"
        new: list[Row] | None = None
        if known is not None and after <= seq and arrays.file_key(path) == known.key:
            new_trades = [t for t in trades if t.seq > after]
            new_settlements = [s for s in settlements if s.seq > after]
            levels = await self.store.trade_levels(after_seq=after)
            new = rows.ledger_entries(new_trades, new_settlements, levels)
        else:
            levels = await self.store.trade_levels()
        await self._offload(self.files.ledger_files, known, new, trades, settlements, levels)
        # what the file now reaches (the ledger read may have gone past seq)
        state.ledger_seq = max([seq, *(t.seq for t in trades), *(s.seq for s in settlements)])

    @_guard("history")
    async def write_history(self, *, force: bool = False) -> None:
        """portfolio_history.json, portfolio_history.csv and performance_daily.csv: every
        strategy's evening snapshots (each row names its strategy)."""
        snapshots = await self.store.portfolio_snapshots()
        source = (len(snapshots), snapshots[-1].taken_at if snapshots else None)
        if self._skip("history", source, force):
            return
        balances = await self.store.starting_balances()
        await self._offload(self.files.history_files, snapshots, balances)
        self.state.written("history", source)

    # ------------------------------------------------------------------------------------------
    # report
    @_guard("report")
    async def write_report(self, now: datetime) -> None:
        """exports/report_*.csv, the analytics report for every strategy (each time it is asked
        for: the evening, `export`, start-up; the figures move with prices and time)."""
        report = await reporting.read_report(self.store, self.config, now)
        tables = {name: list(t.rows) for name, t in report_csv_tables(report).items()}
        await self._offload(self.files.report_files, tables)

    # ------------------------------------------------------------------------------------------
    # workbook
    @_guard("workbook")
    async def write_workbook(self, now: datetime, *, force: bool = False) -> None:
        """data/exports/prescientd.xlsx from the rows the CSVs were written from, when they changed
        (and mirrors.workbook_interval_s has passed since the last build, unless forced).

        Groups this process has not written yet (e.g. `once poll`) are written first, so every
        sheet has its rows.
        """
        async with self.flushing() as flush:
            state = self.state
            path = self.layout.workbook
            if not force and (not state.tables or (state.workbook_current and path.exists())):
                return  # no CSV written by this process since the last build: nothing new
            interval_s = self.config.mirrors.workbook_interval_s
            since_s = time_module.monotonic() - state.workbook_built_s
            if not force and path.exists() and since_s < interval_s:
                flush.unchanged.append("workbook (interval)")
                return
            for group, names in GROUP_EXPORTS.items():
                if any(name not in state.tables for name in names):
                    await self._write_group(group, now, True)
            if not all(name in state.tables for name in columns.EXPORT_BY_FILENAME):
                raise RuntimeError("some exports could not be built; the workbook waits for them")
            sheets = [Sheet(e, state.tables[e.filename]) for e in columns.EXPORTS]
            state.workbook_current = True  # a table written from now on makes it out of date
            try:
                await self._offload(self.files.workbook_file, path, sheets, list(state.equity), now)
            except BaseException:
                state.workbook_current = False
                raise
            state.workbook_built_s = time_module.monotonic()


def _month_end(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return nxt - timedelta(days=1)
