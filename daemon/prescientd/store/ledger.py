"""The paper ledger: trades, settlements and every cash movement, plus the evening snapshots.

Trades and settlements share one increasing `seq`, the order the portfolio is replayed in. Each
carries an idempotency key under a UNIQUE constraint: a replayed decision inserts nothing (the
`RETURNING` row is absent) and is counted as a duplicate. A trade or settlement and its cash flow
are one transaction; the cash-flow trigger refuses anything that would make cash negative. Trades
of a strategy evaluation are written with it (`store.signals`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import aiosqlite

from prescientd.clock import iso_utc
from prescientd.models import (
    PortfolioSnapshot,
    Settlement,
    SettlementIntent,
    Trade,
    TradeIntent,
)
from prescientd.store.codec import from_micro, to_micro
from prescientd.store.connection import Tables
from prescientd.store.rows import (
    SETTLEMENT_INTENTS,
    SETTLEMENTS,
    SNAPSHOTS,
    TRADES,
    insert_sql,
)

_TRADE_INSERT = (
    "INSERT INTO trades (seq, idempotency_key, signal_id, executed_at, market_id, event_id,"
    " token_id, outcome, question, side, shares, notional, fee, levels, reason)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *"
)
_SETTLEMENT_INSERT = insert_sql(
    "settlements",
    ["seq", "settled_at", *SETTLEMENT_INTENTS.names()],
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
)
_SNAPSHOT_INSERT = insert_sql(
    "portfolio_snapshots", SNAPSHOTS.names(), " ON CONFLICT (local_date) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One page of the ledger in seq order, the levels of its trades, and the ledger's size."""

    trades: list[Trade]
    settlements: list[Settlement]
    levels: dict[int, list[list[str]]]
    total: int


# the seq of every ledger entry of the wanted kinds ('trade' and/or 'settlement')
_PAGE_SEQS = (
    "SELECT seq FROM (SELECT seq, 'trade' AS kind FROM trades"
    " UNION ALL SELECT seq, 'settlement' AS kind FROM settlements)"
    " WHERE kind IN (?, ?) ORDER BY seq {order} LIMIT ? OFFSET ?"
)


