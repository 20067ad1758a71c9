"""Polls, price snapshots, the current quote of every token and the daily bars built from them.

A poll writes what changed, not what it fetched (store/poll_plan.py): at the full universe most of
160,000 quotes repeat the previous poll's. The store keeps each token's fingerprints in memory to
decide, reads them once per process (one scan), and keeps them in step with every poll it records
(dropped if a poll fails). Snapshots go to the day's partition (store/retention.py), and the day's
bars are updated in the same transaction, so the evening reads one row per token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import Quote
from prescientd.store.bars import SNAPSHOTS, BarTables
from prescientd.store.codec import from_micro, opt_from_micro, price_from_micro
from prescientd.store.connection import IN_CHUNK, Tables
from prescientd.store.poll_plan import (
    CONTENT_COLUMNS,
    OK,
    Known,
    PollPlan,
    plan_poll,
    stored_fingerprints,
)
from prescientd.store.rows import QuoteRow

_CONTENT = CONTENT_COLUMNS
# parameters: (token_key, at, at, *content)
_NEW_QUOTE = (
    f"INSERT INTO quote_status (token_key, fetched_at, status_at, live, status,"
    f" {', '.join(_CONTENT)}) VALUES (?, ?, ?, 1, 'ok', {', '.join('?' * len(_CONTENT))})"
)
# parameters: (at, at, *content, token_key); status_at says since when the status holds
_CHANGED_QUOTE = (
    "UPDATE quote_status SET fetched_at = ?, live = 1, status = 'ok',"
    " status_at = CASE WHEN status = 'ok' THEN status_at ELSE ? END, "
    + ", ".join(f"{c} = ?" for c in _CONTENT)
    + " WHERE token_key = ?"
)
# A live ok row was fetched by the previous poll: that is its last good fetch from now on.
_NOT_OK = (
    "UPDATE quote_status SET fetched_at = CASE WHEN live = 1 AND status = 'ok'"
    " THEN COALESCE(?, fetched_at) ELSE fetched_at END, live = 1,"
    " status_at = CASE WHEN status = ? THEN status_at ELSE ? END, status = ? WHERE token_key = ?"
)
_DROPPED = (
    "UPDATE quote_status SET fetched_at = CASE WHEN status = 'ok' THEN COALESCE(?, fetched_at)"
    " ELSE fetched_at END, live = 0 WHERE token_key = ?"
)
# A live ok row was fetched again by the latest poll (it is written only when it changes).
_QUOTE_SELECT = (
    "SELECT t.token_id, q.status, q.status_at, CASE WHEN q.live = 1 AND q.status = 'ok' THEN"
    " COALESCE((SELECT fetched_at FROM polls ORDER BY id DESC LIMIT 1), q.fetched_at)"
    f" ELSE q.fetched_at END, {', '.join('q.' + c for c in _CONTENT)}"
    " FROM quote_status q JOIN price_tokens t ON t.token_key = q.token_key"
)
_KNOWN_SELECT = (
    f"SELECT t.token_id, q.token_key, q.status, q.live, {', '.join('q.' + c for c in _CONTENT)}"
    " FROM quote_status q JOIN price_tokens t ON t.token_key = q.token_key"
)
# a full scan beats this many chunked IN (...) look-ups
_SCAN_ABOVE = 4 * IN_CHUNK


@dataclass
class _QuoteState:
    """The in-memory mirror of quote_status (fingerprints) and of today's bar keys."""

    known: dict[str, Known]
    live: set[int]
    next_key: int
    last_poll_at: str | None
    bar_date: str | None = None
    bar_keys: set[int] = field(default_factory=set)


def _known_from_row(row: sqlite3.Row) -> Known:
    price_fp, content_fp = stored_fingerprints({c: row[c] for c in _CONTENT})
    status = row["status"]
    return Known(
        key=int(row["token_key"]),
        price_fp=price_fp,
        content_fp=content_fp,
        status=OK if status == OK else str(status),
        live=bool(row["live"]),
    )


