"""Morning refreshes and what they found: events, markets, their tokens and the raw payload."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite

from prescientd.clock import iso_utc
from prescientd.models import Event, Market
from prescientd.store import raw_payloads
from prescientd.store.codec import event_from_json, event_to_json, market_from_json, market_to_json
from prescientd.store.connection import Tables
from prescientd.store.raw_payloads import RawPayload, RawPayloadWriter
from prescientd.store.rows import REFRESHES, RefreshRow

_MARKET_INSERT = (
    "INSERT INTO markets (market_id, event_id, condition_id, data, last_refresh_id,"
    " eligible_refresh_id, updated_at) VALUES (:market_id, :event_id, :condition_id, :data,"
    " :refresh_id, :refresh_id, :updated_at) ON CONFLICT (market_id) DO UPDATE SET"
)
# a refresh takes the whole row; a later update (settlement check) only the market's data
_ELIGIBLE_UPDATE = (
    " event_id=excluded.event_id, condition_id=excluded.condition_id, data=excluded.data,"
    " last_refresh_id=excluded.last_refresh_id, eligible_refresh_id=excluded.eligible_refresh_id,"
    " updated_at=excluded.updated_at"
)
_DATA_UPDATE = " data=excluded.data, updated_at=excluded.updated_at"
_ELIGIBLE_MARKETS = (
    "SELECT event_id, data FROM markets WHERE eligible_refresh_id = ?"
    " ORDER BY CAST(market_id AS INTEGER), market_id"
)
_ELIGIBLE_EVENTS = (
    "SELECT event_id, data FROM events WHERE eligible_refresh_id = ?"
    " ORDER BY CAST(event_id AS INTEGER), event_id"
)


def _market_rows(
    markets: Sequence[Market], at: str, refresh_id: int | None
) -> Iterator[dict[str, Any]]:
    """The rows of markets, encoded as SQLite takes them (never all held: 80,000 markets' JSON
    is ~100 MB; the refresh transaction is a few seconds longer instead)."""
    for m in markets:
        yield {
            "market_id": m.market_id,
            "event_id": m.event_id,
            "condition_id": m.condition_id,
            "data": market_to_json(m),
            "updated_at": at,
            "refresh_id": refresh_id,
        }


async def _upsert_markets(
    conn: aiosqlite.Connection, markets: Sequence[Market], at: str, refresh_id: int | None
) -> None:
    """Store markets; with a refresh id they become that refresh's eligible set."""
    update = _DATA_UPDATE if refresh_id is None else _ELIGIBLE_UPDATE
    await conn.executemany(_MARKET_INSERT + update, _market_rows(markets, at, refresh_id))
    await conn.executemany(
        "INSERT INTO market_tokens (token_id, market_id, outcome_index) VALUES (?, ?, ?)"
        " ON CONFLICT (token_id) DO NOTHING",
        ((t, m.market_id, i) for m in markets for i, t in enumerate(m.token_ids)),
    )


def _sqlite_order(ids: Iterable[str]) -> list[str] | None:
    """ids in the order of `ORDER BY CAST(id AS INTEGER), id`, or None when not all are plain
    64-bit decimal numbers (then the database orders them)."""
    keyed = []
    for text in ids:
        if not (text.isascii() and text.isdigit()) or int(text) >= 1 << 63:
            return None
        keyed.append((int(text), text))
    return [text for _, text in sorted(keyed)]


class _Eligible:
    """The decoded eligible set of one refresh, indexed so a patch costs what it changes."""

    def __init__(self, refresh_id: int, events: list[Event]) -> None:
        self.refresh_id = refresh_id
        self.events = events
        self.where = {m.market_id: i for i, e in enumerate(events) for m in e.markets}
        self._flat: list[Market] | None = None

    @classmethod
    def ordered(cls, refresh_id: int, events: Sequence[Event]) -> _Eligible | None:
        """The set as the database returns it (events and markets in id order), if computable."""
        by_id = {e.event_id: e for e in events}
        order = _sqlite_order(by_id)
        if order is None:
            return None
        result = []
        for event_id in order:
            event = by_id[event_id]
            markets = {m.market_id: m for m in event.markets}
            market_order = _sqlite_order(markets)
            if market_order is None:
                return None
            result.append(replace(event, markets=tuple(markets[i] for i in market_order)))
        return cls(refresh_id, result)

    def markets(self) -> list[Market]:
        if self._flat is None:
            self._flat = [m for e in self.events for m in e.markets]
        return self._flat

    def patch(self, fresh: Mapping[str, Market]) -> None:
        touched = {self.where[i] for i in fresh if i in self.where}
        for index in touched:
            event = self.events[index]
            self.events[index] = replace(
                event, markets=tuple(fresh.get(m.market_id, m) for m in event.markets)
            )
        if touched:
            self._flat = None


