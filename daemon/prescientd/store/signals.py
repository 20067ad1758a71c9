"""Strategy evaluations and their signals, with one sighting row per distinct daily verdict.

A market above the threshold signals at every poll: a verdict already recorded for its market today
(same strategy, action and config version) is counted in its sighting instead of appended again.
One poll evaluates every active strategy; their evaluations, signals and trades are written in one
transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import (
    DEFAULT_STRATEGY,
    EvaluationBatch,
    Signal,
    SignalStatus,
    TradeIntent,
)
from prescientd.store.codec import from_micro, round_micro
from prescientd.store.connection import Tables, fetch_in
from prescientd.store.ledger import insert_trades
from prescientd.store.rows import (
    EVALUATIONS,
    SIGNALS,
    EvaluationRow,
    ExecutionResult,
    SignalRow,
    insert_sql,
)

_EXTRA_COLUMNS = ["evaluation_id", "evaluated_at", "local_date", "config_version", "verdict"]
_SIGNAL_INSERT = insert_sql(
    "signals",
    [*_EXTRA_COLUMNS, *SIGNALS.names()],
    " ON CONFLICT (strategy, local_date, market_id, action, verdict, config_version) DO NOTHING",
)
_SIGHTING_UPSERT = (
    "INSERT INTO signal_sightings (signal_id, last_evaluation_id, last_at, evaluations,"
    " last_yes_price, min_yes_price, max_yes_price, last_confidence, last_liquidity_usd,"
    " last_reason, last_key, strategy) VALUES (?1, ?2, ?3, 1, ?4, ?4, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT (signal_id) DO UPDATE SET last_evaluation_id=?2, last_at=?3,"
    " evaluations=evaluations + 1, last_yes_price=?4, min_yes_price=MIN(min_yes_price, ?4),"
    " max_yes_price=MAX(max_yes_price, ?4), last_confidence=?5, last_liquidity_usd=?6,"
    " last_reason=?7, last_key=?8"
)
_SIGNAL_SELECT = (
    "SELECT s.*, g.last_evaluation_id, g.last_at, g.evaluations, g.last_yes_price,"
    " g.min_yes_price, g.max_yes_price, g.last_confidence, g.last_liquidity_usd, g.last_reason,"
    " g.last_key FROM signals s JOIN signal_sightings g ON g.signal_id = s.id"
)


def _verdict(signal: Signal) -> str:
    return signal.skip_reason.value if signal.skip_reason else signal.status.value


def _signal_key(signal: Signal) -> tuple[str, str, str]:
    return signal.market_id, signal.action.value, _verdict(signal)


async def _insert_signals(
    conn: aiosqlite.Connection, signals: Sequence[Signal], extra: dict[str, Any]
) -> dict[tuple[str, str, str], int]:
    """Append the signals new today and count every sighting; ids by (market, action, verdict)."""
    columns = {k: v for k, v in extra.items() if k != "strategy"}
    await conn.executemany(
        _SIGNAL_INSERT,
        [{**columns, **SIGNALS.encode(s), "verdict": _verdict(s)} for s in signals],
    )
    rows = await fetch_in(
        conn,
        "SELECT id, market_id, action, verdict FROM signals WHERE strategy = ? AND"
        " local_date = ? AND config_version = ? AND market_id IN ({ids})",
        (s.market_id for s in signals),
        (extra["strategy"], extra["local_date"], extra["config_version"]),
    )
    ids = {(row[1], row[2], row[3]): row[0] for row in rows}
    await conn.executemany(
        _SIGHTING_UPSERT,
        [
            (
                ids[_signal_key(s)],
                extra["evaluation_id"],
                extra["evaluated_at"],
                round_micro(s.yes_price),
                round_micro(s.confidence),
                round_micro(s.liquidity_usd),
                s.reason,
                s.idempotency_key,
                s.strategy,
            )
            for s in signals
        ],
    )
    return ids


async def _record_batch(
    conn: aiosqlite.Connection, header: tuple[str, str, str, int], batch: EvaluationBatch
) -> ExecutionResult:
    """One strategy's evaluation row, signals, sightings and trades (inside the caller's
    transaction)."""
    run_id, at, local_date, config_version = header
    actionable = sum(1 for s in batch.signals if s.status is SignalStatus.ACTIONABLE)
    cur = await conn.execute(
        "INSERT INTO evaluations (run_id, evaluated_at, local_date, config_version,"
        " markets_considered, signals, actionable, strategy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            at,
            local_date,
            config_version,
            batch.markets_considered,
            len(batch.signals),
            actionable,
            batch.strategy,
        ),
    )
    evaluation_id = cur.lastrowid
    assert evaluation_id is not None
    extra = {
        "evaluation_id": evaluation_id,
        "evaluated_at": at,
        "local_date": local_date,
        "config_version": config_version,
        "strategy": batch.strategy,
    }
    ids = await _insert_signals(conn, batch.signals, extra)
    by_key = {s.idempotency_key: ids[_signal_key(s)] for s in batch.signals}
    trades, duplicates = await insert_trades(conn, batch.intents, at, by_key)
    return ExecutionResult(evaluation_id, tuple(trades), duplicates, batch.strategy)


def _signal_row(row: sqlite3.Row) -> SignalRow:
    signal = SIGNALS.decode(
        row,
        yes_price=from_micro(row["last_yes_price"]),
        confidence=from_micro(row["last_confidence"]),
        liquidity_usd=from_micro(row["last_liquidity_usd"]),
        reason=row["last_reason"],
        idempotency_key=row["last_key"],
    )
    return SignalRow(
        signal_id=row["id"],
        evaluation_id=row["last_evaluation_id"],
        evaluated_at=parse_iso_utc(row["last_at"]),
        local_date=row["local_date"],
        config_version=row["config_version"],
        signal=signal,
        first_at=parse_iso_utc(row["evaluated_at"]),
        evaluations=row["evaluations"],
        first_yes_price=from_micro(row["yes_price"]),
        min_yes_price=from_micro(row["min_yes_price"]),
        max_yes_price=from_micro(row["max_yes_price"]),
    )


class SignalTables(Tables):
    """evaluations, signals and signal_sightings."""

    async def record_evaluation(
        self,
        *,
        run_id: str,
        evaluated_at: datetime,
        local_date: str,
        config_version: int,
        markets_considered: int,
        signals: Sequence[Signal],
        intents: Sequence[TradeIntent],
        strategy: str = DEFAULT_STRATEGY,
    ) -> ExecutionResult:
        """Append one strategy's evaluation, its signals and its trades, atomically.

        A signal repeating a verdict already recorded for its market today is counted in its
        sighting rather than appended again. A trade whose idempotency key already exists is
        skipped (a replay after a crash).
        """
        batch = EvaluationBatch(strategy, markets_considered, tuple(signals), tuple(intents))
        (result,) = await self.record_evaluations(
            run_id=run_id,
            evaluated_at=evaluated_at,
            local_date=local_date,
            config_version=config_version,
            batches=[batch],
        )
        return result

    async def record_evaluations(
        self,
        *,
        run_id: str,
        evaluated_at: datetime,
        local_date: str,
        config_version: int,
        batches: Sequence[EvaluationBatch],
    ) -> tuple[ExecutionResult, ...]:
        """Append one evaluation per strategy with its signals and trades, all in one transaction
        (record_evaluation's rules, per strategy; each trade's cash flow is its strategy's)."""
        at = iso_utc(evaluated_at)
        header = (run_id, at, local_date, config_version)

        async def body(conn: aiosqlite.Connection) -> tuple[ExecutionResult, ...]:
            return tuple([await _record_batch(conn, header, batch) for batch in batches])

        return await self.db.write(body)

    async def latest_evaluation(
        self, strategy: str = DEFAULT_STRATEGY
    ) -> tuple[EvaluationRow, list[SignalRow]] | None:
        """A strategy's most recent evaluation and its signals (with that evaluation's values)."""
        row = await self.db.read_one(
            "SELECT * FROM evaluations WHERE strategy = ? ORDER BY id DESC LIMIT 1", (strategy,)
        )
        if row is None:
            return None
        evaluation = EVALUATIONS.decode(row)
        return evaluation, await self._evaluation_signals(evaluation.evaluation_id)

    async def latest_evaluations(self) -> list[tuple[EvaluationRow, list[SignalRow]]]:
        """The evaluations of the most recent poll (one per strategy it evaluated), in id order,
        each with its signals."""
        rows = await self.db.read(
            "SELECT * FROM evaluations WHERE run_id ="
            " (SELECT run_id FROM evaluations ORDER BY id DESC LIMIT 1) ORDER BY id"
        )
        out = []
        for row in rows:
            evaluation = EVALUATIONS.decode(row)
            out.append((evaluation, await self._evaluation_signals(evaluation.evaluation_id)))
        return out

    async def _evaluation_signals(self, evaluation_id: int) -> list[SignalRow]:
        signals = await self.db.read(
            f"{_SIGNAL_SELECT} WHERE g.last_evaluation_id = ? ORDER BY g.last_confidence DESC,"
            " s.market_id",
            (evaluation_id,),
        )
        rows = [_signal_row(s) for s in signals]
        rows.sort(key=lambda r: r.signal.status is not SignalStatus.ACTIONABLE)
        return rows

    async def latest_evaluation_id(self) -> int | None:
        """The id of the most recent evaluation (a cheap check before re-reading its signals)."""
        row = await self.db.read_one("SELECT MAX(id) FROM evaluations")
        return None if row is None or row[0] is None else int(row[0])

    async def signal_archive(self, first_date: str, last_date: str) -> list[SignalRow]:
        """Every signal row whose local date lies in [first_date, last_date], in id order."""
        rows = await self.db.read(
            f"{_SIGNAL_SELECT} WHERE s.local_date >= ? AND s.local_date <= ? ORDER BY s.id",
            (first_date, last_date),
        )
        return [_signal_row(r) for r in rows]

    async def signal_months(self) -> list[str]:
        """Every local month (YYYY-MM) that has signals."""
        rows = await self.db.read(
            "SELECT DISTINCT substr(local_date, 1, 7) AS m FROM signals ORDER BY m"
        )
        return [row["m"] for row in rows]