class PriceTables(BarTables, Tables):
    """polls, price_tokens, quote_status, snapshot partitions and price_bars."""

    _quote_state: _QuoteState | None = None

    async def _state(self) -> _QuoteState:
        if self._quote_state is None:
            # read in chunks: 160,000 rows of 19 columns held at once cost ~150 MB for a moment.
            # This store is the only writer and has not written yet, so the reads agree.
            known: dict[str, Known] = {}
            async for rows in self.db.read_stream(_KNOWN_SELECT, chunk_rows=10_000):
                known.update((row["token_id"], _known_from_row(row)) for row in rows)
            last, top = await self.db.read_consistent(
                ("SELECT fetched_at FROM polls ORDER BY id DESC LIMIT 1", ()),
                ("SELECT COALESCE(MAX(token_key), 0) FROM price_tokens", ()),
            )
            self._quote_state = _QuoteState(
                known=known,
                live={k.key for k in known.values() if k.live},
                next_key=int(top[0][0]) + 1,
                last_poll_at=last[0][0] if last else None,
            )
        return self._quote_state

    async def record_poll(
        self,
        *,
        run_id: str,
        fetched_at: datetime,
        local_date: str,
        quotes: Mapping[str, Quote],
        missing: Iterable[str],
        rejected: Iterable[str],
        requests: int,
        tokens_requested: int,
    ) -> int:
        """Store a poll (one transaction): what changed, a snapshot where prices moved.

        local_date is the poll's date in the configured timezone: it names the snapshot
        partition and the bars the poll updates. Returns the number of snapshots appended.
        """
        at = iso_utc(fetched_at)
        missing_list = sorted(set(missing))
        rejected_list = sorted(set(rejected))
        state = await self._state()
        bar_keys = await self._bar_keys(state, local_date)
        plan = plan_poll(
            quotes, missing_list, rejected_list, state.known, state.live, bar_keys, state.next_key
        )
        counts = (len(quotes), len(missing_list), len(rejected_list), requests, tokens_requested)

        async def body(conn: aiosqlite.Connection) -> None:
            poll_id = await _insert_poll(conn, run_id, at, counts, len(plan.snapshots))
            if plan.new_tokens:
                await conn.executemany(
                    "INSERT INTO price_tokens (token_key, token_id) VALUES (?, ?)", plan.new_tokens
                )
            # before the quote rows change: they hold the carried (last snapshot's) prices
            await self._insert_carried(conn, local_date, plan.carried_bars)
            await _write_quotes(conn, plan, at, state.last_poll_at)
            if plan.snapshots:
                table = await SNAPSHOTS.ensure(conn, local_date)
                await conn.executemany(
                    f"INSERT INTO {table} (poll_id, token_key, best_bid, best_ask, mid, display,"
                    " last_trade) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(poll_id, *snap) for snap in plan.snapshots],
                )
            await self._write_bars(conn, local_date, plan)

        try:
            await self.db.write(body)
        except BaseException:
            self._quote_state = None  # the cache may not match what was committed
            raise
        state.known.update(plan.known)
        state.live = plan.live
        state.next_key = plan.next_key
        state.last_poll_at = at
        bar_keys.update(plan.carried_bars)
        bar_keys.update(plan.new_bars)
        return len(plan.snapshots)

    async def _bar_keys(self, state: _QuoteState, local_date: str) -> set[int]:
        if state.bar_date != local_date:
            state.bar_keys = await self.bar_keys(local_date)
            state.bar_date = local_date
        return state.bar_keys

    async def latest_quotes(self, token_ids: Iterable[str] | None = None) -> dict[str, QuoteRow]:
        """The latest fetched quote per token (all tokens when token_ids is None).

        One statement: a full scan when many tokens are asked for, chunked look-ups when few.
        """
        wanted = None if token_ids is None else set(token_ids)
        if wanted is None or len(wanted) > _SCAN_ABOVE:
            rows = await self.db.read(_QUOTE_SELECT)
        else:
            rows = await self.db.read_in(f"{_QUOTE_SELECT} WHERE t.token_id IN ({{ids}})", wanted)
        times: dict[str, datetime] = {}  # most rows share the latest poll's time
        return {
            row[0]: _quote_row(row, times) for row in rows if wanted is None or row[0] in wanted
        }

    async def last_poll(self) -> tuple[datetime, int, int, int] | None:
        """(fetched_at, books, missing, rejected) of the latest successful poll."""
        row = await self.db.read_one(
            "SELECT fetched_at, books, missing, rejected FROM polls ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        return parse_iso_utc(row[0]), row[1], row[2], row[3]

    async def last_prices(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """The last known price of each token: its last best bid, else display, else mid."""
        rows = await self.latest_quotes(token_ids)
        return {t: p for t, r in rows.items() if (p := last_price(r.quote)) is not None}


def last_price(quote: Quote) -> Decimal | None:
    """A token's last known price: its best bid, else its display price, else its mid."""
    for price in (quote.best_bid, quote.display, quote.mid):
        if price is not None:
            return price
    return None


def _quote_row(row: sqlite3.Row, times: dict[str, datetime]) -> QuoteRow:
    """A _QUOTE_SELECT row (by position: 160,000 of them are read for a mirror)."""

    def when(text: str) -> datetime:
        found = times.get(text)
        if found is None:
            found = times[text] = parse_iso_utc(text)
        return found

    price = price_from_micro
    quote = Quote(
        token_id=row[0],
        best_bid=price(row[6]),
        best_ask=price(row[7]),
        mid=price(row[8]),
        spread=opt_from_micro(row[9]),
        display=price(row[10]),
        last_trade=price(row[11]),
        bid_depth_shares=from_micro(row[12]),
        bid_depth_usd=from_micro(row[13]),
        ask_depth_shares=from_micro(row[14]),
        ask_depth_usd=from_micro(row[15]),
        tick_size=price(row[16]),
        min_order_size=opt_from_micro(row[17]),
        book_timestamp_ms=row[4],
        book_hash=row[5],
        fetched_at=when(row[3]),
    )
    return QuoteRow(quote, row[1], when(row[2]))


async def _insert_poll(
    conn: aiosqlite.Connection,
    run_id: str,
    at: str,
    counts: tuple[int, int, int, int, int],
    snapshots: int,
) -> int:
    books, missing, rejected, requests, tokens = counts
    cur = await conn.execute(
        "INSERT INTO polls (run_id, fetched_at, tokens, books, missing, rejected, snapshots,"
        " requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, at, tokens, books, missing, rejected, snapshots, requests),
    )
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


async def _write_quotes(
    conn: aiosqlite.Connection, plan: PollPlan, at: str, last_poll_at: str | None
) -> None:
    """The quote rows that changed: new, rewritten, no longer ok, no longer polled."""
    await conn.executemany(_NEW_QUOTE, [(key, at, at, *row) for key, row in plan.new_quotes])
    await conn.executemany(
        _CHANGED_QUOTE, [(at, at, *row, key) for key, row in plan.changed_quotes]
    )
    await conn.executemany(
        _NOT_OK, [(last_poll_at, status, at, status, key) for status, key in plan.statuses]
    )
    await conn.executemany(_DROPPED, [(last_poll_at, key) for key in plan.dropped])
