"""Building rows and writing the mirror files: the part of a flush that runs in a worker thread.

`MirrorBuilder` (mirrors/build.py) reads the store on the event loop and hands the values to one
of these methods through `asyncio.to_thread`; each builds its rows, encodes, writes and fsyncs its
files (atomically, mirrors/files.py) and returns what it wrote with the sizes. The CSV rows are
kept in the shared `MirrorState` for the workbook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prescientd.clock import iso_utc
from prescientd.core import accounts, filters, performance
from prescientd.core.accounts import StrategyFigures
from prescientd.mirrors import arrays, columns, rows
from prescientd.mirrors.files import (
    write_atomic,
    write_json,
    write_json_append_only,
    write_json_streamed,
)
from prescientd.mirrors.files import write_table_csv as _write_table_csv
from prescientd.mirrors.state import Layout, MirrorState, Row
from prescientd.mirrors.workbook import EquityPoint, Sheet, write_workbook
from prescientd.models import DEFAULT_STRATEGY, ZERO, Event, Market, PortfolioSnapshot
from prescientd.store.db import EvaluationRow, PriceBar, QuoteRow, SignalRow

Written = list[tuple[Path, int]]  # files a worker thread wrote, with their sizes


def write_export(exports_dir: Path, filename: str, csv_rows: Sequence[Row]) -> int:
    """Write one CSV export with its declared columns (mirrors.columns.EXPORTS); returns bytes."""
    export = columns.EXPORT_BY_FILENAME[filename]
    return _write_table_csv(exports_dir / filename, export.columns, csv_rows)


class FileWriter:
    """Writes the files of one data_dir and keeps their CSV rows in the mirrors' state."""

    def __init__(self, layout: Layout, state: MirrorState, timezone: str) -> None:
        self.layout = layout
        self.state = state
        self.timezone = timezone

    def events_files(
        self, events: Sequence[Event], raw: bytes | None, as_of: datetime | None
    ) -> Written:
        """filtered_events.json, filtered_markets.json, the raw backup and their two CSVs."""
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
        """Write one JSON mirror."""
        return path, write_json(path, data, compact=compact)

    def _csv(self, filename: str, csv_rows: list[Row]) -> tuple[Path, int]:
        """Write one CSV export and keep its rows for the workbook."""
        size = write_export(self.layout.exports_dir, filename, csv_rows)
        self.state.table(filename, csv_rows)
        return self.layout.exports_dir / filename, size

    def prices_files(
        self,
        markets: Sequence[Market],
        quotes: dict[str, QuoteRow],
        now: datetime,
        max_age_s: float,
    ) -> Written:
        """market_cache.json and markets_current.csv."""
        tokens = (  # encoded as they come, a chunk at a time (write_json_streamed)
            (token, rows.token_cache_row(market.market_id, quotes.get(token), now, max_age_s))
            for market in markets
            for token in market.token_ids
        )
        head = {
            "generated_at": iso_utc(now),
            "max_price_age_s": max_age_s,
            "columns": rows.CACHE_COLUMNS,
        }
        cache_path = self.layout.markets_dir / "market_cache.json"
        current = [rows.market_current_row(m, quotes, now, max_age_s) for m in markets]
        return [
            (cache_path, write_json_streamed(cache_path, head, "tokens", tokens)),
            self._csv("markets_current.csv", rows.with_as_of(current, now)),
        ]

    def daily_prices_file(
        self,
        day: date,
        start: datetime,
        end: datetime,
        bars: Sequence[PriceBar],
        token_markets: dict[str, tuple[Market, str]],
    ) -> Written:
        """markets/daily_prices_YYYY-MM-DD.json (encoded a chunk of tokens at a time: 160,000
        tokens' rows held at once cost more memory than the rest of the evening)."""
        tokens = (
            (bar.token_id, rows.price_bar_row(bar, *token_markets.get(bar.token_id, (None, ""))))
            for bar in bars
        )
        head = {
            "date": day.isoformat(),
            "timezone": self.timezone,
            "prices": "open/high/low/close: mid; display_price_*: Polymarket display price",
            "from": iso_utc(start),
            "to": iso_utc(end),
        }
        path = self.layout.daily_prices(day)
        return [(path, write_json_streamed(path, head, "tokens", tokens, compact=False))]

    def signals_files(self, latest: Sequence[tuple[EvaluationRow, Sequence[SignalRow]]]) -> Written:
        """current_signals.json and signals_current.csv from the latest poll's evaluation of
        every strategy: the header totals them and `strategies` gives each strategy's part."""
        signal_rows = [rows.signal_row(s) for _, signals in latest for s in signals]
        if not latest:
            payload: dict[str, Any] = {
                "evaluated_at": None,
                "config_version": None,
                "strategies": [],
                "signals": [],
            }
        else:
            last = latest[-1][0]
            parts = [_evaluation_part(evaluation) for evaluation, _ in latest]
            payload = {
                "evaluation_id": last.evaluation_id,
                "evaluated_at": iso_utc(last.evaluated_at),
                "config_version": last.config_version,
                "markets_considered": last.markets_considered,
                "actionable": sum(part["actionable"] for part in parts),
                "skipped": sum(part["skipped"] for part in parts),
                "strategies": parts,
                "signals": signal_rows,
            }
        return [
            self._json(self.layout.trades_dir / "current_signals.json", payload),
            self._csv("signals_current.csv", signal_rows),
        ]

    def splice(self, path: Path, keep: int, entries: list[Row]) -> Written:
        """The archive with its last day replaced by entries (mirrors.arrays.splice)."""
        return [(path, arrays.splice(path, keep, entries))]

    def archive_file(self, path: Path, signals: Sequence[SignalRow]) -> Written:
        """A whole month's signal archive."""
        return [self._json(path, rows.archive_entries(signals))]

    def valuation_files(
        self, document: Row, figures: Sequence[StrategyFigures], now: datetime
    ) -> Written:
        """portfolio.json, positions_current.csv (every strategy's positions) and strategies.csv."""
        positions = [p for account in document["strategies"] for p in account["positions"]]
        return [
            self._json(self.layout.trades_dir / "portfolio.json", document),
            self._csv("positions_current.csv", rows.with_as_of(positions, now)),
            self._csv("strategies.csv", [rows.strategy_row(f) for f in figures]),
        ]

    def ledger_files(
        self,
        known: arrays.ArrayFile | None,
        new: list[Row] | None,
        trades: Sequence[Any],
        settlements: Sequence[Any],
        levels: dict[int, list[list[str]]],
    ) -> Written:
        """paper_trades.json (appended to, or whole) and trades_summary.csv."""
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
        summary = rows.trade_summary_rows(trades, settlements)
        return [(path, described.key[1]), self._csv("trades_summary.csv", summary)]

    def history_files(
        self, snapshots: Sequence[PortfolioSnapshot], balances: Mapping[str, Decimal]
    ) -> Written:
        """portfolio_history.json, its CSV and performance_daily.csv (every strategy's rows);
        the default strategy's equity points for the workbook's chart."""
        history = [performance.history_entry(s) for s in snapshots]
        names = accounts.ordered([*balances, *(s.strategy for s in snapshots)])
        perf_by_name = {
            name: performance.performance_rows(
                [s for s in snapshots if s.strategy == name], balances.get(name, ZERO)
            )
            for name in names
        }
        path = self.layout.history_dir / "portfolio_history.json"
        size = write_json_append_only(path, history)
        self.state.equity = [
            EquityPoint(
                date.fromisoformat(str(r["date"])), _num(r["equity_usd"]), _num(r["drawdown"])
            )
            for r in perf_by_name.get(DEFAULT_STRATEGY, [])
        ]
        perf = [row for name in names for row in perf_by_name[name]]
        return [
            (path, size),
            self._csv("portfolio_history.csv", [dict(r) for r in history]),
            self._csv("performance_daily.csv", [dict(r) for r in perf]),
        ]

    def report_files(self, tables: Mapping[str, list[Row]]) -> Written:
        """exports/report_*.csv: each section of the analytics report."""
        return [self._csv(filename, table) for filename, table in tables.items()]

    def workbook_file(
        self, path: Path, sheets: list[Sheet], equity: list[EquityPoint], now: datetime
    ) -> Written:
        """data/exports/prescientd.xlsx."""
        write_workbook(path, sheets, equity, now)
        return [(path, path.stat().st_size)]


def _num(value: object) -> Decimal | float:
    if isinstance(value, (Decimal, float)):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(0)


def _evaluation_part(evaluation: EvaluationRow) -> dict[str, Any]:
    """One strategy's evaluation in current_signals.json's `strategies` list."""
    return {
        "strategy": evaluation.strategy,
        "evaluation_id": evaluation.evaluation_id,
        "markets_considered": evaluation.markets_considered,
        "actionable": evaluation.actionable,
        "skipped": evaluation.signals - evaluation.actionable,
    }
