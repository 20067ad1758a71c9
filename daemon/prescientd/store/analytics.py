"""The reads behind the analytics report (DESIGN §11) and the evening's learning of resolutions.

- `resolution_candidates`: markets tracked recently, not yet in market_resolutions, that may
  have ended (left the eligible set, past their end date, closed or resolving on record, or a
  book found missing), with the hints the evening orders them by.
- `resolved_tracks`: every recorded resolution with its YES token's daily bars (first price,
  each day's close) and its event's tags: the calibration's observations.
- `ledger_with_versions`: trades (each with the config version of the signal it executed),
  settlements and fill levels, from one consistent snapshot.
- `event_children`: stored events with every child market Gamma listed (worst cases).
- `recorded_book`: see its docstring (the recording comes with the replay work).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import Book, Market, MarketResolution, Settlement, Trade
from prescientd.store.codec import market_from_json, price_from_micro
from prescientd.store.connection import Tables
from prescientd.store.resolutions import SOURCES
from prescientd.store.rows import SETTLEMENTS, TRADES

# Markets tracked since a refresh, not resolved on record, with the two hints; the outer WHERE
# keeps those with a sign of having ended (the decoding of the rest is never paid).
_CANDIDATES = """
SELECT data, eligible_now, book_missing FROM (
    SELECT m.data AS data,
           m.eligible_refresh_id = (SELECT MAX(id) FROM refreshes) AS eligible_now,
           EXISTS (SELECT 1 FROM market_tokens t
                   JOIN price_tokens p ON p.token_id = t.token_id
                   JOIN quote_status q ON q.token_key = p.token_key
                   WHERE t.market_id = m.market_id AND q.status = 'missing') AS book_missing,
           json_extract(m.data, '$.closed') AS closed,
           json_extract(m.data, '$.uma_resolution_status') AS uma,
           json_extract(m.data, '$.end_date') AS end_date
    FROM markets m
    WHERE m.eligible_refresh_id >= (SELECT MIN(id) FROM refreshes WHERE fetched_at >= ?)
      AND NOT EXISTS (SELECT 1 FROM market_resolutions r WHERE r.market_id = m.market_id)
)
WHERE NOT eligible_now OR book_missing OR closed OR uma IS NOT NULL OR end_date <= ?
"""
_RESOLVED = """
SELECT r.market_id, r.condition_id, r.learned_at, r.payouts, r.resolution, r.source,
       json_extract(m.data, '$.token_ids[0]') AS yes_token_id,
       json_extract(e.data, '$.tags') AS tags
FROM market_resolutions r
LEFT JOIN markets m ON m.market_id = r.market_id
LEFT JOIN events e ON e.event_id = m.event_id
ORDER BY r.id
"""
_BARS = """
SELECT t.token_id, b.local_date, COALESCE(b.display_open, b.mid_open) AS open_price,
       COALESCE(b.display_close, b.mid_close) AS close_price
FROM price_tokens t JOIN price_bars b ON b.token_key = t.token_key
WHERE t.token_id IN ({ids})
"""

_VERSIONED_TRADES = (
    "SELECT t.*, s.config_version AS signal_version FROM trades t"
    " LEFT JOIN signals s ON s.id = t.signal_id ORDER BY t.seq"
)


class CandidateRow(NamedTuple):
    """A resolution candidate as stored: the market and the two hints."""

    market: Market
    eligible_now: bool
    book_missing: bool


@dataclass(frozen=True, slots=True)
class DayPrice:
    """One local day of a token's bar: its first and last price (display, else mid)."""

    local_date: str
    open_price: Decimal | None
    close_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ResolvedTrack:
    """A recorded resolution with what calibration needs: the YES token, its days, the tags.

    yes_token_id is None when the market's record is gone (then there are no days).
    """

    resolution: MarketResolution
    yes_token_id: str | None
    tags: tuple[str, ...]
    days: tuple[DayPrice, ...]


@dataclass(frozen=True, slots=True)
class VersionedLedger:
    """Every trade (with its signal's config version when it has one), settlement and fill."""

    trades: list[Trade]
    config_versions: dict[int, int]  # trade id -> config version of the signal it executed
    settlements: list[Settlement]
    levels: dict[int, list[list[str]]]  # trade id -> [[price, shares, fees_usd], ...]


@dataclass(frozen=True, slots=True)
class EventChildren:
    """A stored event: title, negRisk, and every child market (id, question) Gamma listed."""

    event_id: str
    title: str
    neg_risk: bool
    children: tuple[tuple[str, str], ...]
    complete: bool


