"""The ledger: replay into positions and P&L, marks, resolution, settlement, a stateful model."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from prescientd.core.fills import taker_fee
from prescientd.core.ledger import (
    LedgerError,
    ResolutionCheck,
    advance,
    buy_outcomes,
    opening,
    replay,
    resolve,
    settlement_intents,
    snapshot,
    value,
)
from prescientd.models import (
    ClobMarket,
    ClobToken,
    FeeSchedule,
    Market,
    Portfolio,
    Quote,
    Settlement,
    Side,
    Trade,
)

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
START = Decimal(1000)
D = Decimal


def _trade(
    seq: int,
    side: Side,
    token: str,
    shares: str,
    notional: str,
    fee: str = "0",
    *,
    market: str = "m1",
    key: str | None = None,
    question: str = "Will it rain?",
    at: datetime = T0,
) -> Trade:
    return Trade(
        trade_id=seq,
        seq=seq,
        idempotency_key=key or f"k{seq}",
        executed_at=at,
        market_id=market,
        event_id=f"e-{market}",
        token_id=token,
        outcome="Yes" if token.endswith("y") else "No",
        question=question,
        side=side,
        shares=D(shares),
        notional_usd=D(notional),
        fees_usd=D(fee),
        reason="test",
    )


def _settlement(
    seq: int, token: str, shares: str, pps: str, cost: str, market: str = "m1"
) -> Settlement:
    payout = D(shares) * D(pps)
    return Settlement(
        settlement_id=seq,
        seq=seq,
        idempotency_key=f"s{seq}",
        settled_at=T0,
        market_id=market,
        token_id=token,
        outcome="Yes",
        shares=D(shares),
        payout_per_share=D(pps),
        payout_usd=payout,
        cost_basis_usd=D(cost),
        realized_pnl_usd=payout - D(cost),
        resolution="test",
    )


def _quote(token: str, bid: str | None, *, age_s: float = 0, now: datetime = T0) -> Quote:
    best_bid = D(bid) if bid is not None else None
    return Quote(
        token_id=token,
        best_bid=best_bid,
        best_ask=None,
        mid=None,
        spread=None,
        display=best_bid,
        last_trade=None,
        bid_depth_shares=D(0),
        bid_depth_usd=D(0),
        ask_depth_shares=D(0),
        ask_depth_usd=D(0),
        tick_size=D("0.01"),
        min_order_size=D(5),
        book_timestamp_ms=0,
        book_hash="",
        fetched_at=now - timedelta(seconds=age_s),
    )


# ---------------------------------------------------------------- replay


def test_replay_empty_ledger() -> None:
    """No entries: all cash, nothing held, nothing realized."""
    portfolio = replay(START, [], [])
    assert portfolio.cash_usd == START
    assert dict(portfolio.positions) == {}
    assert portfolio.realized_pnl_usd == portfolio.fees_usd == D(0)
    assert (portfolio.trade_count, portfolio.settled_positions) == (0, 0)


def test_replay_buys_accumulate_cost_and_keep_first_metadata() -> None:
    """Two buys of one token add shares, cost (notional + fee) and fees; the first buy names it."""
    later = T0 + timedelta(hours=1)
    portfolio = replay(
        START,
        [
            _trade(1, Side.BUY, "t1y", "100", "40", "0.96"),
            _trade(2, Side.BUY, "t1y", "50", "22.5", "0.5", question="renamed", at=later),
        ],
        [],
    )
    position = portfolio.positions["t1y"]
    assert (position.shares, position.cost_usd, position.fees_usd) == (
        D(150),
        D("63.96"),
        D("1.46"),
    )
    assert (position.question, position.opened_at) == ("Will it rain?", T0)
    assert portfolio.cash_usd == START - D("63.96")
    assert portfolio.entries_by_market == {"m1": 2}
    assert (portfolio.trade_count, portfolio.fees_usd) == (2, D("1.46"))


def test_replay_partial_sell_uses_average_cost() -> None:
    """Selling 25 of 100 shares removes a quarter of the cost; realized = proceeds - fee - that."""
    portfolio = replay(
        START,
        [
            _trade(1, Side.BUY, "t1y", "100", "40", "0.96"),
            _trade(2, Side.SELL, "t1y", "25", "12.5", "0.5"),
        ],
        [],
    )
    position = portfolio.positions["t1y"]
    # cost 40.96; a quarter is 10.24; realized 12.5 - 0.5 - 10.24
    assert (position.shares, position.cost_usd) == (D(75), D("30.72"))
    assert portfolio.realized_pnl_usd == D("1.76")
    assert portfolio.cash_usd == START - D("40.96") + D(12)
    assert portfolio.fees_usd == D("1.46")


def test_replay_inexact_cost_share_is_rounded_to_micro_dollars() -> None:
    """A third of $1.00 leaves as 0.333333 and the position keeps exactly the rest."""
    portfolio = replay(
        START,
        [_trade(1, Side.BUY, "t1y", "3", "1"), _trade(2, Side.SELL, "t1y", "1", "0.5")],
        [],
    )
    assert portfolio.positions["t1y"].cost_usd == D("0.666667")
    assert portfolio.realized_pnl_usd == D("0.166667")
    assert portfolio.realized_pnl_usd + portfolio.positions["t1y"].cost_usd == D("0.833334")


def test_replay_full_sell_removes_position_but_keeps_entry_count() -> None:
    """A position sold to zero disappears; the market's entry count still remembers the buy."""
    portfolio = replay(
        START,
        [
            _trade(1, Side.BUY, "t1y", "10", "5", "0.1"),
            _trade(2, Side.SELL, "t1y", "10", "6", "0.1"),
        ],
        [],
    )
    assert dict(portfolio.positions) == {}
    assert portfolio.entries_by_market == {"m1": 1}
    assert portfolio.realized_pnl_usd == D("0.8")  # 6 - 0.1 - 5.1


