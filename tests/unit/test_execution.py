"""Execution planning: actionable signals become filled entry intents; exit rules become sales."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from prescientd.core.execution import Plan, Skip, plan_entries, plan_exits, with_skips
from prescientd.core.ledger import replay
from prescientd.models import (
    Action,
    Book,
    FeeSchedule,
    Level,
    Market,
    Portfolio,
    PriceSource,
    Side,
    Signal,
    SignalStatus,
    SkipReason,
    Trade,
)

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
D = Decimal
FEES = FeeSchedule(D("0.04"))


def _market(
    market_id: str, *, fees: FeeSchedule | None = FEES, min_size: str | None = "5"
) -> Market:
    return Market(
        market_id=market_id,
        event_id=f"e-{market_id}",
        condition_id=f"0x{market_id}",
        slug=market_id,
        question=f"Question {market_id}?",
        outcomes=("Yes", "No"),
        token_ids=(f"{market_id}y", f"{market_id}n"),
        outcome_prices=(D("0.6"), D("0.4")),
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=(),
        end_date=None,
        liquidity_usd=D(10000),
        volume_usd=D(10000),
        volume_24h_usd=D(0),
        tick_size=D("0.01"),
        min_order_size=D(min_size) if min_size else None,
        fee_schedule=fees,
        neg_risk=False,
    )


def _book(
    token: str,
    asks: list[tuple[str, str]],
    bids: list[tuple[str, str]] | None = None,
    *,
    min_size: str | None = None,
) -> Book:
    return Book(
        token_id=token,
        condition_id="0x",
        bids=tuple(Level(D(p), D(s)) for p, s in bids or []),
        asks=tuple(Level(D(p), D(s)) for p, s in asks),
        timestamp_ms=0,
        hash="",
        tick_size=D("0.01"),
        min_order_size=D(min_size) if min_size else None,
        last_trade_price=None,
    )


def _signal(market_id: str, stake: str = "40", *, actionable: bool = True) -> Signal:
    return Signal(
        market_id=market_id,
        event_id=f"e-{market_id}",
        question=f"Question {market_id}?",
        action=Action.BUY_NO,
        token_id=f"{market_id}n",
        outcome="No",
        price_source=PriceSource.DISPLAY,
        yes_price=D("0.6"),
        threshold=D("0.5"),
        confidence=D("0.1"),
        stake_usd=D(stake),
        status=SignalStatus.ACTIONABLE if actionable else SignalStatus.SKIPPED,
        reason=f"yes {market_id} above threshold",
        skip_reason=None if actionable else SkipReason.HELD,
        idempotency_key=f"key-{market_id}",
    )


def _cash(amount: str) -> Portfolio:
    return replay(D(amount), [], [])


def _plan(signals: list[Signal], books: dict[str, Book], cash: str = "1000", **kw: Any) -> Plan:
    options: dict[str, Any] = {
        "max_slippage": D("0.02"),
        "fees_enabled": True,
        "cash_reserve_usd": D(0),
    }
    options.update(kw)
    markets = {m: _market(m) for m in ("a", "b", "c")}
    return plan_entries(signals, books, markets, _cash(cash), **options)


def test_entry_intent_carries_signal_and_fill() -> None:
    """An actionable signal with a book becomes an intent with its key, fill and reason."""
    plan = _plan([_signal("a")], {"an": _book("an", [("0.40", "1000")])})
    (intent,) = plan.intents
    assert plan.skipped == ()
    assert (intent.idempotency_key, intent.market_id, intent.event_id) == ("key-a", "a", "e-a")
    assert (intent.token_id, intent.outcome, intent.question) == ("an", "No", "Question a?")
    assert intent.reason == "yes a above threshold"
    # $40 at 0.40 buys 100 shares; fee 100 x 0.04 x 0.24
    assert (intent.fill.side, intent.fill.shares, intent.fill.notional_usd) == (
        Side.BUY,
        D(100),
        D(40),
    )
    assert intent.fill.fees_usd == D("0.96000")


def test_fees_disabled_charge_nothing() -> None:
    """With fees disabled the market's schedule is ignored."""
    plan = _plan([_signal("a")], {"an": _book("an", [("0.40", "1000")])}, fees_enabled=False)
    assert plan.intents[0].fill.fees_usd == 0