async def _next_seq(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT MAX(COALESCE((SELECT MAX(seq) FROM trades), 0),"
        " COALESCE((SELECT MAX(seq) FROM settlements), 0))"
    ) as cur:
        row = await cur.fetchone()
    return (int(row[0]) if row else 0) + 1


async def _cash_flow(conn: aiosqlite.Connection, at: str, kind: str, amount: int, ref: int) -> None:
    await conn.execute(
        f"INSERT INTO cash_flows (at, kind, amount, {kind}_id) VALUES (?, ?, ?, ?)",
        (at, kind, amount, ref),
    )


async def insert_trades(
    conn: aiosqlite.Connection, intents: Sequence[TradeIntent], at: str, signal_ids: dict[str, int]
) -> tuple[list[Trade], int]:
    """Append trades with their cash flows, skipping keys already recorded: (trades, duplicates)."""
    seq = await _next_seq(conn)
    trades: list[Trade] = []
    for intent in intents:
        fill = intent.fill
        levels = [[str(v.price), str(v.shares), str(v.fees_usd)] for v in fill.levels]
        params = (
            seq,
            intent.idempotency_key,
            signal_ids.get(intent.idempotency_key),
            at,
            intent.market_id,
            intent.event_id,
            intent.token_id,
            intent.outcome,
            intent.question,
            fill.side.value,
            to_micro(fill.shares),
            to_micro(fill.notional_usd),
            to_micro(fill.fees_usd),
            json.dumps(levels),
            intent.reason,
        )
        async with conn.execute(_TRADE_INSERT, params) as cur:
            row = await cur.fetchone()
        if row is None:
            continue  # the key exists: a replay after a crash
        trade = TRADES.decode(row)
        await _cash_flow(conn, at, "trade", to_micro(trade.cash_delta_usd), trade.trade_id)
        trades.append(trade)
        seq += 1
    return trades, len(intents) - len(trades)


class LedgerTables(Tables):
    """trades, settlements, cash_flows and portfolio_snapshots."""

    async def ensure_deposit(self, starting_balance_usd: Decimal) -> None:
        """Make the starting deposit once, when the database is new."""

        async def body(conn: aiosqlite.Connection) -> None:
            async with conn.execute("SELECT COUNT(*) FROM cash_flows WHERE kind='deposit'") as cur:
                row = await cur.fetchone()
            if row and row[0]:
                return
            now = iso_utc(datetime.now().astimezone())
            await conn.execute(
                "INSERT INTO cash_flows (at, kind, amount) VALUES (?, 'deposit', ?)",
                (now, to_micro(starting_balance_usd)),
            )
            await conn.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [("created_at", now), ("starting_balance_usd", str(starting_balance_usd))],
            )

        await self.db.write(body)

    async def starting_balance(self) -> Decimal:
        """The initial deposit (0 before one was made)."""
        row = await self.db.read_one(
            "SELECT COALESCE(SUM(amount), 0) FROM cash_flows WHERE kind='deposit'"
        )
        return from_micro(row[0]) if row else Decimal(0)

    async def record_trades(
        self, intents: Sequence[TradeIntent], executed_at: datetime
    ) -> tuple[tuple[Trade, ...], int]:
        """Append trades (exits) with their cash flows, atomically; returns (trades, duplicates)."""
        if not intents:
            return (), 0

        async def body(conn: aiosqlite.Connection) -> tuple[tuple[Trade, ...], int]:
            trades, duplicates = await insert_trades(conn, intents, iso_utc(executed_at), {})
            return tuple(trades), duplicates

        return await self.db.write(body)

    async def record_settlements(
        self, intents: Sequence[SettlementIntent], settled_at: datetime
    ) -> tuple[Settlement, ...]:
        """Append settlements with their payouts, atomically; replays are skipped by key."""
        if not intents:
            return ()
        at = iso_utc(settled_at)

        async def body(conn: aiosqlite.Connection) -> tuple[Settlement, ...]:
            seq = await _next_seq(conn)
            out = []
            for intent in intents:
                params = {**SETTLEMENT_INTENTS.encode(intent), "seq": seq, "settled_at": at}
                # the stored P&L is exactly what the stored amounts say
                params["realized_pnl"] = params["payout"] - params["cost_basis"]
                async with conn.execute(_SETTLEMENT_INSERT, params) as cur:
                    row = await cur.fetchone()
                if row is None:
                    continue
                settlement = SETTLEMENTS.decode(row)
                await _cash_flow(conn, at, "settlement", params["payout"], row["id"])
                out.append(settlement)
                seq += 1
            return tuple(out)

        return await self.db.write(body)

    async def ledger(self, *, after_seq: int = 0) -> tuple[list[Trade], list[Settlement]]:
        """Every trade and settlement with a seq above after_seq, each in seq order.

        Both are read from one consistent snapshot, so no commit falls between them.
        """
        trade_rows, settlement_rows = await self.db.read_consistent(
            ("SELECT * FROM trades WHERE seq > ? ORDER BY seq", (after_seq,)),
            ("SELECT * FROM settlements WHERE seq > ? ORDER BY seq", (after_seq,)),
        )
        return (
            [TRADES.decode(r) for r in trade_rows],
            [SETTLEMENTS.decode(r) for r in settlement_rows],
        )

    async def ledger_page(
        self, kinds: Sequence[str], *, limit: int, offset: int, newest_first: bool
    ) -> LedgerPage:
        """limit entries of the given kinds ("trade", "settlement") after skipping offset, in
        seq order (newest first or oldest first), from one consistent snapshot."""
        wanted = (*kinds, *kinds)[:2]
        seqs = _PAGE_SEQS.format(order="DESC" if newest_first else "ASC")
        page = (*wanted, limit, offset)
        counts = "SELECT (SELECT COUNT(*) FROM trades WHERE ? IN (?, ?))," + (
            " (SELECT COUNT(*) FROM settlements WHERE ? IN (?, ?))"
        )
        trade_rows, settlement_rows, count_rows = await self.db.read_consistent(
            (f"SELECT * FROM trades WHERE seq IN ({seqs})", page),
            (f"SELECT * FROM settlements WHERE seq IN ({seqs})", page),
            (counts, ("trade", *wanted, "settlement", *wanted)),
        )
        trades = [TRADES.decode(r) for r in trade_rows]
        return LedgerPage(
            trades=trades,
            settlements=[SETTLEMENTS.decode(r) for r in settlement_rows],
            levels={row["id"]: json.loads(row["levels"]) for row in trade_rows},
            total=int(count_rows[0][0]) + int(count_rows[0][1]),
        )

    async def trade_by_id(self, trade_id: int) -> tuple[Trade, list[list[str]]] | None:
        """One trade and its levels, or None."""
        row = await self.db.read_one("SELECT * FROM trades WHERE id = ?", (trade_id,))
        if row is None:
            return None
        return TRADES.decode(row), json.loads(row["levels"])

    async def trade_levels(self) -> dict[int, list[list[str]]]:
        """The book levels each trade filled at: trade id -> [[price, shares, fee], ...]."""
        rows = await self.db.read("SELECT id, levels FROM trades")
        return {row["id"]: json.loads(row["levels"]) for row in rows}

    async def append_portfolio_snapshot(self, snapshot: PortfolioSnapshot) -> bool:
        """Append the day's snapshot; False when that local date already has one."""

        async def body(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(_SNAPSHOT_INSERT, SNAPSHOTS.encode(snapshot))
            return cur.rowcount == 1

        return await self.db.write(body)

    async def portfolio_snapshots(self) -> list[PortfolioSnapshot]:
        """Every evening snapshot in date order."""
        rows = await self.db.read("SELECT * FROM portfolio_snapshots ORDER BY local_date")
        return [SNAPSHOTS.decode(r) for r in rows]