@pytest.mark.parametrize(
    ("pps", "realized", "wins"),
    [("1", "59", 1), ("0", "-41", 0), ("0.5", "9", 1), ("0.41", "0", 0)],
)
def test_replay_settlement(pps: str, realized: str, wins: int) -> None:
    """A settlement pays shares x payout, realizes payout - cost and counts a win only on profit."""
    portfolio = replay(
        START,
        [_trade(1, Side.BUY, "t1y", "100", "40", "1")],
        [_settlement(2, "t1y", "100", pps, "41")],
    )
    assert dict(portfolio.positions) == {}
    assert portfolio.realized_pnl_usd == D(realized)
    assert portfolio.cash_usd == START - D(41) + D(100) * D(pps)
    assert (portfolio.settled_positions, portfolio.settled_wins) == (1, wins)


def test_replay_orders_by_seq_not_by_list() -> None:
    """Entries are applied in seq order whatever order the lists come in."""
    trades = [
        _trade(3, Side.BUY, "t1y", "10", "6"),
        _trade(1, Side.BUY, "t1y", "10", "4"),
        _trade(4, Side.SELL, "t1y", "10", "7"),
    ]
    settlement = _settlement(2, "t1y", "10", "1", "4")
    portfolio = replay(START, trades, [settlement])
    # seq 1 buy, seq 2 settles it (+6 realized), seq 3 re-buys, seq 4 sells it (+1 realized)
    assert portfolio.realized_pnl_usd == D(7)
    assert dict(portfolio.positions) == {}
    assert portfolio.entries_by_market == {"m1": 2}


