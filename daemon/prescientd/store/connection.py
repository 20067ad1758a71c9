"""The SQLite file: opening, migrating, the PRAGMAs, and the rules every read and write follows.

One writer: every write runs in `BEGIN IMMEDIATE` under a lock, inside a task shielded from
cancellation, so a cancelled job can never leave half a transaction behind. Reads use a second
connection (WAL lets them run beside the writer); a read on it holds a lock, and a multi-query
read transaction is shielded like a write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

import aiosqlite

T = TypeVar("T")
Query = tuple[str, Sequence[Any]]

BUSY_TIMEOUT_MS = 5000
IN_CHUNK = 500  # ids per `IN (...)` list, well under SQLite's limit on bound parameters
LEDGER_TABLES = (
    "job_runs",
    "config_versions",
    "refreshes",
    "polls",
    "evaluations",
    "signals",
    "trades",
    "settlements",
    "cash_flows",
    "portfolio_snapshots",
    "market_resolutions",
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


def pragmas(*, write: bool, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> tuple[str, ...]:
    """The PRAGMAs of a connection: a writing one gets WAL, FULL sync and recursive triggers too.

    busy_timeout_ms is how long a statement waits for another connection's lock before it fails
    with "database is locked" (tests shorten it).
    """
    common = (f"PRAGMA busy_timeout={int(busy_timeout_ms)}", "PRAGMA foreign_keys=ON")
    if not write:
        return common
    return (
        *common,
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA recursive_triggers=ON",
        # a big transaction (a morning's swap) grows the -wal; truncate it back after checkpoints
        "PRAGMA journal_size_limit=67108864",
    )


def connect_sync(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A configured synchronous connection (autocommit; explicit BEGIN IMMEDIATE for writes)."""
    target, uri = (f"file:{path}?mode=ro", True) if readonly else (str(path), False)
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    for pragma in pragmas(write=not readonly):
        conn.execute(pragma)
    return conn


async def fetch_in(
    conn: aiosqlite.Connection, sql: str, ids: Iterable[str], params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    """Rows of `sql` for every id, in chunks: `{ids}` in sql stands for the chunk's placeholders.

    The ids are bound after `params`; each distinct id is asked for once.
    """
    unique = sorted(set(ids))
    rows: list[sqlite3.Row] = []
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start : start + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(sql.format(ids=marks), (*params, *chunk)) as cur:
            rows += await cur.fetchall()
    return rows


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def _too_new(path: Path, version: int) -> str:
    return (
        f"database {path} has schema version {version}, newer than this prescientd"
        f" (knows up to {SCHEMA_VERSION}); upgrade prescientd or use a backup"
    )


async def _connect(
    target: str,
    opened: list[aiosqlite.Connection],
    *,
    write: bool,
    busy_timeout_ms: int,
    uri: bool = False,
) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(target, uri=uri, isolation_level=None)
    opened.append(conn)
    conn.row_factory = sqlite3.Row
    for pragma in pragmas(write=write, busy_timeout_ms=busy_timeout_ms):
        await conn.execute(pragma)
    return conn


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    current = await _user_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(_too_new(path, current))
    for version, script in MIGRATIONS:
        if version <= current:
            continue
        # One migration plus its version bump per transaction: a crash leaves old or new, not
        # mixed. Foreign keys are off meanwhile (they cannot change inside a transaction), as
        # SQLite's procedure for rebuilding a table asks, and checked before the commit.
        await conn.execute("PRAGMA foreign_keys=OFF")
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};"
            )
            async with conn.execute("PRAGMA foreign_key_check") as cur:
                broken = await cur.fetchone()
            if broken is not None:
                raise StoreError(
                    f"migration {version} of {path} would break a reference in table {broken[0]}"
                )
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        finally:
            await conn.execute("PRAGMA foreign_keys=ON")


