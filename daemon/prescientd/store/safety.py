"""Start-up checks that keep a damaged, empty or missing database from costing the history.

Run before a command opens the database (in a thread: they read files and the whole database):

- A new database is created only when the data directory holds no history: no
  `paper_trades.json` or `portfolio_history.json` with entries, no dated history files, no
  orphaned `-wal`. Otherwise a missing, empty (0 bytes) or ledger-less database is refused with
  one line that says how to restore, and nothing is touched: a fresh ledger would take a second
  deposit and its mirrors would overwrite the last copy of the history.
- An existing database must pass `PRAGMA quick_check` before anything writes to it (and before
  `export` rebuilds mirrors from it). A database that was shut down cleanly is checked through an
  immutable read-only connection, so a refused file gets no `-wal`/`-shm` beside it.
- The database must not be behind its append-only mirror: fewer trades and settlements than
  `paper_trades.json` lists means an older backup was put back; the mirror is kept, not shrunk.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from prescientd.permissions import database_files, make_dirs, open_private, restrict_file
from prescientd.store.db import StoreError

PAPER_TRADES = Path("trades/paper_trades.json")
PORTFOLIO_HISTORY = Path("history/portfolio_history.json")
# dated files only an existing ledger writes
HISTORY_GLOBS = ("history/signals_archive_*.json", "markets/daily_prices_*.json")
RESTORE_HINT = (
    "restore it from a backup (sqlite3 BACKUP.db \".backup 'DB'\" while stopped;"
    " README: How to restore from backup)"
)


class DatabaseRefused(StoreError):
    """The database cannot be used safely; the message is the one line an operator needs."""


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """What is on disk at db_path."""

    exists: bool
    size_bytes: int
    has_ledger: bool  # prescientd's tables are there (user_version > 0)


def _restore(db_path: Path) -> str:
    return RESTORE_HINT.replace("DB", str(db_path))


def _entry_count(path: Path) -> int | None:
    """Entries of a JSON array mirror; None when absent, -1 when unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return -1
    return len(data) if isinstance(data, list) else -1


def history_evidence(data_dir: Path, db_path: Path) -> list[str]:
    """Signs that a ledger existed: mirrors with entries, dated history files, an orphan WAL."""
    found = []
    for rel in (PAPER_TRADES, PORTFOLIO_HISTORY):
        count = _entry_count(data_dir / rel)
        if count is not None and count != 0:
            found.append(f"{rel} with {count} entries" if count > 0 else f"{rel} (unreadable)")
    dated = sum(1 for pattern in HISTORY_GLOBS for _ in data_dir.glob(pattern))
    if dated:
        found.append(f"{dated} dated history file(s)")
    wal = database_files(db_path)[1]
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            found.append(f"{wal.name} without its database")
    return found


@contextlib.contextmanager
def _checking_connection(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection for the checks; immutable (creates nothing) without a -wal."""
    wal = database_files(db_path)[1]
    # with a -wal left by a crash the commits in it must be read (and checked) too
    immutable = "" if wal.exists() else "&immutable=1"
    uri = f"file:{quote(str(db_path))}?mode=ro{immutable}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def inspect_database(db_path: Path) -> DatabaseState:
    """Whether db_path exists, its size and whether it holds a ledger; refuses odd files."""
    try:
        info = db_path.stat()
    except FileNotFoundError:
        return DatabaseState(False, 0, False)
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseRefused(f"database {db_path} is not a regular file")
    if info.st_size == 0:
        return DatabaseState(True, 0, False)
    try:
        with _checking_connection(db_path) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error as exc:
        raise DatabaseRefused(
            f"database {db_path} is damaged or not a database ({exc}); nothing was written;"
            f" {_restore(db_path)}"
        ) from exc
    if version == 0 and tables:
        raise DatabaseRefused(f"{db_path} is not a prescientd database (it has other tables)")
    return DatabaseState(True, info.st_size, version > 0)


def quick_check(db_path: Path) -> None:
    """PRAGMA quick_check; DatabaseRefused with its first finding when it is not 'ok'."""
    try:
        with _checking_connection(db_path) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        finding = str(exc)
    else:
        if [tuple(r) for r in rows] == [("ok",)]:
            return
        finding = " ".join(str(rows[0][0]).split()) + (
            f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""
        )
    raise DatabaseRefused(
        f"database {db_path} is damaged: its integrity check failed ({finding[:200]});"
        f" nothing was written; {_restore(db_path)}"
    )


def _ledger_counts(db_path: Path) -> tuple[int, int]:
    with _checking_connection(db_path) as conn:
        row = conn.execute(
            "SELECT (SELECT COUNT(*) FROM trades) + (SELECT COUNT(*) FROM settlements),"
            " (SELECT COUNT(*) FROM portfolio_snapshots)"
        ).fetchone()
    return int(row[0]), int(row[1])


def check_mirrors_not_ahead(db_path: Path, data_dir: Path) -> None:
    """Refuse a database with fewer entries than its append-only mirrors list."""
    entries, snapshots = _ledger_counts(db_path)
    for rel, held in ((PAPER_TRADES, entries), (PORTFOLIO_HISTORY, snapshots)):
        listed = _entry_count(data_dir / rel)
        if listed is not None and listed > held:
            raise DatabaseRefused(
                f"database {db_path} has {held} entries for {rel} but the file lists {listed}:"
                f" the database is older than its mirrors (a restored backup?); move"
                f" {data_dir / rel} aside (it records what the database lacks) and start again"
            )


def _refuse_new_ledger(db_path: Path, data_dir: Path, state: DatabaseState) -> None:
    evidence = history_evidence(data_dir, db_path)
    if not evidence:
        return
    what = (
        "does not exist"
        if not state.exists
        else "is empty (0 bytes)"
        if state.size_bytes == 0
        else "holds no ledger"
    )
    raise DatabaseRefused(
        f"database {db_path} {what} but {data_dir} holds history ({'; '.join(evidence)});"
        f" refusing to start a new ledger over it: {_restore(db_path)}, or move {data_dir}"
        " aside to start afresh"
    )


def prepare_for_write(db_path: Path, data_dir: Path) -> bool:
    """Check the database before a command writes to it; True when it is to be created now.

    Creating is allowed only when there is no history; the new file is made 0640 here, so the
    -wal and -shm SQLite makes beside it get the same mode.
    """
    state = inspect_database(db_path)
    if not state.has_ledger:
        _refuse_new_ledger(db_path, data_dir, state)
        if not state.exists:
            make_dirs(db_path.parent)
            os.close(open_private(db_path, os.O_WRONLY | os.O_EXCL))
        restrict_file(db_path)
        return True
    quick_check(db_path)
    check_mirrors_not_ahead(db_path, data_dir)
    for path in database_files(db_path):
        restrict_file(path)
    return False


def check_for_read(db_path: Path, *, full: bool) -> None:
    """Before `status` (full=False) or `export` (full=True): a database with a ledger, sound."""
    state = inspect_database(db_path)
    if not state.exists:
        raise DatabaseRefused(f"database {db_path} does not exist yet")
    if not state.has_ledger:
        what = "is empty (0 bytes)" if state.size_bytes == 0 else "holds no ledger"
        raise DatabaseRefused(f"database {db_path} {what}; {_restore(db_path)}")
    if full:
        quick_check(db_path)