class MarketTables(Tables):
    """refreshes, events, markets, market_tokens and raw_payloads, with the eligible-set cache.

    Decoding tens of thousands of markets costs seconds and every poll asks for them, so the
    eligible set of the latest refresh is kept decoded; this store is the only writer, and each of
    its market writes replaces or patches the cache (a patch touches only the events it changes).
    """

    _eligible_cache: _Eligible | None = None

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
        raw_events_json: bytes | None = None,
        raw_payload: RawPayload | None = None,
    ) -> int:
        """Store one refresh and its eligible events/markets in one transaction.

        The raw payload is either staged beforehand (raw_payload, from a RawPayloadWriter) or
        given whole (raw_events_json, small payloads); with neither, the previous one is kept.
        """
        at = iso_utc(fetched_at)
        markets = [m for e in eligible_events for m in e.markets]
        if raw_events_json is not None:
            raw_payload = await self._stage_whole(raw_events_json)

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
                    len(markets),
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
                ((e.event_id, event_to_json(e), refresh_id, refresh_id) for e in eligible_events),
            )
            await _upsert_markets(conn, markets, at, refresh_id)
            if raw_payload is not None:
                await raw_payloads.swap_in(conn, raw_payload, refresh_id, at)
            return int(refresh_id)

        self._eligible_cache = None
        refresh_id = await self.db.write(body)
        # the next poll needs these very events: keep them instead of decoding them back
        self._eligible_cache = _Eligible.ordered(refresh_id, eligible_events)
        return refresh_id

    async def _stage_whole(self, data: bytes) -> RawPayload:
        writer = RawPayloadWriter(self.db, "events")
        await writer.start()
        return await writer.stage_bytes(data)

    def raw_payload_writer(self, kind: str = "events") -> RawPayloadWriter:
        """A writer that stages a raw payload page by page for the next save_refresh."""
        return RawPayloadWriter(self.db, kind)

    async def latest_refresh(self) -> RefreshRow | None:
        """The most recent refresh."""
        row = await self.db.read_one("SELECT * FROM refreshes ORDER BY id DESC LIMIT 1")
        return None if row is None else REFRESHES.decode(row)

    async def eligible_events(self) -> list[Event]:
        """Events of the latest refresh with their eligible markets, in event id order."""
        latest = await self.db.read_one("SELECT MAX(id) FROM refreshes")
        if latest is None or latest[0] is None:
            return []
        refresh_id = latest[0]
        cached = self._eligible_cache
        if cached is not None and cached.refresh_id == refresh_id:
            return list(cached.events)
        markets, events = await self.db.read_consistent(
            (_ELIGIBLE_MARKETS, (refresh_id,)), (_ELIGIBLE_EVENTS, (refresh_id,))
        )
        by_event: dict[str, list[Market]] = {}
        for row in markets:
            by_event.setdefault(row["event_id"], []).append(market_from_json(row["data"]))
        result = [
            event_from_json(row["data"], tuple(by_event.get(row["event_id"], ()))) for row in events
        ]
        self._eligible_cache = _Eligible(refresh_id, result)
        return list(result)

    async def eligible_markets(self) -> list[Market]:
        """Markets eligible in the latest refresh."""
        events = await self.eligible_events()
        cached = self._eligible_cache
        if cached is not None and cached.events == events:
            return list(cached.markets())
        return [m for e in events for m in e.markets]

    async def markets_by_id(self, market_ids: Iterable[str]) -> dict[str, Market]:
        """Known markets by id (any refresh)."""
        rows = await self.db.read_in(
            "SELECT data FROM markets WHERE market_id IN ({ids})", market_ids
        )
        markets = [market_from_json(row["data"]) for row in rows]
        return {m.market_id: m for m in markets}

    async def update_markets(self, markets: Sequence[Market], at: datetime) -> None:
        """Store the latest known state of markets (for example after a settlement check)."""
        if not markets:
            return

        async def body(conn: aiosqlite.Connection) -> None:
            await _upsert_markets(conn, markets, iso_utc(at), None)

        await self.db.write(body)
        if self._eligible_cache is not None:
            # held markets got fresher lifecycle fields: patch them into the cached refresh
            self._eligible_cache.patch({m.market_id: m for m in markets})

    async def raw_events_payload(self) -> bytes | None:
        """The raw Gamma payload of the latest refresh that kept one (whole; small payloads)."""
        if await raw_payloads.digest(self.db, "events") is None:
            return None
        return b"".join([piece async for piece in self.raw_events_chunks()])

    def raw_events_chunks(self) -> AsyncIterator[bytes]:
        """The raw Gamma payload, decompressed piece by piece (bounded memory)."""
        return raw_payloads.read_chunks(self.db, "events")

    async def raw_events_digest(self) -> tuple[str, int] | None:
        """(sha256, size) of the stored raw payload ('' when unknown), or None without one."""
        return await raw_payloads.digest(self.db, "events")