class Database:
    """The writer and reader connections to one SQLite file, and the rules for using them."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection | None, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()  # a read on the shared reader is exclusive
        self._pending: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        readonly: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        create: bool = True,
    ) -> Database:
        """Open (creating and migrating unless readonly) the database at path.

        Raises StoreError with one clear line for anything that makes the database unusable; no
        connection (whose worker thread would keep the process alive) is left open on failure.
        """
        opened: list[aiosqlite.Connection] = []
        try:
            if readonly:
                if not await asyncio.to_thread(path.exists):
                    raise StoreError(f"database {path} does not exist yet")
                reader = await _connect(
                    f"file:{path}?mode=ro",
                    opened,
                    write=False,
                    busy_timeout_ms=busy_timeout_ms,
                    uri=True,
                )
                version = await _user_version(reader)
                if version > SCHEMA_VERSION:
                    raise StoreError(_too_new(path, version))
                if 0 < version < SCHEMA_VERSION:  # a reader cannot migrate; its queries need it
                    raise StoreError(
                        f"database {path} has schema version {version}, older than this"
                        f" prescientd ({SCHEMA_VERSION}); start the daemon (prescientd run or"
                        " once) once to migrate it"
                    )
                return cls(path, None, reader)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            if create:
                writer = await _connect(
                    str(path), opened, write=True, busy_timeout_ms=busy_timeout_ms
                )
            else:  # mode=rw never creates a missing file
                writer = await _connect(
                    f"file:{url_quote(str(path))}?mode=rw",
                    opened,
                    write=True,
                    busy_timeout_ms=busy_timeout_ms,
                    uri=True,
                )
                if await _user_version(writer) == 0:
                    raise StoreError(f"database {path} holds no prescientd ledger")
            await _migrate(writer, path)
            reader = await _connect(str(path), opened, write=False, busy_timeout_ms=busy_timeout_ms)
            return cls(path, writer, reader)
        except BaseException as exc:
            for conn in opened:
                await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot use database {path}: {exc}") from exc
            raise

    async def close(self) -> None:
        """Wait for pending transactions, then close both connections (non-daemon threads)."""
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

    async def write(self, body: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run body on the writer inside one BEGIN IMMEDIATE transaction, to COMMIT or ROLLBACK."""
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

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row of one SELECT."""
        async with self._read_lock, self._reader.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one SELECT, or None."""
        async with self._read_lock, self._reader.execute(sql, tuple(params)) as cur:
            row: sqlite3.Row | None = await cur.fetchone()
        return row

    async def read_stream(
        self, sql: str, params: Sequence[Any] = (), *, chunk_rows: int = 5000
    ) -> AsyncIterator[list[sqlite3.Row]]:
        """The rows of one SELECT, chunk by chunk, inside one read transaction.

        Memory is bounded by a chunk, not by the result. The reader is held until the iteration
        ends; the consumer must not read through the store meanwhile (it would wait for itself).
        """
        async with self._read_lock:
            await self._reader.execute("BEGIN")
            try:
                async with self._reader.execute(sql, tuple(params)) as cur:
                    while rows := await cur.fetchmany(chunk_rows):
                        yield list(rows)
            finally:
                await asyncio.shield(self._reader.execute("COMMIT"))

    async def read_in(
        self, sql: str, ids: Iterable[str], params: Sequence[Any] = ()
    ) -> list[sqlite3.Row]:
        """fetch_in on the reader: the rows of sql for every id (`{ids}` marks the IN list)."""
        async with self._read_lock:
            return await fetch_in(self._reader, sql, ids, params)

    async def read_consistent(self, *queries: Query) -> list[list[sqlite3.Row]]:
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
                    for sql, params in queries:
                        async with reader.execute(sql, tuple(params)) as cur:
                            results.append(list(await cur.fetchall()))
                finally:
                    await reader.execute("COMMIT")
            return results

        return await self._shielded(run())


class Tables:
    """Base of the table families: each reaches the file through `db`."""

    db: Database