@pytest.mark.parametrize(
    ("trades", "settlements"),
    [
        ([_trade(1, Side.SELL, "t1y", "1", "1")], []),
        ([_trade(1, Side.BUY, "t1y", "1", "1"), _trade(2, Side.SELL, "t1y", "2", "1")], []),
        ([_trade(1, Side.BUY, "t1y", "1", "1")], [_settlement(2, "t1y", "2", "1", "1")]),
        ([], [_settlement(1, "t1y", "1", "1", "1")]),
    ],
)
def test_replay_rejects_impossible_ledger(
    trades: list[Trade], settlements: list[Settlement]
) -> None:
    """Selling or settling shares that are not held is a ledger error, not silently absorbed."""
    with pytest.raises(LedgerError):
        replay(START, trades, settlements)


# ---------------------------------------------------------------- incremental replay

LEDGERS: dict[str, tuple[list[Trade], list[Settlement]]] = {
    "empty": ([], []),
    "buy, add, partial sell, settle the rest": (
        [
            _trade(1, Side.BUY, "t1n", "100", "40", "0.96"),
            _trade(2, Side.BUY, "t1n", "50", "25", "0.5"),
            _trade(3, Side.SELL, "t1n", "30", "18", "0.2"),
        ],
        [_settlement(4, "t1n", "120", "1", "51.8")],
    ),
    "two markets, a settlement between trades, a re-entry": (
        [
            _trade(1, Side.BUY, "t1y", "10", "4", market="m1"),
            _trade(2, Side.BUY, "t2n", "20", "11", "0.1", market="m2"),
            _trade(4, Side.SELL, "t2n", "20", "9", "0.1", market="m2"),
            _trade(5, Side.BUY, "t1y", "5", "3", market="m1"),
        ],
        [_settlement(3, "t1y", "10", "1", "4", market="m1")],
    ),
    "sales in thirds round the removed cost to micro-dollars": (
        [
            _trade(1, Side.BUY, "t1y", "3", "1", "0.000001"),
            _trade(2, Side.SELL, "t1y", "1", "0.5"),
            _trade(3, Side.SELL, "t1y", "1", "0.5"),
            _trade(4, Side.SELL, "t1y", "1", "0.5"),
        ],
        [],
    ),
}


def _split(
    trades: list[Trade], settlements: list[Settlement], seq: int
) -> tuple[tuple[list[Trade], list[Settlement]], tuple[list[Trade], list[Settlement]]]:
    before = ([t for t in trades if t.seq <= seq], [s for s in settlements if s.seq <= seq])
    after = ([t for t in trades if t.seq > seq], [s for s in settlements if s.seq > seq])
    return before, after


@pytest.mark.parametrize("name", sorted(LEDGERS))
def test_advance_from_any_point_equals_full_replay(name: str) -> None:
    """Folding the entries after any seq into the replay up to it gives the full replay."""
    trades, settlements = LEDGERS[name]
    full = replay(START, trades, settlements)
    last = max([0, *(t.seq for t in trades), *(s.seq for s in settlements)])
    assert full.last_seq == last
    for seq in range(last + 1):
        (t1, s1), (t2, s2) = _split(trades, settlements, seq)
        assert advance(replay(START, t1, s1), t2, s2) == full, seq


@pytest.mark.parametrize("name", sorted(LEDGERS))
def test_advance_one_entry_at_a_time_equals_full_replay(name: str) -> None:
    """Advancing by one ledger entry at a time (each poll's new rows) ends at the full replay."""
    trades, settlements = LEDGERS[name]
    portfolio = opening(START)
    entries: list[Trade | Settlement] = [*trades, *settlements]
    for entry in sorted(entries, key=lambda e: e.seq):
        before = portfolio
        if isinstance(entry, Trade):
            portfolio = advance(portfolio, [entry], [])
        else:
            portfolio = advance(portfolio, [], [entry])
        assert before != portfolio and portfolio.last_seq == entry.seq
    assert portfolio == replay(START, trades, settlements)


def test_advance_with_nothing_new_is_the_same_portfolio() -> None:
    """No new entries: the portfolio itself comes back (a poll without trades folds nothing)."""
    trades, settlements = LEDGERS["buy, add, partial sell, settle the rest"]
    portfolio = replay(START, trades, settlements)
    assert advance(portfolio, [], []) is portfolio