def _resolution(row: sqlite3.Row) -> MarketResolution:
    """A market_resolutions row read here (the table's own module is the shared spec's)."""
    payouts = json.loads(row["payouts"])
    return MarketResolution(
        market_id=row["market_id"],
        condition_id=row["condition_id"],
        learned_at=parse_iso_utc(row["learned_at"]),
        payouts={str(t): Decimal(str(p)) for t, p in payouts.items()},
        resolution=row["resolution"],
        source=row["source"],
    )


def _tags(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    value = json.loads(text)
    return tuple(str(tag) for tag in value) if isinstance(value, list) else ()


class AnalyticsTables(Tables):
    """Reads for the report and for the evening's learning; no table of its own."""

    async def resolution_candidates(self, since: datetime, now: datetime) -> list[CandidateRow]:
        """Markets eligible in a refresh at or after `since` that are not in market_resolutions
        and may have ended by `now` (see the module docstring)."""
        rows = await self.db.read(_CANDIDATES, (iso_utc(since), iso_utc(now)))
        return [
            CandidateRow(market_from_json(row["data"]), bool(row[1]), bool(row[2])) for row in rows
        ]

    async def settlements_without_resolution(self) -> list[Settlement]:
        """Settlements of markets market_resolutions lacks (recorded before it existed, or by a
        settlement path that does not write it), in seq order."""
        rows = await self.db.read(
            "SELECT * FROM settlements s WHERE NOT EXISTS"
            " (SELECT 1 FROM market_resolutions r WHERE r.market_id = s.market_id) ORDER BY seq"
        )
        return [SETTLEMENTS.decode(r) for r in rows]

    async def resolution_counts(self) -> dict[str, int]:
        """How many resolutions market_resolutions holds from each source (every source named)."""
        rows = await self.db.read(
            "SELECT source, COUNT(*) FROM market_resolutions GROUP BY source ORDER BY source"
        )
        found = {str(row[0]): int(row[1]) for row in rows}
        return {source: found.get(source, 0) for source in SOURCES}

    async def resolved_tracks(self) -> list[ResolvedTrack]:
        """Every recorded resolution with its YES token's daily bars (in date order) and its
        event's tags, in the order they were recorded."""
        rows = await self.db.read(_RESOLVED)
        tokens = {row["yes_token_id"] for row in rows if row["yes_token_id"]}
        days: dict[str, list[DayPrice]] = {}
        for bar in await self.db.read_in(_BARS, tokens):
            days.setdefault(bar["token_id"], []).append(
                DayPrice(
                    bar["local_date"],
                    price_from_micro(bar["open_price"]),
                    price_from_micro(bar["close_price"]),
                )
            )
        tracks = []
        for row in rows:
            token = row["yes_token_id"]
            own = sorted(days.get(token, ()), key=lambda d: d.local_date) if token else []
            tracks.append(ResolvedTrack(_resolution(row), token, _tags(row["tags"]), tuple(own)))
        return tracks

    async def ledger_with_versions(self) -> VersionedLedger:
        """Trades, settlements and fill levels of every strategy in seq order (one snapshot)."""
        trade_rows, settlement_rows = await self.db.read_consistent(
            (_VERSIONED_TRADES, ()), ("SELECT * FROM settlements ORDER BY seq", ())
        )
        return VersionedLedger(
            trades=[TRADES.decode(r) for r in trade_rows],
            config_versions={
                int(r["id"]): int(r["signal_version"])
                for r in trade_rows
                if r["signal_version"] is not None
            },
            settlements=[SETTLEMENTS.decode(r) for r in settlement_rows],
            levels={int(r["id"]): json.loads(r["levels"]) for r in trade_rows},
        )

    async def event_children(self, event_ids: Iterable[str]) -> dict[str, EventChildren]:
        """Stored events by id, each with every child market of its latest refresh."""
        rows = await self.db.read_in(
            "SELECT event_id, data FROM events WHERE event_id IN ({ids})", event_ids
        )
        out = {}
        for row in rows:
            data = json.loads(row["data"])
            out[row["event_id"]] = EventChildren(
                event_id=row["event_id"],
                title=str(data.get("title", "")),
                neg_risk=bool(data.get("neg_risk", False)),
                children=tuple((str(i), str(q)) for i, q in data.get("children", ())),
                complete=bool(data.get("children_complete", False)),
            )
        return out

    async def recorded_book(self, token_id: str, at: datetime) -> Book | None:
        """The book of token_id as recorded at or just before `at`, or None.

        Stub: books are not recorded on this branch. The recording ([record] books, DESIGN §10)
        and this method's real body come with the replay work; until then every fill counts as
        `fills_without_book` in the report's depth headroom.
        """
        del token_id, at
        return None
