"""Daily price bars, kept up to date by every poll, and the retention of the snapshots under them.

A bar is one (local date, token): OHLC of the mid and of the display price over the day's
snapshots, the last bid/ask and the snapshot count. Snapshots are appended only when prices move,
so a token fetched on a day opens at its last snapshot before the day (the "carried" values, which
the current quote row holds); its bar is created by the first poll that fetches it that day and
updated only by the polls in which its prices move. The evening reads the day's bars, never the
snapshots; once the snapshots are older than `[record] keep_days`, their partition is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from prescientd.clock import iso_utc
from prescientd.store.codec import price_from_micro
from prescientd.store.connection import Tables
from prescientd.store.poll_plan import PollPlan
from prescientd.store.retention import DayPartitions, drop_expired, freelist_pages
from prescientd.store.rows import Ohlc, PriceBar

SNAPSHOTS = DayPartitions(
    "price_snapshots",
    "poll_id INTEGER NOT NULL, token_key INTEGER NOT NULL,"
    " best_bid INTEGER CHECK (best_bid BETWEEN 0 AND 1000000),"
    " best_ask INTEGER CHECK (best_ask BETWEEN 0 AND 1000000),"
    " mid INTEGER CHECK (mid BETWEEN 0 AND 1000000),"
    " display INTEGER CHECK (display BETWEEN 0 AND 1000000),"
    " last_trade INTEGER CHECK (last_trade BETWEEN 0 AND 1000000),"
    " PRIMARY KEY (poll_id, token_key)",
)
LEGACY_SNAPSHOTS = "price_snapshots"  # the v1 table, read-only since schema v3
BAR_COLUMNS = (
    "mid_open",
    "mid_high",
    "mid_low",
    "mid_close",
    "display_open",
    "display_high",
    "display_low",
    "display_close",
    "last_bid",
    "last_ask",
    "snapshots",
)
BAR_INSERT = (
    f"INSERT INTO price_bars (local_date, token_key, {', '.join(BAR_COLUMNS)})"
    f" VALUES (?, ?, {', '.join('?' * len(BAR_COLUMNS))})"
)
# The bar of a token first fetched today: its last snapshot's prices, held by its quote row
# (read before this poll rewrites it).
_CARRIED_INSERT = (
    f"INSERT INTO price_bars (local_date, token_key, {', '.join(BAR_COLUMNS)})"
    " SELECT ?, token_key, mid, mid, mid, mid, display, display, display, display,"
    " best_bid, best_ask, 0 FROM quote_status WHERE token_key = ?"
)


def _folded(series: str, n: int) -> str:
    # OHLC of the series' non-null values: SQLite's max()/min() of a NULL are NULL, hence COALESCE
    # (?n is the new value)
    return (
        f"{series}_open = COALESCE({series}_open, ?{n}),"
        f" {series}_high = COALESCE(max({series}_high, ?{n}), {series}_high, ?{n}),"
        f" {series}_low = COALESCE(min({series}_low, ?{n}), {series}_low, ?{n}),"
        f" {series}_close = COALESCE(?{n}, {series}_close)"
    )


# parameters: (mid, display, bid, ask, local_date, token_key)
_BAR_UPDATE = (
    f"UPDATE price_bars SET {_folded('mid', 1)}, {_folded('display', 2)}, last_bid = ?3,"
    " last_ask = ?4, snapshots = snapshots + 1 WHERE local_date = ?5 AND token_key = ?6"
)
_DAY_BARS = (
    f"SELECT t.token_id, {', '.join('b.' + c for c in BAR_COLUMNS)} FROM price_bars b"
    " JOIN price_tokens t ON t.token_key = b.token_key WHERE b.local_date = ?"
)


@dataclass(frozen=True, slots=True)
class Retained:
    """What one retention pass did."""

    dropped: tuple[str, ...]
    kept_uncollapsed: tuple[str, ...]
    freed_bytes: int


async def _has_bars(conn: aiosqlite.Connection, day: date, table: str) -> bool:
    """A day's snapshots are collapsed when it has bars (written with them), or none to collapse."""
    async with conn.execute(
        "SELECT EXISTS (SELECT 1 FROM price_bars WHERE local_date = ?)", (day.isoformat(),)
    ) as cur:
        row = await cur.fetchone()
    if row is not None and row[0]:
        return True
    async with conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})") as cur:
        row = await cur.fetchone()
    return row is None or not row[0]


