"""Polls, price snapshots and the current quote of every token, with daily bars built from them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import Quote
from prescientd.store.codec import from_micro, opt_from_micro
from prescientd.store.connection import Tables
from prescientd.store.rows import QUOTES, Ohlc, PriceBar, QuoteRow, insert_sql

# What history and daily bars are made of: a snapshot is appended only when one of these changes.
PRICE_KEY_COLUMNS = ("best_bid", "best_ask", "last_trade", "display")
PriceKey = tuple[int | None, ...]

_BOOK_COLUMNS = QUOTES.names(without=("token_id", "fetched_at"))
_SNAPSHOT_INSERT = insert_sql("price_snapshots", ["id", "token_id", "fetched_at", *_BOOK_COLUMNS])
# snapshot_id stays at the last price change when the prices did not move
_STATUS_UPSERT = (
    f"INSERT INTO quote_status (token_id, snapshot_id, fetched_at, status, status_at,"
    f" {', '.join(_BOOK_COLUMNS)}) VALUES (:token_id, COALESCE(:snapshot_id, (SELECT snapshot_id"
    f" FROM quote_status WHERE token_id = :token_id)), :fetched_at, 'ok', :fetched_at,"
    f" {', '.join(':' + c for c in _BOOK_COLUMNS)}) ON CONFLICT (token_id) DO UPDATE SET"
    " snapshot_id=excluded.snapshot_id, fetched_at=excluded.fetched_at, status='ok',"
    " status_at=excluded.status_at, " + ", ".join(f"{c}=excluded.{c}" for c in _BOOK_COLUMNS)
)
# Tokens polled that day: snapshots in the day, or fetched since its start. Each one's last
# snapshot before the day is found through the (token_id, id) index, newest first.
_CARRIED_BARS = (
    "SELECT s.token_id, s.mid, s.display, s.best_bid, s.best_ask FROM ("
    " SELECT (SELECT p.id FROM price_snapshots p WHERE p.token_id = t.token_id"
    "  AND p.fetched_at < ? ORDER BY p.id DESC LIMIT 1) AS sid FROM ("
    "  SELECT token_id FROM quote_status WHERE fetched_at >= ?"
    "  UNION SELECT token_id FROM price_snapshots WHERE fetched_at >= ? AND fetched_at < ?"
    " ) t) c JOIN price_snapshots s ON s.id = c.sid"
)
_DAY_BARS = (
    "SELECT token_id, mid, display, best_bid, best_ask FROM price_snapshots"
    " WHERE fetched_at >= ? AND fetched_at < ? ORDER BY id"
)


@dataclass
class _Series:
    values: list[Decimal] = field(default_factory=list)

    def build(self) -> Ohlc:
        v = self.values
        return Ohlc(v[0], max(v), min(v), v[-1]) if v else Ohlc(None, None, None, None)


@dataclass
class _Bar:
    mid: _Series = field(default_factory=_Series)
    display: _Series = field(default_factory=_Series)
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


def _poll_rows(
    quotes: Mapping[str, Quote], known: Mapping[str, PriceKey], at: str, next_id: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, PriceKey]]:
    """(snapshot rows, quote-status rows, changed price keys): a snapshot where prices moved."""
    inserts: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    changed: dict[str, PriceKey] = {}
    for token_id, quote in quotes.items():
        values = {**QUOTES.encode(quote), "token_id": token_id, "fetched_at": at}
        key = tuple(values[c] for c in PRICE_KEY_COLUMNS)
        snapshot_id: int | None = None
        if known.get(token_id) != key:
            snapshot_id = next_id
            inserts.append({**values, "id": next_id})
            changed[token_id] = key
            next_id += 1
        statuses.append({**values, "snapshot_id": snapshot_id})
    return inserts, statuses, changed


class PriceTables(Tables):
    """polls, price_snapshots and quote_status, with the snapshot-key cache.

    Deciding whether a token's prices changed needs its last snapshot's prices; they are read once
    and then kept in step with every poll this store records (dropped if a poll fails).
    """

    _snapshot_keys: dict[str, PriceKey] | None = None

    async def _known_keys(self) -> dict[str, PriceKey]:
        if self._snapshot_keys is None:
            columns = ", ".join(f"s.{c}" for c in PRICE_KEY_COLUMNS)
            rows = await self.db.read(
                f"SELECT s.token_id, {columns} FROM quote_status q"
                " JOIN price_snapshots s ON s.id = q.snapshot_id"
            )
            self._snapshot_keys = {row[0]: tuple(row[1:]) for row in rows}
        return self._snapshot_keys

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
        known = await self._known_keys()

        async def body(conn: aiosqlite.Connection) -> tuple[int, dict[str, PriceKey]]:
            async with conn.execute("SELECT COALESCE(MAX(id), 0) FROM price_snapshots") as cur:
                row = await cur.fetchone()
            next_id = int(row[0]) + 1 if row else 1
            inserts, statuses, changed = _poll_rows(quotes, known, at, next_id)
            await conn.executemany(_SNAPSHOT_INSERT, inserts)
            await conn.executemany(_STATUS_UPSERT, statuses)
            for status, tokens in (("missing", missing_list), ("rejected", rejected_list)):
                await conn.executemany(
                    "UPDATE quote_status SET status=?, status_at=? WHERE token_id=?",
                    [(status, at, t) for t in tokens],
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
            inserted, changed = await self.db.write(body)
        except BaseException:
            self._snapshot_keys = None  # the cache may not match what was committed
            raise
        known.update(changed)
        return inserted

    async def latest_quotes(self, token_ids: Iterable[str] | None = None) -> dict[str, QuoteRow]:
        """The latest fetched quote per token (all tokens when token_ids is None)."""
        sql = "SELECT * FROM quote_status"
        if token_ids is None:
            rows = await self.db.read(sql)
        else:
            rows = await self.db.read_in(f"{sql} WHERE token_id IN ({{ids}})", token_ids)
        return {
            row["token_id"]: QuoteRow(
                QUOTES.decode(row), row["status"], parse_iso_utc(row["status_at"])
            )
            for row in rows
        }

    async def last_poll(self) -> tuple[datetime, int, int, int] | None:
        """(fetched_at, books, missing, rejected) of the latest successful poll."""
        row = await self.db.read_one(
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
        carried, rows = await self.db.read_consistent(
            (_CARRIED_BARS, (lo, lo, lo, hi)), (_DAY_BARS, (lo, hi))
        )
        bars: dict[str, _Bar] = {}
        for row in [*carried, *rows]:
            bars.setdefault(row["token_id"], _Bar()).add(row)
        for row in rows:
            bars[row["token_id"]].snapshots += 1
        return [bar.build(token) for token, bar in sorted(bars.items())]

    async def last_prices(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """The last known price of each token: its last best bid, else display, else mid."""
        rows = await self.db.read_in(
            "SELECT token_id, COALESCE(best_bid, display, mid) AS p FROM quote_status"
            " WHERE token_id IN ({ids})",
            token_ids,
        )
        return {row["token_id"]: from_micro(row["p"]) for row in rows if row["p"] is not None}