def test_advance_leaves_the_earlier_portfolio_unchanged() -> None:
    """The portfolio advanced from is a value: its positions and counts do not move."""
    trades, settlements = LEDGERS["two markets, a settlement between trades, a re-entry"]
    (t1, s1), (t2, s2) = _split(trades, settlements, 2)
    earlier = replay(START, t1, s1)
    copy = replace(earlier, positions=dict(earlier.positions))
    advance(earlier, t2, s2)
    assert earlier == copy and set(earlier.positions) == {"t1y", "t2n"}


def test_advance_refuses_an_entry_already_folded() -> None:
    """An entry at or before the portfolio's last seq would count twice: a ledger error."""
    trades, _ = LEDGERS["buy, add, partial sell, settle the rest"]
    portfolio = replay(START, trades[:2], [])
    with pytest.raises(LedgerError, match="already folded"):
        advance(portfolio, [trades[1]], [])


# ---------------------------------------------------------------- value


def _held(*tokens: str) -> Portfolio:
    trades = [_trade(i + 1, Side.BUY, t, "10", "4") for i, t in enumerate(tokens)]
    return replay(START, trades, [])


@pytest.mark.parametrize(
    ("quote", "last_price", "mark", "stale", "missing"),
    [
        (_quote("t1y", "0.55"), None, "0.55", False, False),
        (_quote("t1y", "0.55", age_s=601), None, "0.55", True, False),
        (_quote("t1y", None), "0.5", "0", False, False),  # empty bid side: nobody would buy
        (None, "0.47", "0.47", True, True),  # book vanished: last known price
        (None, None, "0", True, True),  # no price at all
    ],
)
def test_value_marks_and_flags(
    quote: Quote | None, last_price: str | None, mark: str, stale: bool, missing: bool
) -> None:
    """Each position is marked at its best bid, else its last price, else 0, with flags."""
    portfolio = _held("t1y")
    quotes = {"t1y": quote} if quote else {}
    last = {"t1y": D(last_price)} if last_price else {}
    valuation = value(portfolio, quotes, last, T0, 600)
    (marked,) = valuation.positions
    assert (marked.mark_price, marked.price_stale, marked.book_missing) == (D(mark), stale, missing)
    assert marked.value_usd == D(10) * D(mark)
    assert marked.unrealized_pnl_usd == D(10) * D(mark) - D(4)
    assert valuation.equity_usd == START - D(4) + D(10) * D(mark)


def test_value_totals_are_exact() -> None:
    """Equity is cash plus the sum of shares x mark, and unrealized the sum of value - cost."""
    portfolio = _held("t1y", "t2n", "t3y")
    quotes = {"t1y": _quote("t1y", "0.333"), "t2n": _quote("t2n", "0.001")}
    valuation = value(portfolio, quotes, {"t3y": D("0.1234")}, T0, 600)
    assert valuation.positions_value_usd == D("3.33") + D("0.01") + D("1.234")
    assert valuation.equity_usd == START - 12 + D("4.574")
    assert valuation.unrealized_pnl_usd == D("4.574") - 12
    assert valuation.realized_pnl_usd == portfolio.realized_pnl_usd


# ---------------------------------------------------------------- resolve

YES, NO = "1111", "2222"
BASE_MARKET = Market(
    market_id="m1",
    event_id="e1",
    condition_id="0xc0",
    slug="rain",
    question="Will it rain?",
    outcomes=("Yes", "No"),
    token_ids=(YES, NO),
    outcome_prices=(D("0.4"), D("0.6")),
    active=True,
    closed=False,
    accepting_orders=True,
    enable_order_book=True,
    uma_resolution_status=None,
    uma_resolution_statuses=(),
    end_date=None,
    liquidity_usd=D(1000),
    volume_usd=D(1000),
    volume_24h_usd=D(0),
    tick_size=D("0.01"),
    min_order_size=D(5),
    fee_schedule=None,
    neg_risk=False,
)