@pytest.mark.parametrize(
    ("signals", "books", "skips"),
    [
        ([_signal("a")], {}, ["no book"]),
        ([_signal("a")], {"an": _book("an", [])}, ["no asks"]),
        ([_signal("a", "1")], {"an": _book("an", [("0.40", "1000")])}, ["below minimum"]),
        ([_signal("z")], {"zn": _book("zn", [("0.40", "1000")])}, ["unknown market"]),
        ([_signal("a", actionable=False)], {"an": _book("an", [("0.40", "1000")])}, []),
    ],
)
def test_entry_skips(signals: list[Signal], books: dict[str, Book], skips: list[str]) -> None:
    """Missing books, empty asks, tiny fills and unknown markets are skipped with a reason."""
    plan = _plan(signals, books)
    assert plan.intents == ()
    assert len(plan.skipped) == len(skips)
    for skip, want in zip(plan.skipped, skips, strict=True):
        assert skip.detail.startswith(want) and skip.reason is SkipReason.NO_FILL


def test_cash_runs_out_in_signal_order() -> None:
    """Costs (notional + fee) are counted against cash minus reserve in signal order."""
    books = {t: _book(t, [("0.50", "1000")]) for t in ("an", "bn", "cn")}
    # each $40 entry costs 40 + 80 x 0.04 x 0.25 = 40.80; 100 - 10 reserve fits two
    plan = _plan(
        [_signal("a"), _signal("b"), _signal("c", "9")],
        books,
        cash="100",
        cash_reserve_usd=D(10),
    )
    assert [i.market_id for i in plan.intents] == ["a", "b"]
    (skip,) = plan.skipped
    assert skip.signal.market_id == "c"
    assert skip.reason is SkipReason.CASH_RESERVE and skip.detail.startswith("cash")
    # 100 - 10 - 81.60 = 8.40 is left; the $9 entry would cost 9 + 0.18
    assert "8.40" in skip.detail


@pytest.mark.parametrize(
    ("skip_reason", "detail"),
    [(SkipReason.CASH_RESERVE, "cash: needs 9.18 USD"), (SkipReason.NO_FILL, "no book")],
)
def test_with_skips_marks_unfilled_actionable_signals(skip_reason: SkipReason, detail: str) -> None:
    """A skipped entry turns its actionable signal into a skip with that reason; others stay."""
    a, b, held = _signal("a"), _signal("b"), _signal("c", actionable=False)
    out = with_skips([a, b, held], [Skip(a, skip_reason, detail), Skip(held, skip_reason, "x")])
    assert out[1:] == [b, held]
    assert out[0] == replace(
        a,
        status=SignalStatus.SKIPPED,
        skip_reason=skip_reason,
        reason=f"yes a above threshold; skipped: {detail}",
    )


def test_min_order_size_comes_from_book_then_market_then_default() -> None:
    """The book's minimum wins over the market's, which wins over the default 5."""
    book = _book("an", [("0.50", "1000")], min_size="20")
    plan = _plan([_signal("a", "9")], {"an": book})  # 18 shares
    assert plan.skipped[0].detail.startswith("below minimum order size")
    assert "minimum 20" in plan.skipped[0].detail
    no_min_market = {"a": _market("a", min_size=None)}
    plan = plan_entries(
        [_signal("a", "2")],  # 4 shares
        {"an": _book("an", [("0.50", "1000")])},
        no_min_market,
        _cash("1000"),
        max_slippage=D("0.02"),
        fees_enabled=True,
        cash_reserve_usd=D(0),
    )
    assert "minimum 5" in plan.skipped[0].detail


# ---------------------------------------------------------------- exits


def _holding(
    shares: str = "100", *, market: str = "a", token: str = "an", entries: int = 1
) -> Portfolio:
    trades = [
        Trade(
            trade_id=i,
            seq=i,
            idempotency_key=f"k{i}",
            executed_at=NOW,
            market_id=market,
            event_id=f"e-{market}",
            token_id=token,
            outcome="No",
            question="Q?",
            side=Side.BUY,
            shares=D(shares) / entries,
            notional_usd=D(10),
            fees_usd=D(0),
            reason="entry",
        )
        for i in range(1, entries + 1)
    ]
    return replay(D(1000), trades, [])


