"""The SQLite store: the one source of truth and the only module with SQL.

One writer: every write runs in `BEGIN IMMEDIATE` under a lock, inside a task shielded from
cancellation, so a cancelled job can never leave half a transaction behind. Reads use a second
connection (WAL lets them run beside the writer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import (
    JOB_CANCELLED_ERROR,
    Action,
    Event,
    JobOutcome,
    Market,
    PortfolioSnapshot,
    PriceSource,
    Quote,
    Settlement,
    SettlementIntent,
    Side,
    Signal,
    SignalStatus,
    SkipReason,
    Trade,
    TradeIntent,
)
from prescientd.store.codec import (
    event_from_json,
    event_to_json,
    from_micro,
    market_from_json,
    market_to_json,
    opt_from_micro,
    opt_micro,
    round_micro,
    to_micro,
)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
LEDGER_TABLES = (
    "job_runs",
    "config_versions",
    "refreshes",
    "price_snapshots",
    "polls",
    "evaluations",
    "signals",
    "trades",
    "settlements",
    "cash_flows",
    "portfolio_snapshots",
)


class StoreError(Exception):
    """The database cannot be used (for example its schema is newer than this code)."""


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("prescientd.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


MIGRATIONS = _migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0] if MIGRATIONS else 0


def configure_connection(conn: sqlite3.Connection) -> None:
    """Set the per-connection PRAGMAs every connection must have (tests use this too)."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA recursive_triggers=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def connect_sync(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A configured synchronous connection (autocommit; explicit BEGIN IMMEDIATE for writes)."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    configure_connection(conn)
    return conn