def _market(
    prices: tuple[str, str], *, closed: bool = True, uma: str | None = "resolved"
) -> Market:
    return replace(
        BASE_MARKET,
        closed=closed,
        outcome_prices=(D(prices[0]), D(prices[1])),
        uma_resolution_status=uma,
        uma_resolution_statuses=(uma,) if uma else (),
    )


def _clob(yes_winner: bool | None, no_winner: bool | None, *, fifty: bool = False) -> ClobMarket:
    return ClobMarket(
        condition_id="0xc0",
        closed=True,
        accepting_orders=False,
        enable_order_book=False,
        is_50_50_outcome=fifty,
        tokens=(ClobToken(YES, "Yes", None, yes_winner), ClobToken(NO, "No", None, no_winner)),
    )


@pytest.mark.parametrize(
    ("market", "clob", "status", "payouts", "reason_part"),
    [
        # open and proposed (the book vanishes once a resolution is proposed)
        (_market(("0.4", "0.6"), closed=False, uma=None), None, "open", {}, "open"),
        (_market(("0.9", "0.1"), closed=False, uma="proposed"), None, "pending", {}, "proposed"),
        # gamma_events_list_resolved_yes_won.json / gamma_market_closed_resolved_no_won.json
        (_market(("1", "0")), None, "resolved", {YES: "1", NO: "0"}, "'Yes' won"),
        (_market(("0", "1")), None, "resolved", {YES: "0", NO: "1"}, "'No' won"),
        (_market(("1.0", "0.0")), None, "resolved", {YES: "1", NO: "0"}, "won"),
        (_market(("0", "1")), _clob(False, True), "resolved", {YES: "0", NO: "1"}, "CLOB agrees"),
        (_market(("0", "1")), _clob(None, None), "resolved", {YES: "0", NO: "1"}, "won"),
        # the CLOB names the other winner, or a 50-50 against a winner: wait
        (_market(("1", "0")), _clob(False, True), "pending", {}, "conflict"),
        (_market(("1", "0")), _clob(False, False, fifty=True), "pending", {}, "conflict"),
        (_market(("0.5", "0.5")), _clob(True, False), "pending", {}, "conflict"),
        # 50-50: from the CLOB flag, or Gamma at 0.5/0.5 (unverified shape)
        (
            _market(("0", "0")),
            _clob(False, False, fifty=True),
            "resolved",
            {YES: "0.5", NO: "0.5"},
            "50-50",
        ),
        (_market(("0.5", "0.5")), None, "resolved", {YES: "0.5", NO: "0.5"}, "50-50"),
        # closed without a final, exact pair
        (_market(("1", "0"), uma=None), None, "pending", {}, "not final"),  # closed_but_accepting
        (_market(("1", "0"), uma="proposed"), None, "pending", {}, "not final"),
        (_market(("0", "0")), None, "pending", {}, "exact 1/0"),  # legacy AMM ["0","0"]
        (_market(("0.9995", "0.0005")), None, "pending", {}, "exact 1/0"),
        (_market(("0", "0"), uma=None), None, "pending", {}, "not final"),
    ],
)
def test_resolve(
    market: Market,
    clob: ClobMarket | None,
    status: str,
    payouts: dict[str, str],
    reason_part: str,
) -> None:
    """Only closed + UMA resolved + an exact 1/0 pair (or a 50-50) resolves; conflicts wait."""
    check = resolve(market, clob)
    assert check.status == status
    assert dict(check.payouts) == {token: D(p) for token, p in payouts.items()}
    assert reason_part in check.reason


def test_resolve_rejects_clob_of_another_market() -> None:
    """A CLOB market with a different condition id is never used to confirm a resolution."""
    other = replace(_clob(True, False), condition_id="0xother")
    assert resolve(_market(("1", "0")), other).status == "pending"


