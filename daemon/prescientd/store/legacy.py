"""The v1 snapshot table, collapsed into daily bars once (at start-up after the upgrade).

Schema v1 kept every snapshot in one table with no bars; a bar needs the local date of each
snapshot, so this runs where the timezone is known (runtime.open_store), before any job. One pass
over the table in (token, id) order: each token's rows arrive oldest first, so the snapshot
carried into a day is simply the one before it. The bars are those the v1 evening computed (OHLC
of mid and display over the carried snapshot and the day's, last bid/ask, snapshot count), for
every day a token had snapshots, plus the day of its last fetch. Idempotent (INSERT OR IGNORE,
deterministic), marked done in `meta`; the table itself is dropped by the retention job once its
newest snapshot is older than keep_days.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import aiosqlite
import structlog

from prescientd.clock import parse_iso_utc
from prescientd.store.bars import BAR_INSERT, LEGACY_SNAPSHOTS
from prescientd.store.connection import Tables

log = structlog.get_logger(__name__)

DONE_KEY = "legacy_bars"
_WRITE_BATCH = 20_000
Prices = tuple[int | None, int | None, int | None, int | None]  # mid, display, bid, ask


@dataclass
class _Series:
    values: list[int] = field(default_factory=list)

    def add(self, value: int | None) -> None:
        if value is not None:
            self.values.append(value)

    def ohlc(self) -> tuple[int | None, ...]:
        v = self.values
        return (v[0], max(v), min(v), v[-1]) if v else (None, None, None, None)


def fold_bar(carried: Prices | None, day_rows: Iterable[Prices]) -> tuple[int | None, ...]:
    """The bar columns (BAR_COLUMNS order) of a day: carried snapshot first, then the day's."""
    mid, display = _Series(), _Series()
    last: Prices | None = carried
    for row in [*([carried] if carried else []), *day_rows]:
        mid.add(row[0])
        display.add(row[1])
        last = row
    return (*mid.ohlc(), *display.ohlc(), last[2] if last else None, last[3] if last else None)


class LegacyPrices(Tables):
    """Collapse the v1 price_snapshots table into price_bars."""

    async def collapse_legacy_snapshots(self, tz: ZoneInfo) -> int:
        """Bars for the v1 table's days (once); returns the number of bars written."""
        done, table = await self.db.read_consistent(
            ("SELECT value FROM meta WHERE key = ?", (DONE_KEY,)),
            ("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (LEGACY_SNAPSHOTS,)),
        )
        if not table or (done and done[0][0] == "done"):
            return 0  # the v1 table is gone, or already collapsed
        if await self.db.read_one(f"SELECT 1 FROM {LEGACY_SNAPSHOTS} LIMIT 1") is None:
            await self._drop_empty_legacy()
            return 0
        keys = {
            row[0]: int(row[1])
            for row in await self.db.read("SELECT token_id, token_key FROM price_tokens")
        }
        last_fetch = {
            row[0]: row[1]
            for row in await self.db.read(
                "SELECT t.token_id, q.fetched_at FROM quote_status q"
                " JOIN price_tokens t ON t.token_key = q.token_key"
            )
        }
        days: dict[str, str] = {}  # fetched_at -> local date (a poll's rows share fetched_at)

        def local_date(at: str) -> str:
            found = days.get(at)
            if found is None:
                found = days[at] = parse_iso_utc(at).astimezone(tz).date().isoformat()
            return found

        folder = _Folder(keys, last_fetch, local_date)
        written = 0
        async for rows in self.db.read_stream(
            "SELECT token_id, fetched_at, mid, display, best_bid, best_ask"
            f" FROM {LEGACY_SNAPSHOTS} ORDER BY token_id, id"
        ):
            for row in rows:
                folder.add(row)
            if len(folder.bars) >= _WRITE_BATCH:
                written += await self._insert_bars(folder.take())
        folder.finish()
        written += await self._insert_bars(folder.take())

        async def mark(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, 'done')", (DONE_KEY,)
            )

        await self.db.write(mark)
        log.info("legacy_snapshots_collapsed", bars=written, days=len(set(days.values())))
        return written

    async def _drop_empty_legacy(self) -> None:
        """A database that never stored v1 snapshots has nothing to collapse or keep."""

        async def body(conn: aiosqlite.Connection) -> None:
            async with conn.execute(f"SELECT 1 FROM {LEGACY_SNAPSHOTS} LIMIT 1") as cur:
                if await cur.fetchone() is None:  # checked again inside the transaction
                    await conn.execute(f"DROP TABLE {LEGACY_SNAPSHOTS}")

        await self.db.write(body)

    async def _insert_bars(self, bars: list[tuple[object, ...]]) -> int:
        if not bars:
            return 0

        async def body(conn: aiosqlite.Connection) -> int:
            await conn.executemany(BAR_INSERT.replace("INSERT", "INSERT OR IGNORE", 1), bars)
            return len(bars)

        return await self.db.write(body)


class _Folder:
    """Turns one token's rows (oldest first) into its bars, token after token."""

    def __init__(
        self, keys: dict[str, int], last_fetch: dict[str, str], local_date: Callable[[str], str]
    ) -> None:
        self.keys = keys
        self.last_fetch = last_fetch
        self.local_date = local_date
        self.bars: list[tuple[object, ...]] = []
        self._token: str | None = None
        self._carried: Prices | None = None
        self._day: str | None = None
        self._rows: list[Prices] = []
        self._last_day: str | None = None

    def add(self, row: sqlite3.Row) -> None:
        token = row[0]
        if token != self._token:
            self._end_token()
            self._token, self._carried, self._day, self._rows = token, None, None, []
        day = self.local_date(row[1])
        if day != self._day:
            self._end_day()
            self._day = day
        self._rows.append((row[2], row[3], row[4], row[5]))

    def finish(self) -> None:
        self._end_token()
        self._token = None

    def take(self) -> list[tuple[object, ...]]:
        taken, self.bars = self.bars, []
        return taken

    def _end_day(self) -> None:
        if self._day is None or not self._rows:
            return
        self._emit(self._day, self._carried, self._rows)
        self._carried = self._rows[-1]
        self._rows = []

    def _end_token(self) -> None:
        if self._token is None:
            return
        last_day = self._day
        self._end_day()
        # the day of the token's last fetch has a bar even when its prices did not move that day
        fetched = self.last_fetch.get(self._token)
        if fetched is not None and self._carried is not None:
            fetch_day = self.local_date(fetched)
            if last_day is not None and fetch_day > last_day:
                self._emit(fetch_day, self._carried, [])

    def _emit(self, day: str, carried: Prices | None, rows: list[Prices]) -> None:
        assert self._token is not None
        key = self.keys.get(self._token)
        if key is None:
            return
        self.bars.append((day, key, *fold_bar(carried, rows), len(rows)))