async def _table_exists(conn: aiosqlite.Connection, name: str) -> bool:
    async with conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
    ) as cur:
        return await cur.fetchone() is not None


class BarTables(Tables):
    """price_bars, the snapshot partitions and their retention."""

    async def bar_keys(self, local_date: str) -> set[int]:
        """Token keys that have a bar on local_date."""
        rows = await self.db.read(
            "SELECT token_key FROM price_bars WHERE local_date = ?", (local_date,)
        )
        return {int(row[0]) for row in rows}

    @staticmethod
    async def _write_bars(conn: aiosqlite.Connection, local_date: str, plan: PollPlan) -> None:
        """The poll's bar changes (inside its transaction, after the carried bars)."""
        new = set(plan.new_bars)
        await conn.executemany(
            BAR_INSERT,
            [
                (local_date, key, mid, mid, mid, mid, disp, disp, disp, disp, bid, ask, 1)
                for key, bid, ask, mid, disp, _ in plan.snapshots
                if key in new
            ],
        )
        await conn.executemany(
            _BAR_UPDATE,
            [
                (mid, disp, bid, ask, local_date, key)
                for key, bid, ask, mid, disp, _ in plan.snapshots
                if key not in new
            ],
        )

    @staticmethod
    async def _insert_carried(conn: aiosqlite.Connection, local_date: str, keys: list[int]) -> None:
        await conn.executemany(_CARRIED_INSERT, [(local_date, key) for key in keys])

    async def daily_bars(self, local_date: str) -> list[PriceBar]:
        """Every token's bar of one local date (YYYY-MM-DD), by token id."""
        rows = await self.db.read(_DAY_BARS, (local_date,))
        bars = [
            PriceBar(
                row[0],
                Ohlc(*(price_from_micro(row[i]) for i in range(1, 5))),
                Ohlc(*(price_from_micro(row[i]) for i in range(5, 9))),
                price_from_micro(row[9]),
                price_from_micro(row[10]),
                int(row[11]),
            )
            for row in rows
        ]
        return sorted(bars, key=lambda bar: bar.token_id)

    async def snapshot_days(self) -> list[date]:
        """Local dates that still have snapshots at full resolution (partitions)."""
        sql, params = SNAPSHOTS.list_sql()
        rows = await self.db.read(sql, params)
        return sorted(SNAPSHOTS.of_names(str(row[0]) for row in rows))

    async def retain_price_history(self, first_kept: date, first_kept_at: datetime) -> Retained:
        """Drop snapshot partitions of days before first_kept (one transaction).

        first_kept_at is that day's first instant (UTC): the legacy v1 table is dropped whole
        once its newest snapshot is older and its days have been collapsed into bars.
        """

        async def body(conn: aiosqlite.Connection) -> Retained:
            free_before = await freelist_pages(conn)
            dropped, kept = await drop_expired(conn, SNAPSHOTS, first_kept, _has_bars)
            if await self._legacy_expired(conn, iso_utc(first_kept_at)):
                await conn.execute(f"DROP TABLE {LEGACY_SNAPSHOTS}")
                dropped.append(LEGACY_SNAPSHOTS)
            freed = await freelist_pages(conn) - free_before
            async with conn.execute("PRAGMA page_size") as cur:
                row = await cur.fetchone()
            page = int(row[0]) if row else 4096
            return Retained(tuple(dropped), tuple(kept), max(0, freed) * page)

        return await self.db.write(body)

    @staticmethod
    async def _legacy_expired(conn: aiosqlite.Connection, first_kept_at: str) -> bool:
        if not await _table_exists(conn, LEGACY_SNAPSHOTS):
            return False
        async with conn.execute(
            "SELECT (SELECT MAX(fetched_at) FROM price_snapshots),"
            " (SELECT value FROM meta WHERE key = 'legacy_bars')"
        ) as cur:
            row = await cur.fetchone()
        newest, collapsed = (row[0], row[1]) if row else (None, None)
        return newest is None or (collapsed == "done" and newest < first_kept_at)
