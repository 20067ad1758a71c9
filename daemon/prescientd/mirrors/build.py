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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from prescientd.clock import iso_utc
from prescientd.config import Config
from prescientd.core import filters, performance
from prescientd.core.schedule import local_instant
from prescientd.mirrors import arrays, columns, rows
from prescientd.mirrors.files import write_atomic, write_json, write_json_append_only
from prescientd.mirrors.files import write_table_csv as _write_table_csv
from prescientd.mirrors.state import Flush, Layout, Mirror, MirrorState, Row
from prescientd.mirrors.workbook import EquityPoint, Sheet, write_workbook
from prescientd.models import Event, Market
from prescientd.portfolio import PortfolioService
from prescientd.store.db import PriceBar, QuoteRow, SignalRow, Store

__all__ = ["Layout", "Mirror", "MirrorBuilder"]
log = structlog.get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
Written = list[tuple[Path, int]]  # files a worker thread wrote, with their sizes
GROUP_EXPORTS: dict[Mirror, tuple[str, ...]] = {
    Mirror.EVENTS: ("events_filtered.csv", "markets_extracted.csv"),
    Mirror.PRICES: ("markets_current.csv",),
    Mirror.SIGNALS: ("signals_current.csv",),
    Mirror.PORTFOLIO: ("positions_current.csv", "trades_summary.csv"),
    Mirror.HISTORY: ("portfolio_history.csv", "performance_daily.csv"),
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


def write_export(exports_dir: Path, filename: str, csv_rows: Sequence[Row]) -> int:
    """Write one CSV export with its declared columns (mirrors.columns.EXPORTS); returns bytes."""
    export = columns.EXPORT_BY_FILENAME[filename]
    return _write_table_csv(exports_dir / filename, export.columns, csv_rows)


class MirrorBuilder:
    """Rebuilds mirrors from the store for one configuration."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.layout = Layout(config.paths.data_dir)
        self.portfolio = PortfolioService.of(store)
        self.state = MirrorState.of(store)
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
        raw = await self.store.raw_events_payload() if backup else None
        as_of = refresh.fetched_at if refresh else None
        await self._offload(self._events_files, events, raw, as_of)
        self.state.written("events", source)

    def _events_files(
        self, events: Sequence[Event], raw: bytes | None, as_of: datetime | None
    ) -> Written:
        layout = self.layout
        market_rows = [filters.market_row(e, m) for e in events for m in e.markets]
        event_rows = [filters.event_row(e) for e in events]
        events_json = [
            {**row, "markets": [filters.market_row(e, m) for m in e.markets]}
            for row, e in zip(event_rows, events, strict=True)
        ]
        written = [
            self._json(layout.events_dir / "filtered_events.json", events_json),
            self._json(layout.events_dir / "filtered_markets.json", market_rows),
        ]
        if raw is not None:
            path = layout.events_dir / "raw_events_backup.json"
            written.append((path, write_atomic(path, raw)))
        written.append(self._csv("events_filtered.csv", rows.with_as_of(event_rows, as_of)))
        written.append(self._csv("markets_extracted.csv", rows.with_as_of(market_rows, as_of)))
        return written

    def _json(self, path: Path, data: Any, *, compact: bool = False) -> tuple[Path, int]:
        return path, write_json(path, data, compact=compact)

    def _csv(self, filename: str, csv_rows: list[Row]) -> tuple[Path, int]:
        """Write one CSV export and keep its rows for the workbook."""
        size = write_export(self.layout.exports_dir, filename, csv_rows)
        self.state.table(filename, csv_rows)
        return self.layout.exports_dir / filename, size

    # ------------------------------------------------------------------------------------------
    # prices
    async def _tracked_markets(self) -> list[Market]:
        tracked = await self.portfolio.tracked(await self.portfolio.read())
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
        await self._offload(self._prices_files, markets, quotes, now, max_age_s)
        self.state.written("prices", source)

    def _prices_files(
        self,
        markets: Sequence[Market],
        quotes: dict[str, QuoteRow],
        now: datetime,
        max_age_s: float,
    ) -> Written:
        tokens = {
            token: rows.token_cache_row(market.market_id, quotes.get(token), now, max_age_s)
            for market in markets
            for token in market.token_ids
        }
        cache = {
            "generated_at": iso_utc(now),
            "max_price_age_s": max_age_s,
            "columns": rows.CACHE_COLUMNS,
            "tokens": tokens,
        }
        current = [rows.market_current_row(m, quotes, now, max_age_s) for m in markets]
        return [
            self._json(self.layout.markets_dir / "market_cache.json", cache, compact=True),
            self._csv("markets_current.csv", rows.with_as_of(current, now)),
        ]

    @_guard("daily_prices")
    async def write_daily_prices(self, day: date) -> None:
        """markets/daily_prices_YYYY-MM-DD.json for one local date (always written)."""
        async with self.flushing():
            tz = self.config.tz
            start = local_instant(day, time(0, 0), tz)
            end = local_instant(day + timedelta(days=1), time(0, 0), tz)
            bars = await self.store.price_bars(start, end)
            token_markets = await self._token_index([b.token_id for b in bars])
            await self._offload(self._daily_prices_file, day, start, end, bars, token_markets)

    def _daily_prices_file(
        self,
        day: date,
        start: datetime,
        end: datetime,
        bars: Sequence[PriceBar],
        token_markets: dict[str, tuple[Market, str]],
    ) -> Written:
        tokens = {
            bar.token_id: rows.price_bar_row(bar, *token_markets.get(bar.token_id, (None, "")))
            for bar in bars
        }
        document = {
            "date": day.isoformat(),
            "timezone": self.config.timezone,
            "prices": "open/high/low/close: mid; display_price_*: Polymarket display price",
            "from": iso_utc(start),
            "to": iso_utc(end),
            "tokens": tokens,
        }
        return [self._json(self.layout.daily_prices(day), document)]

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
        """current_signals.json and signals_current.csv from the latest evaluation."""
        source = await self.store.latest_evaluation_id()
        if self._skip("signals", source, force):
            return
        latest = await self.store.latest_evaluation()
        await self._offload(self._signals_files, latest)
        self.state.written("signals", source)

    def _signals_files(self, latest: Any) -> Written:
        if latest is None:
            payload: dict[str, Any] = {"evaluated_at": None, "config_version": None, "signals": []}
            signal_rows: list[Row] = []
        else:
            evaluation, signals = latest
            signal_rows = [rows.signal_row(s) for s in signals]
            payload = {
                "evaluation_id": evaluation.evaluation_id,
                "evaluated_at": iso_utc(evaluation.evaluated_at),
                "config_version": evaluation.config_version,
                "markets_considered": evaluation.markets_considered,
                "actionable": evaluation.actionable,
                "skipped": evaluation.signals - evaluation.actionable,
                "signals": signal_rows,
            }
        return [
            self._json(self.layout.trades_dir / "current_signals.json", payload),
            self._csv("signals_current.csv", signal_rows),
        ]

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
                await self._offload(self._splice, path, keep, entries)
                return
            signals = await self.store.signal_archive(first, last)
            await self._offload(self._archive_file, path, signals)

    def _splice(self, path: Path, keep: int, entries: list[Row]) -> Written:
        return [(path, arrays.splice(path, keep, entries))]

    def _archive_file(self, path: Path, signals: Sequence[SignalRow]) -> Written:
        return [self._json(path, rows.archive_entries(signals))]

    # ------------------------------------------------------------------------------------------
    # portfolio
    @_guard("portfolio")
    async def write_portfolio(self, now: datetime, *, force: bool = False) -> None:
        """paper_trades.json and trades_summary.csv when the ledger grew; portfolio.json and
        positions_current.csv when the ledger or the prices changed."""
        max_age_s = self.config.schedule.price_max_age_s
        portfolio, valuation = await self.portfolio.valued(now, max_age_s)
        seq = portfolio.last_seq
        if not self._skip("ledger", seq, force):
            await self._write_ledger(seq, portfolio.starting_balance_usd)
            self.state.written("ledger", seq)
        last_poll = await self.store.last_poll()
        source = (seq, last_poll[0] if last_poll else None, max_age_s)
        if self._skip("valuation", source, force):
            return
        positions = [rows.position_row(mp) for mp in valuation.positions]
        summary = rows.portfolio_summary(portfolio, valuation)
        document = {"generated_at": iso_utc(now), **summary, "mark": "best_bid"}
        await self._offload(self._valuation_files, document, positions, now)
        self.state.written("valuation", source)

    def _valuation_files(self, document: Row, positions: list[Row], now: datetime) -> Written:
        return [
            self._json(
                self.layout.trades_dir / "portfolio.json", {**document, "positions": positions}
            ),
            self._csv("positions_current.csv", rows.with_as_of(positions, now)),
        ]

    async def _write_ledger(self, seq: int, starting_balance_usd: Decimal) -> None:
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
        await self._offload(
            self._ledger_files, known, new, trades, settlements, levels, starting_balance_usd
        )
        state.ledger_seq = seq

    def _ledger_files(
        self,
        known: arrays.ArrayFile | None,
        new: list[Row] | None,
        trades: Sequence[Any],
        settlements: Sequence[Any],
        levels: dict[int, list[list[str]]],
        starting_balance_usd: Decimal,
    ) -> Written:
        path = self.layout.trades_dir / "paper_trades.json"
        if known is not None and new is not None:
            described = arrays.append(path, known, new)
            if described is None:  # changed by someone else since the check: redo it in full
                raise RuntimeError(f"{path} changed while being appended to")
        else:  # first write, or the file is not as this process left it
            entries = rows.ledger_entries(trades, settlements, levels)
            write_json_append_only(path, entries)  # refuses to shrink the file
            described = arrays.described(path, len(entries))
        self.state.ledger_file = described
        summary = rows.trade_summary_rows(starting_balance_usd, trades, settlements)
        return [(path, described.key[1]), self._csv("trades_summary.csv", summary)]

    @_guard("history")
    async def write_history(self, *, force: bool = False) -> None:
        """portfolio_history.json, portfolio_history.csv and performance_daily.csv."""
        snapshots = await self.store.portfolio_snapshots()
        source = (len(snapshots), snapshots[-1].taken_at if snapshots else None)
        if self._skip("history", source, force):
            return
        start = await self.store.starting_balance()
        await self._offload(self._history_files, snapshots, start)
        self.state.written("history", source)

    def _history_files(self, snapshots: Sequence[Any], start: Decimal) -> Written:
        history = [performance.history_entry(s) for s in snapshots]
        perf = performance.performance_rows(snapshots, start)
        path = self.layout.history_dir / "portfolio_history.json"
        size = write_json_append_only(path, history)
        self.state.equity = [
            EquityPoint(
                date.fromisoformat(str(r["date"])), _num(r["equity_usd"]), _num(r["drawdown"])
            )
            for r in perf
        ]
        return [
            (path, size),
            self._csv("portfolio_history.csv", [dict(r) for r in history]),
            self._csv("performance_daily.csv", [dict(r) for r in perf]),
        ]

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
            if state.workbook_current and path.exists() and not force:
                return
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
                await self._offload(self._workbook_file, path, sheets, list(state.equity), now)
            except BaseException:
                state.workbook_current = False
                raise
            state.workbook_built_s = time_module.monotonic()

    def _workbook_file(
        self, path: Path, sheets: list[Sheet], equity: list[EquityPoint], now: datetime
    ) -> Written:
        write_workbook(path, sheets, equity, now)
        return [(path, path.stat().st_size)]


def _num(value: object) -> Decimal | float:
    if isinstance(value, (Decimal, float)):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(0)


def _month_end(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return nxt - timedelta(days=1)
