"""The paper ledger: trades, settlements and every cash movement, plus the evening snapshots.

Trades and settlements share one increasing `seq`, the order the portfolio is replayed in. Each
carries an idempotency key under a UNIQUE constraint: a replayed decision inserts nothing (the
`RETURNING` row is absent) and is counted as a duplicate. A trade or settlement and its cash flow
are one transaction; the cash-flow trigger refuses anything that would make a strategy's cash
negative (it reads that strategy's running balance in `cash_balances`, which a second trigger keeps
in the same transaction). Every row names its strategy; each strategy's deposit is made once, when
it first appears. Trades of a strategy evaluation are written with it (`store.signals`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import aiosqlite

from prescientd.clock import iso_utc
from prescientd.models import (
    DEFAULT_STRATEGY,
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
    " token_id, outcome, question, side, shares, notional, fee, levels, reason, strategy)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *"
)
_SETTLEMENT_INSERT = insert_sql(
    "settlements",
    ["seq", "settled_at", *SETTLEMENT_INTENTS.names()],
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
)
_SNAPSHOT_INSERT = insert_sql(
    "portfolio_snapshots", SNAPSHOTS.names(), " ON CONFLICT (strategy, local_date) DO NOTHING"
)
_DEPOSITS = "SELECT strategy, amount FROM cash_flows WHERE kind = 'deposit' ORDER BY id"


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One page of the ledger in seq order, the levels of its trades, and the ledger's size."""

    trades: list[Trade]
    settlements: list[Settlement]
    levels: dict[int, list[list[str]]]
    total: int


# the seq of every ledger entry of the wanted kinds ('trade' and/or 'settlement'); {where} is
# "1" (every strategy) or "strategy = ?" (one: each arm then walks its (strategy, seq) index)
_PAGE_SEQS = (
    "SELECT seq FROM (SELECT seq, 'trade' AS kind FROM trades WHERE {where}"
    " UNION ALL SELECT seq, 'settlement' AS kind FROM settlements WHERE {where})"
    " WHERE kind IN (?, ?) ORDER BY seq {order} LIMIT ? OFFSET ?"
)


async def _next_seq(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT MAX(COALESCE((SELECT MAX(seq) FROM trades), 0),"
        " COALESCE((SELECT MAX(seq) FROM settlements), 0))"
    ) as cur:
        row = await cur.fetchone()
    return (int(row[0]) if row else 0) + 1


async def _cash_flow(
    conn: aiosqlite.Connection, at: str, kind: str, amount: int, ref: int, strategy: str
) -> None:
    await conn.execute(
        f"INSERT INTO cash_flows (at, kind, amount, {kind}_id, strategy) VALUES (?, ?, ?, ?, ?)",
        (at, kind, amount, ref, strategy),
    )


def _deposits(rows: Sequence[sqlite3.Row]) -> dict[str, Decimal]:
    return {row["strategy"]: from_micro(row["amount"]) for row in rows}


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
            intent.strategy,
        )
        async with conn.execute(_TRADE_INSERT, params) as cur:
            row = await cur.fetchone()
        if row is None:
            continue  # the key exists: a replay after a crash
        trade = TRADES.decode(row)
        amount = to_micro(trade.cash_delta_usd)
        await _cash_flow(conn, at, "trade", amount, trade.trade_id, trade.strategy)
        trades.append(trade)
        seq += 1
    return trades, len(intents) - len(trades)


async def _deposit_once(
    conn: aiosqlite.Connection, strategy: str, amount: Decimal, at: str
) -> bool:
    """Deposit amount into a strategy's account unless it has its deposit; True when made."""
    cur = await conn.execute(
        "INSERT INTO cash_flows (at, kind, amount, strategy) VALUES (?, 'deposit', ?, ?)"
        " ON CONFLICT (strategy) WHERE kind = 'deposit' DO NOTHING",
        (at, to_micro(amount), strategy),
    )
    return cur.rowcount == 1


