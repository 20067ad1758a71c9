"""market_resolutions: every resolution prescientd learned of a tracked market, held or not.

Append-only, one row per market (the first learned wins): a settlement check of a held market
writes it with source "settlement", the evening's check of recently tracked unheld markets with
source "evening". Payouts are stored as a JSON object of decimal strings per token.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import MarketResolution
from prescientd.store.connection import Tables

SOURCES = ("settlement", "evening")
_INSERT = (
    "INSERT INTO market_resolutions (market_id, condition_id, learned_at, payouts, resolution,"
    " source) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (market_id) DO NOTHING"
)
_COLUMNS = "market_id, condition_id, learned_at, payouts, resolution, source"


def _encode(resolution: MarketResolution) -> tuple[str, str, str, str, str, str]:
    """The row of one resolution; ValueError for anything the table must not hold."""
    if resolution.source not in SOURCES:
        raise ValueError(f"resolution source must be one of {SOURCES}, got {resolution.source!r}")
    for token_id, payout in resolution.payouts.items():
        if not (payout.is_finite() and 0 <= payout <= 1):
            raise ValueError(
                f"market {resolution.market_id}: payout {payout} of token {token_id} is not in 0..1"
            )
    payouts = json.dumps({t: str(p) for t, p in resolution.payouts.items()}, sort_keys=True)
    return (
        resolution.market_id,
        resolution.condition_id,
        iso_utc(resolution.learned_at),
        payouts,
        resolution.resolution,
        resolution.source,
    )


def decode_resolution(row: sqlite3.Row) -> MarketResolution:
    """A MarketResolution from its row."""
    payouts = json.loads(row["payouts"])
    return MarketResolution(
        market_id=row["market_id"],
        condition_id=row["condition_id"],
        learned_at=parse_iso_utc(row["learned_at"]),
        payouts={str(t): Decimal(str(p)) for t, p in payouts.items()},
        resolution=row["resolution"],
        source=row["source"],
    )


class ResolutionTables(Tables):
    """market_resolutions."""

    async def record_resolutions(self, resolutions: Sequence[MarketResolution]) -> int:
        """Append resolutions in one transaction (a market already recorded keeps its first);
        returns how many were new."""
        rows = [_encode(r) for r in resolutions]  # all checked before anything is written
        if not rows:
            return 0

        async def body(conn: aiosqlite.Connection) -> int:
            added = 0
            for row in rows:
                cur = await conn.execute(_INSERT, row)
                added += cur.rowcount == 1
            return added

        return await self.db.write(body)

    async def resolutions(
        self, market_ids: Iterable[str] | None = None
    ) -> dict[str, MarketResolution]:
        """Every recorded resolution, or those of the given markets, by market id."""
        if market_ids is None:
            rows = await self.db.read(f"SELECT {_COLUMNS} FROM market_resolutions ORDER BY id")
        else:
            rows = await self.db.read_in(
                f"SELECT {_COLUMNS} FROM market_resolutions WHERE market_id IN ({{ids}})",
                market_ids,
            )
        found = (decode_resolution(row) for row in rows)
        return {r.market_id: r for r in found}

    async def resolutions_between(self, start: datetime, end: datetime) -> list[MarketResolution]:
        """Resolutions learned in [start, end), in the order they were learned."""
        rows = await self.db.read(
            f"SELECT {_COLUMNS} FROM market_resolutions WHERE learned_at >= ? AND learned_at < ?"
            " ORDER BY learned_at, id",
            (iso_utc(start), iso_utc(end)),
        )
        return [decode_resolution(row) for row in rows]
