"""Stateful property test of the paper ledger through the real SQLite store.

Rules buy, sell, settle, mark, crash (close and reopen the database) and replay (re-send an
intent already written, as a restarted daemon would); invariants are checked against what the
store says after every step.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from prescientd.core.fills import taker_fee
from prescientd.core.ledger import ResolutionCheck, replay, settlement_intents, value
from prescientd.models import (
    FeeSchedule,
    Fill,
    FillLevel,
    Portfolio,
    Quote,
    SettlementIntent,
    Side,
    TradeIntent,
)
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store
from store_checks import cash_balance, ledger_digest

T = TypeVar("T")
START = Decimal(1000)
T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)
FEES = FeeSchedule(rate=Decimal("0.04"))
MARKETS = {"m1": ("m1-yes", "m1-no"), "m2": ("m2-yes", "m2-no"), "m3": ("m3-yes", "m3-no")}
prices = st.integers(min_value=1, max_value=99).map(lambda c: Decimal(c) / 100)
shares = st.integers(min_value=500, max_value=20000).map(lambda c: Decimal(c) / 100)


def _intent(
    key: str, market: str, token: str, side: Side, qty: Decimal, price: Decimal
) -> TradeIntent:
    fee = taker_fee(qty, price, FEES)
    fill = Fill(token, side, qty, qty * price, fee, (FillLevel(price, qty, fee),))
    return TradeIntent(key, market, f"e-{market}", token, "No", "Q?", fill, "test")


class LedgerOnSqlite(RuleBasedStateMachine):
    """The portfolio replayed from SQLite obeys the ledger identities, whatever happens."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "p.db"
        self.store = self.run(Store.open(self.path, starting_balance_usd=START))
        self.written: list[TradeIntent | SettlementIntent] = []
        self.settled: set[str] = set()
        self.marks: dict[str, Decimal] = {}
        self.counter = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one store coroutine on this machine's own loop."""
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        self.dir.cleanup()

    def portfolio(self) -> Portfolio:
        trades, settlements = self.run(self.store.ledger())
        return replay(START, trades, settlements)

    @rule(market=st.sampled_from(sorted(MARKETS)), no_side=st.booleans(), qty=shares, price=prices)
    def buy(self, market: str, no_side: bool, qty: Decimal, price: Decimal) -> None:
        """Buy a token of an unsettled market if the cash covers it."""
        if market in self.settled:
            return
        token = MARKETS[market][1 if no_side else 0]
        intent = _intent(f"buy-{self.counter}", market, token, Side.BUY, qty, price)
        self.counter += 1
        if intent.fill.notional_usd + intent.fill.fees_usd > self.portfolio().cash_usd:
            return
        self.run(self.store.record_trades([intent], T0))
        self.written.append(intent)

    @rule(fraction=st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal(1)]), price=prices)
    def sell(self, fraction: Decimal, price: Decimal) -> None:
        """Sell part of the first open position."""
        positions = self.portfolio().positions
        if not positions:
            return
        position = positions[min(positions)]
        qty = (position.shares * fraction).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        if qty <= 0:
            return
        intent = _intent(
            f"sell-{self.counter}", position.market_id, position.token_id, Side.SELL, qty, price
        )
        self.counter += 1
        self.run(self.store.record_trades([intent], T0))
        self.written.append(intent)

    @rule(market=st.sampled_from(sorted(MARKETS)), yes_wins=st.booleans())
    def settle(self, market: str, yes_wins: bool) -> None:
        """Resolve a market: the winning token pays 1, the other 0."""
        if market in self.settled:
            return
        yes, no = MARKETS[market]
        check = ResolutionCheck(
            "resolved",
            {
                yes: Decimal(1) if yes_wins else Decimal(0),
                no: Decimal(0) if yes_wins else Decimal(1),
            },
            "test",
        )
        portfolio = self.portfolio()
        intents = settlement_intents(portfolio, check, market)
        written = self.run(self.store.record_settlements(intents, T0))
        self.settled.add(market)
        for s in written:
            assert s.payout_usd == s.shares * check.payouts[s.token_id]
            assert s.payout_per_share in (Decimal(0), Decimal(1))
        self.written.extend(intents)
        assert not any(p.market_id == market for p in self.portfolio().positions.values())

    @rule(price=prices)
    def mark(self, price: Decimal) -> None:
        """Move every token's best bid."""
        for yes, no in MARKETS.values():
            self.marks[yes] = price
            self.marks[no] = Decimal(1) - price

    @rule()
    def crash_and_reopen(self) -> None:
        """Close the database as a crash would leave it committed, then open it again."""
        self.run(self.store.close())
        self.store = self.run(Store.open(self.path, starting_balance_usd=START))

    @precondition(lambda self: bool(self.written))
    @rule(index=st.integers(min_value=0))
    def replay_an_entry(self, index: int) -> None:
        """Re-send something already written: the store adds nothing."""
        entry = self.written[index % len(self.written)]
        before = self.run(ledger_digest(self.store))
        if isinstance(entry, TradeIntent):
            trades, duplicates = self.run(self.store.record_trades([entry], T0))
            assert trades == () and duplicates == 1
        else:
            assert self.run(self.store.record_settlements([entry], T0)) == ()
        assert self.run(ledger_digest(self.store)) == before

    @invariant()
    def service_read_equals_full_replay(self) -> None:
        """The portfolio service's cached, incremental read equals a replay of the whole ledger."""
        assert self.run(PortfolioService.of(self.store).read()) == self.portfolio()

    @invariant()
    def ledger_identities(self) -> None:
        """cash = start + flows >= 0; equity = cash + shares x mark; P&L adds up to equity."""
        portfolio = self.portfolio()
        cash = self.run(cash_balance(self.store))
        assert portfolio.cash_usd == cash >= 0
        quotes = {t: _quote(t, self.marks[t]) for t in portfolio.positions if t in self.marks}
        valuation = value(portfolio, quotes, {}, T0, 60)
        held_value = sum(
            (mp.position.shares * mp.mark_price for mp in valuation.positions), Decimal(0)
        )
        assert valuation.equity_usd == cash + held_value
        assert (
            valuation.realized_pnl_usd + valuation.unrealized_pnl_usd
            == valuation.equity_usd - START
        )
        assert all(p.shares > 0 for p in portfolio.positions.values())


def _quote(token: str, bid: Decimal) -> Quote:
    return Quote(
        token,
        bid,
        None,
        None,
        None,
        None,
        None,
        Decimal(0),
        Decimal(0),
        Decimal(0),
        Decimal(0),
        None,
        None,
        0,
        "h",
        T0,
    )


LedgerOnSqlite.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerOnSqlite = LedgerOnSqlite.TestCase
