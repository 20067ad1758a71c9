"""Per-strategy accounts on a real SQLite file: deposits, the cash trigger, reads, snapshots."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import aiosqlite
import pytest

from conftest import T0, make_intent
from prescientd.core import ledger
from prescientd.models import (
    Action,
    EvaluationBatch,
    PortfolioSnapshot,
    PriceSource,
    SettlementIntent,
    Signal,
    SignalStatus,
    TradeIntent,
)
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store

D = Decimal


def _intent(
    key: str,
    strategy: str,
    *,
    market_id: str = "1",
    token_id: str = "t1",
    shares: str = "100",
    price: str = "0.40",
) -> TradeIntent:
    intent = make_intent(key, market_id=market_id, token_id=token_id, shares=shares, price=price)
    return replace(intent, strategy=strategy)


async def _sql_cash(store: Store) -> dict[str, Decimal]:
    rows = await store.db.read("SELECT strategy, SUM(amount) FROM cash_flows GROUP BY strategy")
    return {r[0]: D(r[1]) / 1_000_000 for r in rows}


async def test_each_strategy_gets_one_deposit(store: Store) -> None:
    """A deposit per new strategy, once: a second call (or another amount) changes nothing."""
    assert await store.ensure_deposits({"default": D(5), "a": D(500)}, T0) == ["a"]
    assert await store.ensure_deposits({"a": D(900), "b": D(1)}, T0) == ["b"]
    assert await store.starting_balances() == {"default": D(10000), "a": D(500), "b": D(1)}
    assert await store.starting_balance("a") == D(500)
    assert await store.starting_balance("nobody") == D(0)


async def test_cash_never_goes_negative_per_strategy_in_the_database(store: Store) -> None:
    """One strategy's cash cannot pay for another's trade: the trigger checks per strategy."""
    await store.ensure_deposits({"small": D(100)}, T0)
    too_big = _intent("k1", "small", shares="300", price="0.5")  # costs 150
    with pytest.raises(sqlite3.IntegrityError, match="cash would go negative"):
        await store.record_trades([too_big], T0)
    assert await store.ledger() == ([], [])
    assert await store.cash_balances() == {"default": D(10000), "small": D(100)}
    trades, _ = await store.record_trades([replace(too_big, strategy="default")], T0)
    assert [t.strategy for t in trades] == ["default"]
    fits = _intent("k2", "small", shares="200", price="0.5", token_id="t2")
    await store.record_trades([fits], T0)
    assert await store.cash_balances() == await _sql_cash(store)
    assert await store.cash_balances() == {"default": D(9850), "small": D(0)}
    with pytest.raises(sqlite3.IntegrityError, match="cash would go negative"):
        await store.record_trades([_intent("k3", "small", shares="10", token_id="t3")], T0)


async def test_the_running_balance_cannot_be_edited(store: Store) -> None:
    """cash_balances follows cash_flows only: direct writes are refused by the database."""
    attacks = [
        "UPDATE cash_balances SET balance = balance + 1",
        "DELETE FROM cash_balances",
        "INSERT INTO cash_balances (strategy, balance) VALUES ('ghost', 5)",
        "INSERT INTO cash_flows (at, kind, amount, strategy) VALUES ('x', 'deposit', -1, 'g')",
    ]
    for sql in attacks:

        async def attack(conn: aiosqlite.Connection, sql: str = sql) -> None:
            await conn.execute(sql)

        with pytest.raises(sqlite3.IntegrityError):
            await store.db.write(attack)
    assert await store.cash_balances() == {"default": D(10000)}


async def test_each_portfolio_folds_only_its_own_entries(store: Store) -> None:
    """Interleaved entries of two strategies: each account is the replay of its own rows."""
    await store.ensure_deposits({"b": D(2000)}, T0)
    service = PortfolioService.of(store)
    await store.record_trades([_intent("a1", "default", market_id="1", token_id="t1")], T0)
    await service.read_all()  # a cached prefix, then more entries
    await store.record_trades([_intent("b1", "b", market_id="1", token_id="t1")], T0)
    await store.record_trades([_intent("b2", "b", market_id="2", token_id="t2")], T0)
    await store.record_settlements(
        [
            SettlementIntent(
                *("sb", "1", "t1", "No", D(100), D(1), D(100), D(40), D(60), "No won"),
                strategy="b",
            )
        ],
        T0,
    )
    cached = await service.read_all()
    fresh = await PortfolioService(store).read_all()
    assert cached == fresh and list(cached) == ["default", "b"]
    for name, balance in (("default", D(10000)), ("b", D(2000))):
        trades, settlements = await store.ledger(strategy=name)
        assert cached[name] == ledger.replay(balance, trades, settlements, name)
    assert set(cached["default"].positions) == {"t1"} and set(cached["b"].positions) == {"t2"}
    assert cached["b"].cash_usd == D(2000) - 40 - 40 + 100
    assert await service.strategies() == ("default", "b")
    assert ledger.opening(D(0), "none") == await service.read("none")


async def test_snapshots_are_one_per_strategy_and_day(store: Store) -> None:
    """Two strategies snapshot the same date; a second evening that day adds nothing."""

    def snap(strategy: str, equity: str) -> PortfolioSnapshot:
        e = D(equity)
        return PortfolioSnapshot(
            "2026-10-06", T0, e, D(0), e, D(0), D(0), D(0), 0, 0, 0, 0, strategy
        )

    assert await store.append_portfolio_snapshots([snap("default", "1"), snap("b", "2")]) == 2
    assert await store.append_portfolio_snapshots([snap("default", "3"), snap("b", "4")]) == 0
    assert [s.equity_usd for s in await store.portfolio_snapshots("b")] == [D(2)]
    assert [s.strategy for s in await store.portfolio_snapshots()] == ["default", "b"]


def _signal(strategy: str, key: str) -> Signal:
    return Signal(
        *("1", "10", "Q?", Action.BUY_NO, "t1", "No", PriceSource.DISPLAY, D("0.6"), D("0.5")),
        *(D("0.1"), D(100), SignalStatus.ACTIONABLE, "YES 0.6 > 0.5", None, key),
        strategy=strategy,
    )


async def test_the_same_verdict_is_kept_per_strategy(store: Store) -> None:
    """Two strategies' identical verdicts on one market are two signal rows, each with a trade."""
    await store.ensure_deposits({"b": D(1000)}, T0)
    batches = [
        EvaluationBatch(name, 1, (_signal(name, f"k{name}"),), (_intent(f"k{name}", name),))
        for name in ("default", "b")
    ]
    results = await store.record_evaluations(
        run_id="r1", evaluated_at=T0, local_date="2026-10-06", config_version=1, batches=batches
    )
    assert [(r.strategy, len(r.trades)) for r in results] == [("default", 1), ("b", 1)]
    again = await store.record_evaluations(
        run_id="r2",
        evaluated_at=T0 + timedelta(seconds=5),
        local_date="2026-10-06",
        config_version=1,
        batches=batches,
    )
    assert [(len(r.trades), r.duplicates) for r in again] == [(0, 1), (0, 1)]
    latest = await store.latest_evaluations()
    assert [(e.strategy, e.run_id) for e, _ in latest] == [("default", "r2"), ("b", "r2")]
    for evaluation, signals in latest:
        (row,) = signals
        assert row.signal.strategy == evaluation.strategy and row.evaluations == 2
    own = await store.latest_evaluation("b")
    assert own is not None and own[0].strategy == "b"
    rows = await store.db.read("SELECT strategy, signal_id FROM signal_sightings ORDER BY 2")
    assert [r[0] for r in rows] == ["default", "b"]
