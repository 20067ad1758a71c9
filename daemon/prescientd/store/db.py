"""The SQLite store: the one source of truth and the only package with SQL.

`Store` is a thin facade over the table families, one module each: `runs` (job runs, config
versions), `markets` (refreshes, events, markets), `prices` (polls, snapshots, current quotes),
`signals` (evaluations, signals), `ledger` (trades, settlements, cash, snapshots), `resolutions`
(market_resolutions) and `analytics` (the report's reads, no table of its own); `connection`
holds the transaction rules they all follow and `rows` the row types and the one row mapper.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from prescientd.models import EvaluationBatch
from prescientd.store.analytics import AnalyticsTables
from prescientd.store.connection import (
    BUSY_TIMEOUT_MS,
    LEDGER_TABLES,
    SCHEMA_VERSION,
    Database,
    StoreError,
    connect_sync,
)
from prescientd.store.ledger import LedgerTables
from prescientd.store.legacy import LegacyPrices
from prescientd.store.markets import MarketTables
from prescientd.store.prices import PriceTables
from prescientd.store.resolutions import ResolutionTables
from prescientd.store.rows import (
    EvaluationRow,
    ExecutionResult,
    JobRunRow,
    Ohlc,
    PriceBar,
    QuoteRow,
    RefreshRow,
    SignalRow,
)
from prescientd.store.runs import RunTables
from prescientd.store.signals import SignalTables

A = TypeVar("A")

__all__ = [
    "BUSY_TIMEOUT_MS",
    "LEDGER_TABLES",
    "SCHEMA_VERSION",
    "EvaluationBatch",
    "EvaluationRow",
    "ExecutionResult",
    "JobRunRow",
    "Ohlc",
    "PriceBar",
    "QuoteRow",
    "RefreshRow",
    "SignalRow",
    "Store",
    "StoreError",
    "connect_sync",
]


class Store(
    RunTables,
    MarketTables,
    PriceTables,
    LegacyPrices,
    SignalTables,
    LedgerTables,
    ResolutionTables,
    AnalyticsTables,
):
    """Async access to the SQLite database: every table family through one object."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._attachments: dict[type[Any], Any] = {}

    def attachment(self, kind: type[A], build: Callable[[Store], A]) -> A:
        """The one `kind` object bound to this store, built on first use.

        For state derived from the database that must live as long as the store and be shared by
        everyone using it (the portfolio service's replay), without the store knowing its type.
        """
        if kind not in self._attachments:
            self._attachments[kind] = build(self)
        found: A = self._attachments[kind]
        return found

    @property
    def path(self) -> Path:
        """The database file."""
        return self.db.path

    async def schema_version(self) -> int:
        """PRAGMA user_version: 0 for a file that holds no prescientd ledger."""
        row = await self.db.read_one("PRAGMA user_version")
        return int(row[0]) if row is not None else 0

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        starting_balance_usd: Decimal | None = None,
        readonly: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        create: bool = True,
    ) -> Store:
        """Open (creating and migrating unless readonly) the database at path.

        A new database gets the starting deposit. With create=False the file must exist and
        already hold the ledger (store/safety.py decides when a database may be created). Raises
        StoreError with one clear line for anything that makes the database unusable, leaving no
        connection open.
        """
        db = await Database.open(
            path, readonly=readonly, busy_timeout_ms=busy_timeout_ms, create=create
        )
        store = cls(db)
        if starting_balance_usd is not None and not readonly:
            try:
                await store.ensure_deposit(starting_balance_usd)
            except BaseException as exc:
                await db.close()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot use database {path}: {exc}") from exc
                raise
        return store

    async def close(self) -> None:
        """Wait for pending writes, then close both connections (their threads are non-daemon)."""
        await self.db.close()
