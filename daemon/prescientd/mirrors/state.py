"""Where the mirrors live, what they were last written from, and what one flush wrote.

A `MirrorState` belongs to one store and is shared by every `MirrorBuilder` made for it (the
daemon's debounced writer, the evening job, `once`), so "unchanged since the last write" means the
same thing to all of them for as long as the process has the store open. A new process starts with
an empty state and therefore rewrites everything once: the start-up rebuild.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from prescientd.mirrors.arrays import ArrayFile
from prescientd.mirrors.workbook import EquityPoint
from prescientd.store.db import Store

Row = dict[str, Any]


class Mirror(StrEnum):
    """Groups of files rebuilt together."""

    EVENTS = "events"
    PRICES = "prices"
    SIGNALS = "signals"
    PORTFOLIO = "portfolio"
    HISTORY = "history"
    REPORT = "report"


class Layout:
    """Where each mirror lives under data_dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.events_dir = data_dir / "events"
        self.markets_dir = data_dir / "markets"
        self.trades_dir = data_dir / "trades"
        self.history_dir = data_dir / "history"
        self.exports_dir = data_dir / "exports"
        self.workbook = self.exports_dir / "prescientd.xlsx"

    def daily_prices(self, day: date) -> Path:
        """markets/daily_prices_YYYY-MM-DD.json."""
        return self.markets_dir / f"daily_prices_{day.isoformat()}.json"

    def signals_archive(self, month: str) -> Path:
        """history/signals_archive_YYYY-MM.json."""
        return self.history_dir / f"signals_archive_{month}.json"


@dataclass
class MirrorState:
    """What each file group was last written from, and the rows the workbook is built from."""

    sources: dict[str, Hashable] = field(default_factory=dict)  # group -> what it was made from
    ledger_file: ArrayFile | None = None  # paper_trades.json as last written
    ledger_seq: int = 0  # the ledger seq paper_trades.json reaches
    tables: dict[str, list[Row]] = field(default_factory=dict)  # CSV file name -> its rows
    equity: list[EquityPoint] = field(default_factory=list)
    workbook_current: bool = False  # the workbook holds the tables above
    workbook_built_s: float = float("-inf")  # time.monotonic() of the last build

    @classmethod
    def of(cls, store: Store) -> MirrorState:
        """The state of store's mirrors (one per store, built on first use)."""
        return store.attachment(cls, lambda _store: cls())

    def changed(self, group: str, source: Hashable) -> bool:
        """True when group was not written from source (then it is forgotten until written)."""
        if self.sources.get(group) == source:
            return False
        self.sources.pop(group, None)  # a failed write must be retried, not skipped
        return True

    def written(self, group: str, source: Hashable) -> None:
        """Record that group now mirrors source."""
        self.sources[group] = source

    def table(self, filename: str, rows: list[Row]) -> None:
        """Keep the rows a CSV was just written from; the workbook is then out of date."""
        self.tables[filename] = rows
        self.workbook_current = False


@dataclass
class Flush:
    """What one flush wrote: the files (path under data_dir -> bytes) and the groups skipped."""

    data_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def wrote(self, path: Path, size: int) -> None:
        """Count one file written."""
        try:
            name = str(path.relative_to(self.data_dir))
        except ValueError:
            name = str(path)
        self.files[name] = size

    def summary(self) -> dict[str, Any]:
        """The fields of the mirrors_written log line."""
        return {
            "files": self.files,
            "file_count": len(self.files),
            "bytes": sum(self.files.values()),
            "seconds": round(time.perf_counter() - self.started, 3),
            "unchanged": sorted(self.unchanged),
        }