@dataclass(frozen=True, slots=True)
class JobRunRow:
    """The latest run of one job."""

    job: str
    run_id: str
    local_date: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    config_version: int
    counts: Mapping[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class RefreshRow:
    """One morning refresh."""

    refresh_id: int
    run_id: str
    fetched_at: datetime
    pages: int
    events_received: int
    events_eligible: int
    markets_eligible: int
    items_skipped: int
    rejections: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class QuoteRow:
    """The latest stored quote of a token with its fetch status."""

    quote: Quote
    status: str
    status_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    """One strategy evaluation."""

    evaluation_id: int
    run_id: str
    evaluated_at: datetime
    local_date: str
    config_version: int
    markets_considered: int
    signals: int
    actionable: int


@dataclass(frozen=True, slots=True)
class SignalRow:
    """A stored signal with its latest sighting: `signal` carries the latest values."""

    signal_id: int
    evaluation_id: int
    evaluated_at: datetime
    local_date: str
    config_version: int
    signal: Signal
    first_at: datetime
    evaluations: int
    first_yes_price: Decimal
    min_yes_price: Decimal
    max_yes_price: Decimal


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What an evaluation transaction wrote."""

    evaluation_id: int
    trades: tuple[Trade, ...]
    duplicates: int


@dataclass(frozen=True, slots=True)
class Ohlc:
    """Open, high, low and close of one price series (None when it never had a value)."""

    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None


@dataclass(frozen=True, slots=True)
class PriceBar:
    """A token's prices over one local day."""

    token_id: str
    mid: Ohlc
    display: Ohlc
    last_bid: Decimal | None
    last_ask: Decimal | None
    snapshots: int


@dataclass
class _SeriesBuilder:
    values: list[Decimal] = field(default_factory=list)

    def build(self) -> Ohlc:
        v = self.values
        return Ohlc(v[0], max(v), min(v), v[-1]) if v else Ohlc(None, None, None, None)


@dataclass
class _BarBuilder:
    mid: _SeriesBuilder = field(default_factory=_SeriesBuilder)
    display: _SeriesBuilder = field(default_factory=_SeriesBuilder)
    last_bid: Decimal | None = None
    last_ask: Decimal | None = None
    snapshots: int = 0

    def add(self, row: sqlite3.Row) -> None:
        for series, key in ((self.mid, "mid"), (self.display, "display")):
            if row[key] is not None:
                series.values.append(from_micro(row[key]))
        self.last_bid = opt_from_micro(row["best_bid"])
        self.last_ask = opt_from_micro(row["best_ask"])

    def build(self, token_id: str) -> PriceBar:
        return PriceBar(
            token_id,
            self.mid.build(),
            self.display.build(),
            self.last_bid,
            self.last_ask,
            self.snapshots,
        )


def _signal_from_row(row: sqlite3.Row) -> Signal:
    return Signal(
        market_id=row["market_id"],
        event_id=row["event_id"],
        question=row["question"],
        action=Action(row["action"]),
        token_id=row["token_id"],
        outcome=row["outcome"],
        price_source=PriceSource(row["price_source"]),
        yes_price=from_micro(row["yes_price"]),
        threshold=from_micro(row["threshold"]),
        confidence=from_micro(row["confidence"]),
        stake_usd=from_micro(row["stake_usd"]),
        status=SignalStatus(row["status"]),
        reason=row["reason"],
        skip_reason=None if row["skip_reason"] is None else SkipReason(row["skip_reason"]),
        idempotency_key=row["idempotency_key"],
        liquidity_usd=from_micro(row["liquidity_usd"]),
    )


def _trade_from_row(row: sqlite3.Row) -> Trade:
    return Trade(
        trade_id=row["id"],
        seq=row["seq"],
        idempotency_key=row["idempotency_key"],
        executed_at=parse_iso_utc(row["executed_at"]),
        market_id=row["market_id"],
        event_id=row["event_id"],
        token_id=row["token_id"],
        outcome=row["outcome"],
        question=row["question"],
        side=Side(row["side"]),
        shares=from_micro(row["shares"]),
        notional_usd=from_micro(row["notional"]),
        fee_usd=from_micro(row["fee"]),
        reason=row["reason"],
    )


def _settlement_from_row(row: sqlite3.Row) -> Settlement:
    return Settlement(
        settlement_id=row["id"],
        seq=row["seq"],
        idempotency_key=row["idempotency_key"],
        settled_at=parse_iso_utc(row["settled_at"]),
        market_id=row["market_id"],
        token_id=row["token_id"],
        outcome=row["outcome"],
        shares=from_micro(row["shares"]),
        payout_per_share=from_micro(row["payout_per_share"]),
        payout_usd=from_micro(row["payout"]),
        cost_basis_usd=from_micro(row["cost_basis"]),
        realized_pnl_usd=from_micro(row["realized_pnl"]),
        resolution=row["resolution"],
    )


_QUOTE_COLUMN_LIST = (
    "book_ts_ms",
    "book_hash",
    "best_bid",
    "best_ask",
    "mid",
    "spread",
    "display",
    "last_trade",
    "bid_depth_shares",
    "bid_depth_usd",
    "ask_depth_shares",
    "ask_depth_usd",
    "tick_size",
    "min_order_size",
)
_QUOTE_COLUMNS = ", ".join(_QUOTE_COLUMN_LIST)
_QUOTE_MARKS = ", ".join("?" * len(_QUOTE_COLUMN_LIST))
_QUOTE_NUMBERED = ", ".join(f"?{i}" for i in range(5, 5 + len(_QUOTE_COLUMN_LIST)))

PriceKey = tuple[int | None, int | None, int | None, int | None]


def _quote_values(quote: Quote) -> tuple[Any, ...]:
    return (
        quote.book_timestamp_ms,
        quote.book_hash,
        opt_micro(quote.best_bid),
        opt_micro(quote.best_ask),
        opt_micro(quote.mid),
        opt_micro(quote.spread),
        opt_micro(quote.display),
        opt_micro(quote.last_trade),
        round_micro(quote.bid_depth_shares),
        round_micro(quote.bid_depth_usd),
        round_micro(quote.ask_depth_shares),
        round_micro(quote.ask_depth_usd),
        opt_micro(quote.tick_size),
        opt_micro(quote.min_order_size),
    )


def _price_key(values: tuple[Any, ...]) -> PriceKey:
    # best bid, best ask, last trade, display: what history and daily bars are made of
    return (values[2], values[3], values[7], values[6])


def _verdict(signal: Signal) -> str:
    return signal.skip_reason.value if signal.skip_reason else signal.status.value


_SIGNAL_SELECT = (
    "SELECT s.*, g.last_evaluation_id, g.last_at, g.evaluations, g.last_yes_price,"
    " g.min_yes_price, g.max_yes_price, g.last_confidence, g.last_liquidity_usd, g.last_reason,"
    " g.last_key FROM signals s JOIN signal_sightings g ON g.signal_id = s.id"
)


async def _signal_ids(
    conn: aiosqlite.Connection, local_date: str, config_version: int, signals: Sequence[Signal]
) -> dict[tuple[str, str, str], int]:
    ids: dict[tuple[str, str, str], int] = {}
    markets = sorted({s.market_id for s in signals})
    for start in range(0, len(markets), 500):
        chunk = markets[start : start + 500]
        async with conn.execute(
            "SELECT id, market_id, action, verdict FROM signals WHERE local_date = ? AND"
            f" config_version = ? AND market_id IN ({','.join('?' * len(chunk))})",
            (local_date, config_version, *chunk),
        ) as cur:
            for row in await cur.fetchall():
                ids[(row[1], row[2], row[3])] = row[0]
    return ids


def _quote_from_row(row: sqlite3.Row) -> Quote:
    return Quote(
        token_id=row["token_id"],
        best_bid=opt_from_micro(row["best_bid"]),
        best_ask=opt_from_micro(row["best_ask"]),
        mid=opt_from_micro(row["mid"]),
        spread=opt_from_micro(row["spread"]),
        display=opt_from_micro(row["display"]),
        last_trade=opt_from_micro(row["last_trade"]),
        bid_depth_shares=from_micro(row["bid_depth_shares"]),
        bid_depth_usd=from_micro(row["bid_depth_usd"]),
        ask_depth_shares=from_micro(row["ask_depth_shares"]),
        ask_depth_usd=from_micro(row["ask_depth_usd"]),
        tick_size=opt_from_micro(row["tick_size"]),
        min_order_size=opt_from_micro(row["min_order_size"]),
        book_timestamp_ms=row["book_ts_ms"],
        book_hash=row["book_hash"],
        fetched_at=parse_iso_utc(row["q_fetched_at"]),
    )


class Store:
    """Async access to the SQLite database."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection | None, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()  # a read transaction on the shared reader is exclusive
        self._pending: set[asyncio.Task[Any]] = set()
        self._snapshot_keys: dict[str, PriceKey] | None = None
        self._eligible_cache: tuple[int, list[Event]] | None = None

    # ------------------------------------------------------------------------------------------
    # lifecycle
    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        starting_balance_usd: Decimal | None = None,
        readonly: bool = False,
        create: bool = True,
    ) -> Store:
        """Open (creating and migrating unless readonly) the database at path.

        With create=False the file must exist and already hold the ledger (store/safety.py
        decides when a database may be created). Raises StoreError with one clear line for
        anything that makes the database unusable; no connection (whose worker thread would keep
        the process alive) is left open on failure.
        """
        opened: list[aiosqlite.Connection] = []
        try:
            if readonly:
                if not await asyncio.to_thread(path.exists):
                    raise StoreError(f"database {path} does not exist yet")
                reader = await aiosqlite.connect(
                    f"file:{path}?mode=ro", uri=True, isolation_level=None
                )
                opened.append(reader)
                await _configure(reader, write=False)
                version = await _user_version(reader)
                if version > SCHEMA_VERSION:
                    raise StoreError(_too_new(path, version))
                return cls(path, None, reader)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            if create:
                writer = await aiosqlite.connect(path, isolation_level=None)
            else:  # mode=rw never creates a missing file
                writer = await aiosqlite.connect(
                    f"file:{url_quote(str(path))}?mode=rw", uri=True, isolation_level=None
                )
            opened.append(writer)
            if not create and await _user_version(writer) == 0:
                raise StoreError(f"database {path} holds no prescientd ledger")
            await _configure(writer, write=True)
            await _migrate(writer, path)
            reader = await aiosqlite.connect(path, isolation_level=None)
            opened.append(reader)
            await _configure(reader, write=False)
            store = cls(path, writer, reader)
            if starting_balance_usd is not None:
                await store._ensure_deposit(starting_balance_usd)
            return store
        except BaseException as exc:
            for conn in opened:
                await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot use database {path}: {exc}") from exc
            raise

    async def close(self) -> None:
        """Wait for pending writes, then close both connections (their threads are non-daemon)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._writer is not None:
            await self._writer.close()
        await self._reader.close()

    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Run work to its end even if the caller is cancelled; close() waits for it."""
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return await asyncio.shield(task)

    async def _write(self, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        if self._writer is None:
            raise StoreError("store opened read-only")
        writer = self._writer

        async def run() -> T:
            async with self._write_lock:
                await writer.execute("BEGIN IMMEDIATE")
                try:
                    result = await body(writer)
                    await writer.execute("COMMIT")
                except BaseException:
                    if writer.in_transaction:
                        await writer.execute("ROLLBACK")
                    raise
                return result

        # A cancelled caller must not cut a transaction in half: it runs to COMMIT/ROLLBACK.
        return await self._shielded(run())

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._read_lock, self._reader.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def _fetch_consistent(self, *queries: str) -> list[list[sqlite3.Row]]:
        """Run several SELECTs inside one read transaction (a commit cannot land between them).

        Shielded like a write: a caller cancelled mid-way must not leave the shared reader inside
        an open transaction.
        """
        reader = self._reader

        async def run() -> list[list[sqlite3.Row]]:
            async with self._read_lock:
                await reader.execute("BEGIN")
                try:
                    results = []
                    for sql in queries:
                        async with reader.execute(sql) as cur:
                            results.append(list(await cur.fetchall()))
                finally:
                    await reader.execute("COMMIT")
            return results

        return await self._shielded(run())

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._read_lock, self._reader.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
        return row

    async def _ensure_deposit(self, starting_balance_usd: Decimal) -> None:
        async def body(conn: aiosqlite.Connection) -> None:
            async with conn.execute("SELECT COUNT(*) FROM cash_flows WHERE kind='deposit'") as cur:
                row = await cur.fetchone()
            if row and row[0]:
                return
            now = iso_utc(datetime.now().astimezone())
            await conn.execute(
                "INSERT INTO cash_flows (at, kind, amount) VALUES (?, 'deposit', ?)",
                (now, to_micro(starting_balance_usd)),
            )
            await conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now,)
            )
            await conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('starting_balance_usd', ?)",
                (str(starting_balance_usd),),
            )

        await self._write(body)

    # ------------------------------------------------------------------------------------------
    # health
    async def integrity_check(self) -> str:
        """PRAGMA integrity_check's verdict ('ok' when healthy)."""
        row = await self._fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"

    async def schema_version(self) -> int:
        """PRAGMA user_version."""
        return await _user_version(self._reader)

    async def starting_balance(self) -> Decimal:
        """The initial deposit (0 before one was made)."""
        row = await self._fetchone(
            "SELECT COALESCE(SUM(amount), 0) FROM cash_flows WHERE kind='deposit'"
        )
        return from_micro(row[0]) if row else Decimal(0)

    async def cash_balance(self) -> Decimal:
        """Sum of every cash flow."""
        row = await self._fetchone("SELECT COALESCE(SUM(amount), 0) FROM cash_flows")
        return from_micro(row[0]) if row else Decimal(0)

    # ------------------------------------------------------------------------------------------
    # job runs and config versions
    async def record_job_run(self, outcome: JobOutcome) -> None:
        """Append one job run."""

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO job_runs (run_id, job, local_date, started_at, finished_at, outcome,"
                " config_version, counts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    outcome.run_id,
                    outcome.job,
                    outcome.local_date,
                    iso_utc(outcome.started_at),
                    iso_utc(outcome.finished_at),
                    "ok" if outcome.ok else "failed",
                    outcome.config_version,
                    json.dumps(dict(outcome.counts), default=str, sort_keys=True),
                    outcome.error,
                ),
            )

        await self._write(body)

    async def last_job_runs(self) -> dict[str, JobRunRow]:
        """The most recent run of each job."""
        rows = await self._fetchall(
            "SELECT * FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job)"
        )
        return {row["job"]: _job_row(row) for row in rows}

    async def last_ok_dates(self) -> dict[str, date]:
        """The latest local date on which each job succeeded."""
        rows = await self._fetchall(
            "SELECT job, MAX(local_date) AS d FROM job_runs WHERE outcome='ok' GROUP BY job"
        )
        return {row["job"]: date.fromisoformat(row["d"]) for row in rows}

    async def last_failures(self) -> dict[str, datetime]:
        """When each job last failed (only failures after its last success)."""
        rows = await self._fetchall(
            "SELECT job, MAX(finished_at) AS f FROM job_runs j WHERE outcome='failed'"
            " AND COALESCE(error, '') != ? AND id >"
            " COALESCE((SELECT MAX(id) FROM job_runs k WHERE k.job=j.job AND outcome='ok'), 0)"
            " GROUP BY job",
            (JOB_CANCELLED_ERROR,),
        )
        return {row["job"]: parse_iso_utc(row["f"]) for row in rows}

    async def record_config_version(
        self, *, sha256: str, source: str, changed_keys: Sequence[str], strategy_json: str
    ) -> int:
        """Record a config version; at start-up an unchanged file keeps the latest number."""

        async def body(conn: aiosqlite.Connection) -> int:
            async with conn.execute(
                "SELECT version, sha256 FROM config_versions ORDER BY version DESC LIMIT 1"
            ) as cur:
                row = await cur.fetchone()
            if row is not None and source == "start" and row[1] == sha256:
                return int(row[0])
            version = (int(row[0]) if row else 0) + 1
            await conn.execute(
                "INSERT INTO config_versions (version, loaded_at, sha256, source, changed_keys,"
                " strategy) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    version,
                    iso_utc(datetime.now().astimezone()),
                    sha256,
                    source,
                    json.dumps(list(changed_keys)),
                    strategy_json,
                ),
            )
            return version

        return await self._write(body)

    async def latest_config_version(self) -> int | None:
        """The highest recorded config version."""
        row = await self._fetchone("SELECT MAX(version) FROM config_versions")
        return None if row is None or row[0] is None else int(row[0])

    # ------------------------------------------------------------------------------------------
    # morning refresh
    async def save_refresh(
        self,
        *,
        run_id: str,
        fetched_at: datetime,
        pages: int,
        events_received: int,
        eligible_events: Sequence[Event],
        items_skipped: int,
        rejections: Mapping[str, int],
        raw_events_json: bytes | None,
    ) -> int:
        """Store one refresh and its eligible events/markets in one transaction."""
        at = iso_utc(fetched_at)
        markets_eligible = sum(len(e.markets) for e in eligible_events)
        compressed = zlib.compress(raw_events_json, 6) if raw_events_json is not None else None

        async def body(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO refreshes (run_id, fetched_at, pages, events_received,"
                " events_eligible, markets_eligible, items_skipped, rejections)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    at,
                    pages,
                    events_received,
                    len(eligible_events),
                    markets_eligible,
                    items_skipped,
                    json.dumps(dict(rejections), sort_keys=True),
                ),
            )
            refresh_id = cur.lastrowid
            assert refresh_id is not None
            await conn.executemany(
                "INSERT INTO events (event_id, data, last_refresh_id, eligible_refresh_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET data=excluded.data,"
                " last_refresh_id=excluded.last_refresh_id,"
                " eligible_refresh_id=excluded.eligible_refresh_id",
                [(e.event_id, event_to_json(e), refresh_id, refresh_id) for e in eligible_events],
            )
            market_rows = [(m, refresh_id) for e in eligible_events for m in e.markets]
            await _upsert_markets(conn, market_rows, at, eligible=True)
            if compressed is not None:
                await conn.execute(
                    "INSERT INTO raw_payloads (kind, refresh_id, fetched_at, body_zlib)"
                    " VALUES ('events', ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET"
                    " refresh_id=excluded.refresh_id, fetched_at=excluded.fetched_at,"
                    " body_zlib=excluded.body_zlib",
                    (refresh_id, at, compressed),
                )
            return int(refresh_id)

        self._eligible_cache = None
        return await self._write(body)

    async def latest_refresh(self) -> RefreshRow | None:
        """The most recent refresh."""
        row = await self._fetchone("SELECT * FROM refreshes ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        return RefreshRow(
            refresh_id=row["id"],
            run_id=row["run_id"],
            fetched_at=parse_iso_utc(row["fetched_at"]),
            pages=row["pages"],
            events_received=row["events_received"],
            events_eligible=row["events_eligible"],
            markets_eligible=row["markets_eligible"],
            items_skipped=row["items_skipped"],
            rejections=json.loads(row["rejections"]),
        )

    async def eligible_events(self) -> list[Event]:
        """Events of the latest refresh with their eligible markets, in event id order."""
        latest = await self._fetchone("SELECT MAX(id) FROM refreshes")
        if latest is None or latest[0] is None:
            return []
        refresh_id = latest[0]
        # Decoding thousands of markets costs a few hundred ms and polls ask every time: cache
        # by refresh, dropped whenever this store writes market rows.
        cached = self._eligible_cache
        if cached is not None and cached[0] == refresh_id:
            return list(cached[1])
        markets = await self._fetchall(
            "SELECT event_id, data FROM markets WHERE eligible_refresh_id = ? ORDER BY"
            " CAST(market_id AS INTEGER), market_id",
            (refresh_id,),
        )
        by_event: dict[str, list[Market]] = {}
        for row in markets:
            by_event.setdefault(row["event_id"], []).append(market_from_json(row["data"]))
        events = await self._fetchall(
            "SELECT event_id, data FROM events WHERE eligible_refresh_id = ? ORDER BY"
            " CAST(event_id AS INTEGER), event_id",
            (refresh_id,),
        )
        result = [
            event_from_json(row["data"], tuple(by_event.get(row["event_id"], ()))) for row in events
        ]
        self._eligible_cache = (refresh_id, result)
        return list(result)

    async def eligible_markets(self) -> list[Market]:
        """Markets eligible in the latest refresh."""
        return [m for e in await self.eligible_events() for m in e.markets]

    async def markets_by_id(self, market_ids: Iterable[str]) -> dict[str, Market]:
        """Known markets by id (any refresh)."""
        ids = sorted(set(market_ids))
        out: dict[str, Market] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            for row in await self._fetchall(
                f"SELECT data FROM markets WHERE market_id IN ({marks})",
                chunk,
            ):
                market = market_from_json(row["data"])
                out[market.market_id] = market
        return out

    async def update_markets(self, markets: Sequence[Market], at: datetime) -> None:
        """Store the latest known state of markets (for example after a settlement check)."""
        if not markets:
            return

        async def body(conn: aiosqlite.Connection) -> None:
            await _upsert_markets(conn, [(m, None) for m in markets], iso_utc(at), eligible=False)

        await self._write(body)
        cached = self._eligible_cache
        if cached is not None:
            # held markets got fresher lifecycle fields: patch them into the cached refresh
            fresh = {m.market_id: m for m in markets}
            events = [
                replace(e, markets=tuple(fresh.get(m.market_id, m) for m in e.markets))
                for e in cached[1]
            ]
            self._eligible_cache = (cached[0], events)

    async def raw_events_payload(self) -> bytes | None:
        """The raw Gamma payload of the latest refresh that kept one."""
        row = await self._fetchone("SELECT body_zlib FROM raw_payloads WHERE kind='events'")
        return None if row is None else zlib.decompress(row[0])

    # ------------------------------------------------------------------------------------------
    # prices
    async def record_poll(
        self,
        *,
        run_id: str,
        fetched_at: datetime,
        quotes: Mapping[str, Quote],
        missing: Iterable[str],
        rejected: Iterable[str],
        requests: int,
        tokens_requested: int,
    ) -> int:
        """Store a poll: every token's latest quote, plus a snapshot where its prices changed.

        Returns the number of snapshots appended.
        """
        at = iso_utc(fetched_at)
        missing_list = sorted(set(missing))
        rejected_list = sorted(set(rejected))
        if self._snapshot_keys is None:
            rows = await self._fetchall(
                "SELECT s.token_id, s.best_bid, s.best_ask, s.last_trade, s.display"
                " FROM quote_status q JOIN price_snapshots s ON s.id = q.snapshot_id"
            )
            self._snapshot_keys = {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}
        known = self._snapshot_keys

        async def body(conn: aiosqlite.Connection) -> tuple[int, dict[str, PriceKey]]:
            async with conn.execute("SELECT COALESCE(MAX(id), 0) FROM price_snapshots") as cur:
                row = await cur.fetchone()
            next_id = int(row[0]) + 1 if row else 1
            inserts = []
            status_rows = []
            changed: dict[str, PriceKey] = {}
            for token_id, quote in quotes.items():
                values = _quote_values(quote)
                key = _price_key(values)
                snapshot_id: int | None = None
                if known.get(token_id) != key:
                    snapshot_id = next_id
                    inserts.append((next_id, token_id, at, *values))
                    changed[token_id] = key
                    next_id += 1
                status_rows.append((token_id, snapshot_id, at, at, *values))
            await conn.executemany(
                f"INSERT INTO price_snapshots (id, token_id, fetched_at, {_QUOTE_COLUMNS})"
                f" VALUES (?, ?, ?, {_QUOTE_MARKS})",
                inserts,
            )
            # snapshot_id stays at the last price change when the prices did not move
            await conn.executemany(
                f"INSERT INTO quote_status (token_id, snapshot_id, fetched_at, status, status_at,"
                f" {_QUOTE_COLUMNS}) VALUES (?1, COALESCE(?2, (SELECT snapshot_id FROM quote_status"
                f" WHERE token_id = ?1)), ?3, 'ok', ?4, {_QUOTE_NUMBERED})"
                " ON CONFLICT (token_id) DO UPDATE SET snapshot_id=excluded.snapshot_id,"
                " fetched_at=excluded.fetched_at, status='ok', status_at=excluded.status_at, "
                + ", ".join(f"{c}=excluded.{c}" for c in _QUOTE_COLUMN_LIST),
                status_rows,
            )
            await conn.executemany(
                "UPDATE quote_status SET status='missing', status_at=? WHERE token_id=?",
                [(at, t) for t in missing_list],
            )
            await conn.executemany(
                "UPDATE quote_status SET status='rejected', status_at=? WHERE token_id=?",
                [(at, t) for t in rejected_list],
            )
            await conn.execute(
                "INSERT INTO polls (run_id, fetched_at, tokens, books, missing, rejected,"
                " snapshots, requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    at,
                    tokens_requested,
                    len(quotes),
                    len(missing_list),
                    len(rejected_list),
                    len(inserts),
                    requests,
                ),
            )
            return len(inserts), changed

        try:
            inserted, changed = await self._write(body)
        except BaseException:
            self._snapshot_keys = None  # the cache may not match what was committed
            raise
        known.update(changed)
        return inserted

    async def latest_quotes(self, token_ids: Iterable[str] | None = None) -> dict[str, QuoteRow]:
        """The latest fetched quote per token (all tokens when token_ids is None)."""
        sql = "SELECT q.*, q.fetched_at AS q_fetched_at FROM quote_status q"
        rows: list[sqlite3.Row]
        if token_ids is None:
            rows = await self._fetchall(sql)
        else:
            ids = sorted(set(token_ids))
            rows = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows += await self._fetchall(
                    f"{sql} WHERE q.token_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
        return {
            row["token_id"]: QuoteRow(
                quote=_quote_from_row(row),
                status=row["status"],
                status_at=parse_iso_utc(row["status_at"]),
            )
            for row in rows
        }

    async def last_poll(self) -> tuple[datetime, int, int, int] | None:
        """(fetched_at, books, missing, rejected) of the latest successful poll."""
        row = await self._fetchone(
            "SELECT fetched_at, books, missing, rejected FROM polls ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        return parse_iso_utc(row[0]), row[1], row[2], row[3]

    async def price_bars(self, start: datetime, end: datetime) -> list[PriceBar]:
        """Per token: OHLC of the mid and display price in [start, end) and the last bid/ask.

        Snapshots are stored only when a token's prices change, so a token fetched during the day
        whose prices did not move opens (and maybe closes) at its last snapshot before the day.
        """
        lo, hi = iso_utc(start), iso_utc(end)
        rows = await self._fetchall(
            "SELECT token_id, mid, display, best_bid, best_ask FROM price_snapshots"
            " WHERE fetched_at >= ? AND fetched_at < ? ORDER BY id",
            (lo, hi),
        )
        # Tokens polled that day: snapshots in the day, or fetched since its start. Each one's last
        # snapshot before the day is found through the (token_id, id) index, newest first.
        carried = await self._fetchall(
            "SELECT s.token_id, s.mid, s.display, s.best_bid, s.best_ask FROM ("
            " SELECT (SELECT p.id FROM price_snapshots p WHERE p.token_id = t.token_id"
            "  AND p.fetched_at < ? ORDER BY p.id DESC LIMIT 1) AS sid FROM ("
            "  SELECT token_id FROM quote_status WHERE fetched_at >= ?"
            "  UNION SELECT token_id FROM price_snapshots WHERE fetched_at >= ? AND fetched_at < ?"
            " ) t) c JOIN price_snapshots s ON s.id = c.sid",
            (lo, lo, lo, hi),
        )
        bars: dict[str, _BarBuilder] = {}
        for row in [*carried, *rows]:
            bars.setdefault(row["token_id"], _BarBuilder()).add(row)
        for row in rows:
            bars[row["token_id"]].snapshots += 1
        return [bar.build(token) for token, bar in sorted(bars.items())]

    async def last_prices(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """The last known price of each token: its last best bid, else display, else mid."""
        out: dict[str, Decimal] = {}
        ids = sorted(set(token_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self._fetchall(
                "SELECT token_id, COALESCE(best_bid, display, mid) AS p FROM quote_status"
                f" WHERE token_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                if row["p"] is not None:
                    out[row["token_id"]] = from_micro(row["p"])
        return out

    # ------------------------------------------------------------------------------------------
    # evaluations, signals and the paper ledger
    async def record_evaluation(
        self,
        *,
        run_id: str,
        evaluated_at: datetime,
        local_date: str,
        config_version: int,
        markets_considered: int,
        signals: Sequence[Signal],
        intents: Sequence[TradeIntent],
    ) -> ExecutionResult:
        """Append an evaluation, its signals and its trades with their cash flows, atomically.

        A signal repeating a verdict already recorded for its market today is counted in its
        sighting rather than appended again. A trade whose idempotency key already exists is
        skipped (a replay after a crash).
        """
        at = iso_utc(evaluated_at)
        actionable = sum(1 for s in signals if s.status is SignalStatus.ACTIONABLE)

        async def body(conn: aiosqlite.Connection) -> ExecutionResult:
            cur = await conn.execute(
                "INSERT INTO evaluations (run_id, evaluated_at, local_date, config_version,"
                " markets_considered, signals, actionable) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    at,
                    local_date,
                    config_version,
                    markets_considered,
                    len(signals),
                    actionable,
                ),
            )
            evaluation_id = cur.lastrowid
            assert evaluation_id is not None
            await conn.executemany(
                "INSERT INTO signals (evaluation_id, evaluated_at, local_date, config_version,"
                " market_id, event_id, question, action, token_id, outcome, price_source,"
                " yes_price, threshold, confidence, stake_usd, liquidity_usd, status,"
                " skip_reason, verdict, reason, idempotency_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (local_date, market_id, action, verdict, config_version) DO NOTHING",
                [
                    (
                        evaluation_id,
                        at,
                        local_date,
                        config_version,
                        s.market_id,
                        s.event_id,
                        s.question,
                        s.action.value,
                        s.token_id,
                        s.outcome,
                        s.price_source.value,
                        round_micro(s.yes_price),
                        round_micro(s.threshold),
                        round_micro(s.confidence),
                        round_micro(s.stake_usd),
                        round_micro(s.liquidity_usd),
                        s.status.value,
                        s.skip_reason.value if s.skip_reason else None,
                        _verdict(s),
                        s.reason,
                        s.idempotency_key,
                    )
                    for s in signals
                ],
            )
            ids = await _signal_ids(conn, local_date, config_version, signals)
            await conn.executemany(
                "INSERT INTO signal_sightings (signal_id, last_evaluation_id, last_at, evaluations,"
                " last_yes_price, min_yes_price, max_yes_price, last_confidence,"
                " last_liquidity_usd, last_reason, last_key)"
                " VALUES (?1, ?2, ?3, 1, ?4, ?4, ?4, ?5, ?6, ?7, ?8)"
                " ON CONFLICT (signal_id) DO UPDATE SET last_evaluation_id=?2, last_at=?3,"
                " evaluations=evaluations + 1, last_yes_price=?4,"
                " min_yes_price=MIN(min_yes_price, ?4), max_yes_price=MAX(max_yes_price, ?4),"
                " last_confidence=?5, last_liquidity_usd=?6, last_reason=?7, last_key=?8",
                [
                    (
                        ids[(s.market_id, s.action.value, _verdict(s))],
                        evaluation_id,
                        at,
                        round_micro(s.yes_price),
                        round_micro(s.confidence),
                        round_micro(s.liquidity_usd),
                        s.reason,
                        s.idempotency_key,
                    )
                    for s in signals
                ],
            )
            by_key = {
                s.idempotency_key: ids[(s.market_id, s.action.value, _verdict(s))] for s in signals
            }
            trades, duplicates = await _insert_trades(conn, intents, at, by_key)
            return ExecutionResult(int(evaluation_id), tuple(trades), duplicates)

        return await self._write(body)

    async def record_trades(
        self, intents: Sequence[TradeIntent], executed_at: datetime
    ) -> tuple[tuple[Trade, ...], int]:
        """Append trades (exits) with their cash flows, atomically; returns (trades, duplicates)."""
        if not intents:
            return (), 0

        async def body(conn: aiosqlite.Connection) -> tuple[tuple[Trade, ...], int]:
            trades, duplicates = await _insert_trades(conn, intents, iso_utc(executed_at), {})
            return tuple(trades), duplicates

        return await self._write(body)

    async def record_settlements(
        self, intents: Sequence[SettlementIntent], settled_at: datetime
    ) -> tuple[Settlement, ...]:
        """Append settlements with their payouts, atomically; replays are skipped by key."""
        if not intents:
            return ()
        at = iso_utc(settled_at)

        async def body(conn: aiosqlite.Connection) -> tuple[Settlement, ...]:
            seq = await _next_seq(conn)
            out = []
            for intent in intents:
                params = (
                    seq,
                    intent.idempotency_key,
                    at,
                    intent.market_id,
                    intent.token_id,
                    intent.outcome,
                    round_micro(intent.shares),
                    round_micro(intent.payout_per_share),
                    round_micro(intent.payout_usd),
                    round_micro(intent.cost_basis_usd),
                    round_micro(intent.payout_usd) - round_micro(intent.cost_basis_usd),
                    intent.resolution,
                )
                cur = await conn.execute(
                    "INSERT INTO settlements (seq, idempotency_key, settled_at, market_id,"
                    " token_id, outcome, shares, payout_per_share, payout, cost_basis,"
                    " realized_pnl, resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (idempotency_key) DO NOTHING",
                    params,
                )
                if cur.rowcount != 1:
                    continue
                settlement_id = cur.lastrowid
                await conn.execute(
                    "INSERT INTO cash_flows (at, kind, amount, settlement_id)"
                    " VALUES (?, 'settlement', ?, ?)",
                    (at, params[8], settlement_id),
                )
                async with conn.execute(
                    "SELECT * FROM settlements WHERE id = ?", (settlement_id,)
                ) as c2:
                    row = await c2.fetchone()
                assert row is not None
                out.append(_settlement_from_row(row))
                seq += 1
            return tuple(out)

        return await self._write(body)

    async def ledger(self) -> tuple[list[Trade], list[Settlement]]:
        """Every trade and settlement, each in seq order, read from one consistent snapshot."""
        trade_rows, settlement_rows = await self._fetch_consistent(
            "SELECT * FROM trades ORDER BY seq", "SELECT * FROM settlements ORDER BY seq"
        )
        return (
            [_trade_from_row(r) for r in trade_rows],
            [_settlement_from_row(r) for r in settlement_rows],
        )

    async def trade_levels(self) -> dict[int, list[list[str]]]:
        """The book levels each trade filled at: trade id -> [[price, shares, fee], ...]."""
        rows = await self._fetchall("SELECT id, levels FROM trades")
        return {row["id"]: json.loads(row["levels"]) for row in rows}

    async def latest_evaluation(self) -> tuple[EvaluationRow, list[SignalRow]] | None:
        """The most recent evaluation and its signals (with that evaluation's values)."""
        row = await self._fetchone("SELECT * FROM evaluations ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        evaluation = _evaluation_row(row)
        signals = await self._fetchall(
            f"{_SIGNAL_SELECT} WHERE g.last_evaluation_id = ? ORDER BY g.last_confidence DESC,"
            " s.market_id",
            (evaluation.evaluation_id,),
        )
        rows = [_signal_row(s) for s in signals]
        rows.sort(key=lambda r: r.signal.status is not SignalStatus.ACTIONABLE)
        return evaluation, rows

    async def signal_archive(self, first_date: str, last_date: str) -> list[SignalRow]:
        """Every signal row whose local date lies in [first_date, last_date], in id order."""
        rows = await self._fetchall(
            f"{_SIGNAL_SELECT} WHERE s.local_date >= ? AND s.local_date <= ? ORDER BY s.id",
            (first_date, last_date),
        )
        return [_signal_row(r) for r in rows]

    async def signal_months(self) -> list[str]:
        """Every local month (YYYY-MM) that has signals."""
        rows = await self._fetchall(
            "SELECT DISTINCT substr(local_date, 1, 7) AS m FROM signals ORDER BY m"
        )
        return [row["m"] for row in rows]

    async def append_portfolio_snapshot(self, snapshot: PortfolioSnapshot) -> bool:
        """Append the day's snapshot; False when that local date already has one."""

        async def body(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "INSERT INTO portfolio_snapshots (local_date, taken_at, cash, positions_value,"
                " equity, realized_pnl, unrealized_pnl, fees_paid, trade_count, open_positions,"
                " settled_positions, settled_wins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (local_date) DO NOTHING",
                (
                    snapshot.local_date,
                    iso_utc(snapshot.taken_at),
                    round_micro(snapshot.cash_usd),
                    round_micro(snapshot.positions_value_usd),
                    round_micro(snapshot.equity_usd),
                    round_micro(snapshot.realized_pnl_usd),
                    round_micro(snapshot.unrealized_pnl_usd),
                    round_micro(snapshot.fees_paid_usd),
                    snapshot.trade_count,
                    snapshot.open_positions,
                    snapshot.settled_positions,
                    snapshot.settled_wins,
                ),
            )
            return cur.rowcount == 1

        return await self._write(body)

    async def portfolio_snapshots(self) -> list[PortfolioSnapshot]:
        """Every evening snapshot in date order."""
        rows = await self._fetchall("SELECT * FROM portfolio_snapshots ORDER BY local_date")
        return [
            PortfolioSnapshot(
                local_date=r["local_date"],
                taken_at=parse_iso_utc(r["taken_at"]),
                cash_usd=from_micro(r["cash"]),
                positions_value_usd=from_micro(r["positions_value"]),
                equity_usd=from_micro(r["equity"]),
                realized_pnl_usd=from_micro(r["realized_pnl"]),
                unrealized_pnl_usd=from_micro(r["unrealized_pnl"]),
                fees_paid_usd=from_micro(r["fees_paid"]),
                trade_count=r["trade_count"],
                open_positions=r["open_positions"],
                settled_positions=r["settled_positions"],
                settled_wins=r["settled_wins"],
            )
            for r in rows
        ]

    async def ledger_digest(self) -> str:
        """sha256 over every ledger row, to prove that nothing was rewritten."""
        digest = hashlib.sha256()
        for table in LEDGER_TABLES:
            for row in await self._fetchall(f"SELECT * FROM {table} ORDER BY rowid"):
                digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()


def _too_new(path: Path, version: int) -> str:
    return (
        f"database {path} has schema version {version}, newer than this prescientd"
        f" (knows up to {SCHEMA_VERSION}); upgrade prescientd or use a backup"
    )


async def _configure(conn: aiosqlite.Connection, *, write: bool) -> None:
    conn.row_factory = sqlite3.Row
    if write:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA recursive_triggers=ON")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    current = await _user_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(_too_new(path, current))
    for version, script in MIGRATIONS:
        if version <= current:
            continue
        # One migration plus its version bump per transaction: a crash leaves old or new, not mixed.
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise


async def _upsert_markets(
    conn: aiosqlite.Connection,
    rows: Sequence[tuple[Market, int | None]],
    at: str,
    *,
    eligible: bool,
) -> None:
    if eligible:
        sql = (
            "INSERT INTO markets (market_id, event_id, condition_id, data, last_refresh_id,"
            " eligible_refresh_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (market_id) DO UPDATE SET event_id=excluded.event_id,"
            " condition_id=excluded.condition_id, data=excluded.data,"
            " last_refresh_id=excluded.last_refresh_id,"
            " eligible_refresh_id=excluded.eligible_refresh_id, updated_at=excluded.updated_at"
        )
        params: list[tuple[Any, ...]] = [
            (m.market_id, m.event_id, m.condition_id, market_to_json(m), rid, rid, at)
            for m, rid in rows
        ]
    else:
        sql = (
            "INSERT INTO markets (market_id, event_id, condition_id, data, last_refresh_id,"
            " eligible_refresh_id, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, ?)"
            " ON CONFLICT (market_id) DO UPDATE SET data=excluded.data,"
            " updated_at=excluded.updated_at"
        )
        params = [(m.market_id, m.event_id, m.condition_id, market_to_json(m), at) for m, _ in rows]
    await conn.executemany(sql, params)
    await conn.executemany(
        "INSERT INTO market_tokens (token_id, market_id, outcome_index) VALUES (?, ?, ?)"
        " ON CONFLICT (token_id) DO NOTHING",
        [(t, m.market_id, i) for m, _ in rows for i, t in enumerate(m.token_ids)],
    )


async def _next_seq(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT MAX(COALESCE((SELECT MAX(seq) FROM trades), 0),"
        " COALESCE((SELECT MAX(seq) FROM settlements), 0))"
    ) as cur:
        row = await cur.fetchone()
    return (int(row[0]) if row else 0) + 1


async def _insert_trades(
    conn: aiosqlite.Connection,
    intents: Sequence[TradeIntent],
    at: str,
    signal_ids: Mapping[str, int],
) -> tuple[list[Trade], int]:
    seq = await _next_seq(conn)
    trades: list[Trade] = []
    duplicates = 0
    for intent in intents:
        fill = intent.fill
        levels = json.dumps([[str(v.price), str(v.shares), str(v.fee_usd)] for v in fill.levels])
        cur = await conn.execute(
            "INSERT INTO trades (seq, idempotency_key, signal_id, executed_at, market_id, event_id,"
            " token_id, outcome, question, side, shares, notional, fee, levels, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (
                seq,
                intent.idempotency_key,
                signal_ids.get(intent.idempotency_key),
                at,
                intent.market_id,
                intent.event_id,
                intent.token_id,
                intent.outcome,
                intent.question,
                fill.side.value,
                to_micro(fill.shares),
                to_micro(fill.notional_usd),
                to_micro(fill.fee_usd),
                levels,
                intent.reason,
            ),
        )
        if cur.rowcount != 1:
            duplicates += 1
            continue
        trade_id = cur.lastrowid
        async with conn.execute("SELECT * FROM trades WHERE id = ?", (trade_id,)) as c2:
            row = await c2.fetchone()
        assert row is not None
        trade = _trade_from_row(row)
        await conn.execute(
            "INSERT INTO cash_flows (at, kind, amount, trade_id) VALUES (?, 'trade', ?, ?)",
            (at, to_micro(trade.cash_delta_usd), trade_id),
        )
        trades.append(trade)
        seq += 1
    return trades, duplicates


def _job_row(row: sqlite3.Row) -> JobRunRow:
    return JobRunRow(
        job=row["job"],
        run_id=row["run_id"],
        local_date=row["local_date"],
        started_at=parse_iso_utc(row["started_at"]),
        finished_at=parse_iso_utc(row["finished_at"]),
        ok=row["outcome"] == "ok",
        config_version=row["config_version"],
        counts=json.loads(row["counts"]),
        error=row["error"],
    )


def _evaluation_row(row: sqlite3.Row) -> EvaluationRow:
    return EvaluationRow(
        evaluation_id=row["id"],
        run_id=row["run_id"],
        evaluated_at=parse_iso_utc(row["evaluated_at"]),
        local_date=row["local_date"],
        config_version=row["config_version"],
        markets_considered=row["markets_considered"],
        signals=row["signals"],
        actionable=row["actionable"],
    )


def _signal_row(row: sqlite3.Row) -> SignalRow:
    signal = replace(
        _signal_from_row(row),
        yes_price=from_micro(row["last_yes_price"]),
        confidence=from_micro(row["last_confidence"]),
        liquidity_usd=from_micro(row["last_liquidity_usd"]),
        reason=row["last_reason"],
        idempotency_key=row["last_key"],
    )
    return SignalRow(
        signal_id=row["id"],
        evaluation_id=row["last_evaluation_id"],
        evaluated_at=parse_iso_utc(row["last_at"]),
        local_date=row["local_date"],
        config_version=row["config_version"],
        signal=signal,
        first_at=parse_iso_utc(row["evaluated_at"]),
        evaluations=row["evaluations"],
        first_yes_price=from_micro(row["yes_price"]),
        min_yes_price=from_micro(row["min_yes_price"]),
        max_yes_price=from_micro(row["max_yes_price"]),
    )