# ---------------------------------------------------------------- settlement intents and snapshot


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_settlement_intents_pay_each_position_of_the_market() -> None:
    """Each open position of the resolved market gets payout = shares x payout per share."""
    portfolio = replay(
        START,
        [
            _trade(1, Side.BUY, YES, "10", "4", "0.1"),
            _trade(2, Side.BUY, NO, "20", "12", "0.2"),
            _trade(3, Side.BUY, "other", "5", "1", market="m2"),
        ],
        [],
    )
    check = ResolutionCheck("resolved", {YES: D(1), NO: D(0)}, "resolved: 'Yes' won")
    intents = settlement_intents(portfolio, check, "m1")
    assert [(i.token_id, i.shares, i.payout_usd, i.realized_pnl_usd) for i in intents] == [
        (YES, D(10), D(10), D("5.9")),
        (NO, D(20), D(0), D("-12.2")),
    ]
    assert intents[0].idempotency_key == _key(f"settle|m1|{YES}|entry2")
    assert intents[1].cost_basis_usd == D("12.2")
    assert intents[0].resolution == "resolved: 'Yes' won"


@pytest.mark.parametrize("status", ["open", "pending"])
def test_settlement_intents_only_when_resolved(status: Any) -> None:
    """An open or pending market settles nothing."""
    portfolio = replay(START, [_trade(1, Side.BUY, YES, "10", "4")], [])
    check = ResolutionCheck(status, {YES: D(1), NO: D(0)}, "x")
    assert settlement_intents(portfolio, check, "m1") == []


def test_snapshot_copies_valuation_and_counts() -> None:
    """A snapshot carries the valuation's money and the portfolio's counts."""
    portfolio = replay(
        START,
        [_trade(1, Side.BUY, YES, "10", "4"), _trade(2, Side.BUY, "t9", "10", "5", market="m9")],
        [_settlement(3, "t9", "10", "1", "5", market="m9")],
    )
    valuation = value(portfolio, {YES: _quote(YES, "0.5")}, {}, T0, 600)
    snap = snapshot(portfolio, valuation, "2026-03-02", T0)
    assert (snap.local_date, snap.taken_at, snap.equity_usd) == ("2026-03-02", T0, D(1006))
    assert (snap.cash_usd, snap.positions_value_usd, snap.unrealized_pnl_usd) == (
        D(1001),
        D(5),
        D(1),
    )
    assert (snap.realized_pnl_usd, snap.fees_usd) == (D(5), D(0))
    assert (snap.trade_count, snap.open_positions, snap.settled_positions, snap.settled_wins) == (
        2,
        1,
        1,
        1,
    )


# ---------------------------------------------------------------- stateful model

MARKETS = {f"m{i}": (f"m{i}y", f"m{i}n") for i in range(3)}
FEES = FeeSchedule(D("0.04"))