class LedgerTables(Tables):
    """trades, settlements, cash_flows and portfolio_snapshots."""

    async def ensure_deposit(self, starting_balance_usd: Decimal) -> None:
        """Make the default strategy's starting deposit once, when the database is new."""

        async def body(conn: aiosqlite.Connection) -> None:
            now = iso_utc(datetime.now().astimezone())
            made = await _deposit_once(conn, DEFAULT_STRATEGY, starting_balance_usd, now)
            if made:
                await conn.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [("created_at", now), ("starting_balance_usd", str(starting_balance_usd))],
                )

        await self.db.write(body)

    async def ensure_deposits(self, balances: Mapping[str, Decimal], at: datetime) -> list[str]:
        """Open an account for each strategy that has none yet: its deposit, once, atomically.

        Returns the strategies whose deposit this call made (a known strategy keeps its first
        deposit whatever its configured balance says now).
        """

        async def body(conn: aiosqlite.Connection) -> list[str]:
            return [
                name
                for name, amount in balances.items()
                if await _deposit_once(conn, name, amount, iso_utc(at))
            ]

        return await self.db.write(body)

    async def starting_balance(self, strategy: str = DEFAULT_STRATEGY) -> Decimal:
        """A strategy's deposit (0 before one was made)."""
        row = await self.db.read_one(
            "SELECT COALESCE(SUM(amount), 0) FROM cash_flows WHERE kind='deposit' AND strategy=?",
            (strategy,),
        )
        return from_micro(row[0]) if row else Decimal(0)

    async def starting_balances(self) -> dict[str, Decimal]:
        """Every strategy with an account and its deposit, in the order they appeared."""
        return _deposits(await self.db.read(_DEPOSITS))

    async def cash_balances(self) -> dict[str, Decimal]:
        """Each strategy's running cash balance as the database keeps it (cash_balances)."""
        rows = await self.db.read("SELECT strategy, balance FROM cash_balances")
        return {row["strategy"]: from_micro(row["balance"]) for row in rows}

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
                payout = params["payout"]
                await _cash_flow(conn, at, "settlement", payout, row["id"], settlement.strategy)
                out.append(settlement)
                seq += 1
            return tuple(out)

        return await self.db.write(body)

    async def ledger(
        self, *, after_seq: int = 0, strategy: str | None = None
    ) -> tuple[list[Trade], list[Settlement]]:
        """Every trade and settlement with a seq above after_seq (of one strategy, or of all),
        each in seq order.

        Both are read from one consistent snapshot, so no commit falls between them.
        """
        params: list[object] = [after_seq]
        where = "seq > ?"
        if strategy is not None:
            where, params = "strategy = ? AND seq > ?", [strategy, after_seq]
        trade_rows, settlement_rows = await self.db.read_consistent(
            (f"SELECT * FROM trades WHERE {where} ORDER BY seq", params),
            (f"SELECT * FROM settlements WHERE {where} ORDER BY seq", params),
        )
        return (
            [TRADES.decode(r) for r in trade_rows],
            [SETTLEMENTS.decode(r) for r in settlement_rows],
        )

    async def ledger_since(
        self, after_seq: int
    ) -> tuple[dict[str, Decimal], list[Trade], list[Settlement]]:
        """Every strategy's deposit and the trades and settlements after after_seq, all from one
        consistent snapshot (so no entry of a strategy is seen without its deposit)."""
        deposit_rows, trade_rows, settlement_rows = await self.db.read_consistent(
            (_DEPOSITS, ()),
            ("SELECT * FROM trades WHERE seq > ? ORDER BY seq", (after_seq,)),
            ("SELECT * FROM settlements WHERE seq > ? ORDER BY seq", (after_seq,)),
        )
        return (
            _deposits(deposit_rows),
            [TRADES.decode(r) for r in trade_rows],
            [SETTLEMENTS.decode(r) for r in settlement_rows],
        )

    async def ledger_page(
        self,
        kinds: Sequence[str],
        *,
        limit: int,
        offset: int,
        newest_first: bool,
        strategy: str | None = None,
    ) -> LedgerPage:
        """limit entries of the given kinds ("trade", "settlement") after skipping offset, in
        seq order (newest first or oldest first), of one strategy or of all, from one consistent
        snapshot."""
        wanted = (*kinds, *kinds)[:2]
        where, by = ("1", ()) if strategy is None else ("strategy = ?", (strategy,))
        seqs = _PAGE_SEQS.format(where=where, order="DESC" if newest_first else "ASC")
        page = (*by, *by, *wanted, limit, offset)
        counts = (
            f"SELECT (SELECT COUNT(*) FROM trades WHERE ? IN (?, ?) AND {where}),"
            f" (SELECT COUNT(*) FROM settlements WHERE ? IN (?, ?) AND {where})"
        )
        trade_rows, settlement_rows, count_rows = await self.db.read_consistent(
            (f"SELECT * FROM trades WHERE seq IN ({seqs})", page),
            (f"SELECT * FROM settlements WHERE seq IN ({seqs})", page),
            (counts, ("trade", *wanted, *by, "settlement", *wanted, *by)),
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

    async def trade_levels(self, *, after_seq: int = 0) -> dict[int, list[list[str]]]:
        """The book levels each trade after after_seq filled at: id -> [[price, shares, fee]]."""
        rows = await self.db.read("SELECT id, levels FROM trades WHERE seq > ?", (after_seq,))
        return {row["id"]: json.loads(row["levels"]) for row in rows}

    async def append_portfolio_snapshot(self, snapshot: PortfolioSnapshot) -> bool:
        """Append the day's snapshot; False when its strategy has one for that local date."""
        return bool(await self.append_portfolio_snapshots([snapshot]))

    async def append_portfolio_snapshots(self, snapshots: Sequence[PortfolioSnapshot]) -> int:
        """Append the day's snapshot of several strategies in one transaction; how many were new
        (a strategy that already has one for that local date keeps it)."""

        async def body(conn: aiosqlite.Connection) -> int:
            added = 0
            for snapshot in snapshots:
                cur = await conn.execute(_SNAPSHOT_INSERT, SNAPSHOTS.encode(snapshot))
                added += cur.rowcount == 1
            return added

        return await self.db.write(body)

    async def portfolio_snapshots(self, strategy: str | None = None) -> list[PortfolioSnapshot]:
        """Every evening snapshot (of one strategy, or of all) in date order."""
        if strategy is None:
            rows = await self.db.read("SELECT * FROM portfolio_snapshots ORDER BY local_date, id")
        else:
            rows = await self.db.read(
                "SELECT * FROM portfolio_snapshots WHERE strategy = ? ORDER BY local_date, id",
                (strategy,),
            )
        return [SNAPSHOTS.decode(r) for r in rows]