def _exits(portfolio: Portfolio, books: dict[str, Book], **kw: Any) -> tuple[Any, ...]:
    options: dict[str, Any] = {
        "take_profit_price": D("0.90"),
        "stop_loss_price": D("0.20"),
        "max_slippage": D("0.02"),
        "fees_enabled": True,
    }
    options.update(kw)
    return plan_exits(portfolio, books, {"a": _market("a")}, **options)


@pytest.mark.parametrize(
    ("best_bid", "exits", "reason_start"),
    [
        ("0.90", True, "take profit"),
        ("0.95", True, "take profit"),
        ("0.89", False, ""),
        ("0.21", False, ""),
        ("0.20", True, "stop loss"),
        ("0.05", True, "stop loss"),
    ],
)
def test_exit_thresholds(best_bid: str, exits: bool, reason_start: str) -> None:
    """A position is sold when its best bid reaches take-profit or falls to stop-loss."""
    book = _book("an", [], [(best_bid, "1000")])
    intents = _exits(_holding(), {"an": book})
    assert bool(intents) is exits
    if exits:
        (intent,) = intents
        assert intent.reason.startswith(reason_start)
        assert (intent.fill.side, intent.fill.shares) == (Side.SELL, D(100))
        price = D(best_bid)
        assert intent.fill.fees_usd == (D(100) * D("0.04") * price * (1 - price)).quantize(
            D("0.00001")
        )


def test_exit_key_names_token_entry_number_and_held_shares() -> None:
    """The exit key is sha256 of exit|token|entryN|sharesS: N entries, S shares held."""
    book = _book("an", [], [("0.95", "1000")])
    (intent,) = _exits(_holding(entries=2), {"an": book})
    assert intent.idempotency_key == hashlib.sha256(b"exit|an|entry2|shares100").hexdigest()
    assert (intent.market_id, intent.token_id, intent.question) == ("a", "an", "Q?")


@pytest.mark.parametrize(
    ("books", "kw"),
    [
        (
            {"an": _book("an", [], [("0.95", "1000")])},
            {"take_profit_price": None, "stop_loss_price": None},
        ),
        ({}, {}),  # no book
        ({"an": _book("an", [("0.95", "10")], [])}, {}),  # no bids
        ({"an": _book("an", [], [("0.95", "4")])}, {}),  # only 4 shares within the cap
    ],
)
def test_no_exit(books: dict[str, Book], kw: dict[str, Any]) -> None:
    """No rules, no book, no bids, or a sale below the minimum size: the position is kept."""
    assert _exits(_holding(), books, **kw) == ()


def test_exit_of_position_in_unknown_market_waits_while_fees_are_on() -> None:
    """Without its market the fee schedule is unknown, so no fee-less sale is simulated."""
    portfolio = _holding(market="gone", token="gn")
    book = {"gn": _book("gn", [], [("0.95", "1000")])}
    assert _exits(portfolio, book) == ()
    (intent,) = _exits(portfolio, book, fees_enabled=False)
    assert intent.fill.fees_usd == 0


def test_exit_uses_only_levels_within_slippage() -> None:
    """A stop-loss sale walks the bids down to best bid - slippage and no further."""
    book = _book("an", [], [("0.15", "60"), ("0.14", "30"), ("0.12", "1000")])
    (intent,) = _exits(_holding(), {"an": book}, fees_enabled=False)
    assert intent.fill.shares == D(90)
    assert intent.fill.notional_usd == D("13.20")


def test_exit_fee_uses_the_market_schedule() -> None:
    """The sale is charged the position's market fee schedule."""
    market = replace(_market("a"), fee_schedule=FeeSchedule(D("0.10")))
    book = _book("an", [], [("0.50", "1000")])
    (intent,) = plan_exits(
        _holding(),
        {"an": book},
        {"a": market},
        take_profit_price=D("0.5"),
        stop_loss_price=None,
        max_slippage=D(0),
        fees_enabled=True,
    )
    assert intent.fill.fees_usd == D("2.50000")  # 100 x 0.10 x 0.25