class LedgerMachine(RuleBasedStateMachine):
    """A fake append-only ledger with a UNIQUE idempotency key, replayed after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.trades: list[Trade] = []
        self.settlements: list[Settlement] = []
        self.keys: set[str] = set()
        self.seq = 0
        self.flows = D(0)
        self.shares: dict[str, Decimal] = {}
        self.marks: dict[str, Decimal] = {}
        self.closed: set[str] = set()
        self.portfolio = replay(START, [], [])

    @initialize()
    def start(self) -> None:
        """Begin with an empty ledger."""
        assert self.portfolio.cash_usd == START

    def _append(self, entry: Trade | Settlement) -> bool:
        """Insert unless the key exists, like INSERT ... ON CONFLICT(key) DO NOTHING."""
        if entry.idempotency_key in self.keys:
            return False
        self.keys.add(entry.idempotency_key)
        if isinstance(entry, Trade):
            self.trades.append(entry)
        else:
            self.settlements.append(entry)
        self.portfolio = replay(START, self.trades, self.settlements)
        return True

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    @rule(
        market=st.sampled_from(sorted(MARKETS)),
        side=st.integers(0, 1),
        cents=st.integers(500, 50_000),
        ticks=st.integers(1, 999),
    )
    def buy(self, market: str, side: int, cents: int, ticks: int) -> None:
        """Buy a random fill into an open market when cash allows."""
        if market in self.closed:
            return
        token = MARKETS[market][side]
        shares, price = D(cents) / 100, D(ticks) / 1000
        notional, fee = shares * price, taker_fee(shares, price, FEES)
        if notional + fee > self.portfolio.cash_usd:
            return
        entry_number = self.portfolio.entries_by_market.get(market, 0) + 1
        trade = _trade(
            self._next_seq(),
            Side.BUY,
            token,
            str(shares),
            str(notional),
            str(fee),
            market=market,
            key=f"buy|{market}|{token}|entry{entry_number}",
        )
        assert self._append(trade)
        self.flows -= notional + fee
        self.shares[token] = self.shares.get(token, D(0)) + shares

    @precondition(lambda self: bool(self.portfolio.positions))
    @rule(data=st.data(), percent=st.integers(1, 100), ticks=st.integers(1, 999))
    def sell(self, data: st.DataObject, percent: int, ticks: int) -> None:
        """Sell part (or all) of a held position at a random price."""
        token = data.draw(st.sampled_from(sorted(self.portfolio.positions)))
        held = self.portfolio.positions[token]
        shares = (held.shares * percent / 100).quantize(D("0.01"), rounding="ROUND_DOWN")
        if shares <= 0:
            return
        price = D(ticks) / 1000
        notional, fee = shares * price, taker_fee(shares, price, FEES)
        trade = _trade(
            self._next_seq(),
            Side.SELL,
            token,
            str(shares),
            str(notional),
            str(fee),
            market=held.market_id,
            key=f"sell|{token}|{self.seq}",
        )
        assert self._append(trade)
        self.flows += notional - fee
        self.shares[token] -= shares

    @rule(market=st.sampled_from(sorted(MARKETS)), winner=st.integers(0, 1))
    def settle(self, market: str, winner: int) -> None:
        """Resolve a market 1/0 and write its settlements; each pays shares x {0,1}."""
        yes, no = MARKETS[market]
        payouts = {yes: D(1 - winner), no: D(winner)}
        check = ResolutionCheck("resolved", payouts, "test")
        before = self.portfolio
        for intent in settlement_intents(before, check, market):
            held = before.positions[intent.token_id]
            assert intent.payout_usd == held.shares * payouts[intent.token_id]
            settlement = Settlement(
                settlement_id=self.seq + 1,
                seq=self._next_seq(),
                idempotency_key=intent.idempotency_key,
                settled_at=T0,
                market_id=intent.market_id,
                token_id=intent.token_id,
                outcome=intent.outcome,
                shares=intent.shares,
                payout_per_share=intent.payout_per_share,
                payout_usd=intent.payout_usd,
                cost_basis_usd=intent.cost_basis_usd,
                realized_pnl_usd=intent.realized_pnl_usd,
                resolution=intent.resolution,
            )
            assert self._append(settlement)
            assert intent.token_id not in self.portfolio.positions
            self.flows += intent.payout_usd
            self.shares[intent.token_id] = D(0)
        self.closed.add(market)

    @rule(data=st.data(), ticks=st.integers(0, 1000))
    def mark(self, data: st.DataObject, ticks: int) -> None:
        """Move the best bid of a random token."""
        token = data.draw(st.sampled_from(sorted(t for pair in MARKETS.values() for t in pair)))
        self.marks[token] = D(ticks) / 1000

    @precondition(lambda self: bool(self.trades or self.settlements))
    @rule(data=st.data())
    def crash_and_replay(self, data: st.DataObject) -> None:
        """Re-apply an already-applied entry with its key: the ledger drops it, nothing changes."""
        entries: list[Trade | Settlement] = [*self.trades, *self.settlements]
        entry = data.draw(st.sampled_from(entries))
        before = self.portfolio
        again = replace(entry, seq=self.seq + 1)
        assert not self._append(again)
        assert self.portfolio == before
        assert replay(START, self.trades, self.settlements) == before

    def _valuation(self) -> Any:
        quotes = {token: _quote(token, str(bid)) for token, bid in self.marks.items()}
        return value(self.portfolio, quotes, {}, T0, 600)

    @invariant()
    def cash_is_start_plus_flows(self) -> None:
        """Cash equals the start plus every flow the model recorded, and never goes negative."""
        assert self.portfolio.cash_usd == START + self.flows
        assert self.portfolio.cash_usd >= 0

    @invariant()
    def shares_match_model(self) -> None:
        """Held shares equal the model's count; none is negative and zero means no position."""
        held = {t: p.shares for t, p in self.portfolio.positions.items()}
        assert held == {t: s for t, s in self.shares.items() if s != 0}
        assert all(s > 0 for s in held.values())

    @invariant()
    def equity_identities_are_exact(self) -> None:
        """equity = cash + sum(shares x mark); realized + unrealized = equity - start."""
        valuation = self._valuation()
        positions_value = sum(
            (p.shares * self.marks.get(t, D(0)) for t, p in self.portfolio.positions.items()),
            D(0),
        )
        assert valuation.equity_usd == self.portfolio.cash_usd + positions_value
        assert valuation.realized_pnl_usd + valuation.unrealized_pnl_usd == (
            valuation.equity_usd - START
        )

    @invariant()
    def replay_is_deterministic(self) -> None:
        """Replaying the ledger in any list order gives the same portfolio."""
        reordered = replay(START, self.trades[::-1], self.settlements[::-1])
        assert reordered == self.portfolio


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.__doc__ = "Hypothesis drives the ledger model through random operation sequences."


