"""Morning refreshes and what they found: events, markets, their tokens and the raw payload."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite

from prescientd.clock import iso_utc
from prescientd.models import Event, Market
from prescientd.store.codec import event_from_json, event_to_json, market_from_json, market_to_json
from prescientd.store.connection import Tables
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


async def _upsert_markets(
    conn: aiosqlite.Connection, markets: Sequence[Market], at: str, refresh_id: int | None
) -> None:
    """Store markets; with a refresh id they become that refresh's eligible set."""
    params: list[dict[str, Any]] = [
        {
            "market_id": m.market_id,
            "event_id": m.event_id,
            "condition_id": m.condition_id,
            "data": market_to_json(m),
            "refresh_id": refresh_id,
            "updated_at": at,
        }
        for m in markets
    ]
    update = _DATA_UPDATE if refresh_id is None else _ELIGIBLE_UPDATE
    await conn.executemany(_MARKET_INSERT + update, params)
    await conn.executemany(
        "INSERT INTO market_tokens (token_id, market_id, outcome_index) VALUES (?, ?, ?)"
        " ON CONFLICT (token_id) DO NOTHING",
        [(t, m.market_id, i) for m in markets for i, t in enumerate(m.token_ids)],
    )


class MarketTables(Tables):
    """refreshes, events, markets, market_tokens and raw_payloads, with the eligible-set cache.

    Decoding thousands of markets costs a few hundred ms and every poll asks for them, so the
    eligible set of the latest refresh is kept decoded; this store is the only writer, and each of
    its market writes replaces or patches the cache.
    """

    _eligible_cache: tuple[int, list[Event]] | None = None

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
        markets = [m for e in eligible_events for m in e.markets]
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
                [(e.event_id, event_to_json(e), refresh_id, refresh_id) for e in eligible_events],
            )
            await _upsert_markets(conn, markets, at, refresh_id)
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
        return await self.db.write(body)

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
        if cached is not None and cached[0] == refresh_id:
            return list(cached[1])
        markets, events = await self.db.read_consistent(
            (_ELIGIBLE_MARKETS, (refresh_id,)), (_ELIGIBLE_EVENTS, (refresh_id,))
        )
        by_event: dict[str, list[Market]] = {}
        for row in markets:
            by_event.setdefault(row["event_id"], []).append(market_from_json(row["data"]))
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
        row = await self.db.read_one("SELECT body_zlib FROM raw_payloads WHERE kind='events'")
        return None if row is None else zlib.decompress(row[0])
