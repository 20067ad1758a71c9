"""Day-partitioned time series and their retention: the only code that removes history.

A partitioned series keeps one table per local day, `<base>_YYYYMMDD`, created by the first
write of that day and append-only by trigger like every ledger table. Retention never deletes a
row: it drops a whole day's table once the day is older than `keep_days` and the series says the
day has been collapsed into its long-lived summary (for price snapshots: the daily bars). A
`DROP TABLE` cannot touch another table, so the money ledger's append-only triggers are never
bypassed, and the pages it frees are reused by the next days' tables: the file stays at its
high-water mark (keep_days of history plus the summaries) without VACUUM.

Any other time series (the recorded books of DESIGN §10) gets the same guarantees by declaring
a `DayPartitions` with its columns and its own `collapsed` check.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import aiosqlite

# A partition's columns, e.g. "poll_id INTEGER NOT NULL, ..., PRIMARY KEY (poll_id, token_key)".
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class DayPartitions:
    """A series stored as one append-only table per local day."""

    base: str
    columns: str
    without_rowid: bool = True
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _IDENT.match(self.base):
            raise ValueError(f"bad partition base name {self.base!r}")
        object.__setattr__(self, "_pattern", re.compile(rf"^{self.base}_(\d{{8}})$"))

    def table(self, local_date: str) -> str:
        """The table of one local date (YYYY-MM-DD)."""
        day = date.fromisoformat(local_date)
        return f"{self.base}_{day:%Y%m%d}"

    def day_of(self, table: str) -> date | None:
        """The local date a table of this series holds, or None when it is not one of them."""
        found = self._pattern.match(table)
        if found is None:
            return None
        digits = found.group(1)
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            return None

    async def ensure(self, conn: aiosqlite.Connection, local_date: str) -> str:
        """Create the day's table with its append-only triggers if missing; return its name."""
        name = self.table(local_date)
        options = "STRICT, WITHOUT ROWID" if self.without_rowid else "STRICT"
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {name} ({self.columns}) {options}")
        for op in ("UPDATE", "DELETE"):
            await conn.execute(
                f"CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON {name}"
                f" BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END"
            )
        return name

    def list_sql(self) -> tuple[str, tuple[str]]:
        """A query for the names of the tables that may be partitions (filter with `of_names`)."""
        return "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE ?", (
            f"{self.base}_%",
        )

    def of_names(self, names: Iterable[str]) -> dict[date, str]:
        """The partitions among table names: local date -> table name."""
        found = {self.day_of(name): name for name in names}
        return {day: name for day, name in found.items() if day is not None}

    async def days(self, conn: aiosqlite.Connection) -> dict[date, str]:
        """Every existing partition: local date -> table name."""
        sql, params = self.list_sql()
        async with conn.execute(sql, params) as cur:
            return self.of_names(str(row[0]) for row in await cur.fetchall())


def oldest_kept(today: date, keep_days: int) -> date:
    """The oldest local date kept at full resolution: keep_days whole days before today."""
    return today - timedelta(days=keep_days)


Collapsed = Callable[[aiosqlite.Connection, date, str], Awaitable[bool]]


async def drop_expired(
    conn: aiosqlite.Connection,
    series: DayPartitions,
    first_kept: date,
    collapsed: Collapsed,
) -> tuple[list[str], list[str]]:
    """Drop the series' tables of days before first_kept whose summary exists (one transaction).

    A day not yet collapsed is kept and reported: history is never removed before its summary.
    """
    dropped: list[str] = []
    kept: list[str] = []
    for day, table in sorted((await series.days(conn)).items()):
        if day >= first_kept:
            continue
        if not await collapsed(conn, day, table):
            kept.append(table)
            continue
        await conn.execute(f"DROP TABLE {table}")  # its triggers go with it
        dropped.append(table)
    return dropped, kept


async def freelist_pages(conn: aiosqlite.Connection) -> int:
    """Pages free for reuse inside the file."""
    async with conn.execute("PRAGMA freelist_count") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0