@pytest.mark.parametrize(
    ("trades", "settlements", "expected"),
    [
        # one buy, settled at $1: all the P&L is that buy's
        (
            [_trade(1, Side.BUY, "an", "100", "40")],
            [_settlement(2, "an", "100", "1", "40")],
            {1: (D(60), D(0), "settled")},
        ),
        # buy 100 @ 0.40, sell 60 @ 0.80 (+24), settle 40 @ $1 (+24): 48 on the buy
        (
            [_trade(1, Side.BUY, "an", "100", "40"), _trade(2, Side.SELL, "an", "60", "48")],
            [_settlement(3, "an", "40", "1", "16")],
            {1: (D(48), D(0), "settled")},
        ),
        # two buys, half sold at a profit: shared by remaining shares, both partly closed
        (
            [
                _trade(1, Side.BUY, "an", "100", "40"),
                _trade(2, Side.BUY, "an", "100", "60"),
                _trade(3, Side.SELL, "an", "100", "80"),
            ],
            [],
            {1: (D(15), D(50), "partly_closed"), 2: (D(15), D(50), "partly_closed")},
        ),
        # sold out entirely: closed
        (
            [_trade(1, Side.BUY, "an", "10", "5"), _trade(2, Side.SELL, "an", "10", "4")],
            [],
            {1: (D(-1), D(0), "closed")},
        ),
        # untouched buy: open, nothing realized
        ([_trade(1, Side.BUY, "an", "10", "5")], [], {1: (D(0), D(10), "open")}),
    ],
)
def test_buy_outcomes_attribute_realized_pnl_to_buys(
    trades: list[Trade], settlements: list[Settlement], expected: dict[int, tuple[Any, ...]]
) -> None:
    """Realized P&L is shared among open buys by remaining shares and sums to the ledger's."""
    outcomes = buy_outcomes(START, trades, settlements)
    got = {k: (v.realized_pnl_usd, v.open_shares, v.status) for k, v in outcomes.items()}
    assert got == expected
    total = sum((v.realized_pnl_usd for v in outcomes.values()), D(0))
    assert total == replay(START, trades, settlements).realized_pnl_usd
