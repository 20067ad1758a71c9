"""Paper fills: walks of a recorded 137-level book, slippage cap, minimum size, taker fees."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from prescientd.core.fills import NoFill, simulate_buy, simulate_sell, taker_fee
from prescientd.models import Book, FeeSchedule, Fill, Level, Side

BOOK_FILE = "clob_book_rest_2026-10_many_levels.json"
FEE_004 = FeeSchedule(rate=Decimal("0.04"), exponent=Decimal(1))


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


@cache
def _raw_book() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / BOOK_FILE).read_text(encoding="utf-8"))
    return data


def _levels(raw: list[dict[str, str]], *, descending: bool) -> tuple[Level, ...]:
    levels = [Level(Decimal(row["price"]), Decimal(row["size"])) for row in raw]
    return tuple(sorted(levels, key=lambda level: level.price, reverse=descending))


def _fixture_book() -> Book:
    raw = _raw_book()
    return Book(
        token_id=raw["asset_id"],
        condition_id=raw["market"],
        bids=_levels(raw["bids"], descending=True),
        asks=_levels(raw["asks"], descending=False),
        timestamp_ms=int(raw["timestamp"]),
        hash=raw["hash"],
        tick_size=Decimal(raw["tick_size"]),
        min_order_size=Decimal(raw["min_order_size"]),
        last_trade_price=Decimal(raw["last_trade_price"]),
        neg_risk=raw["neg_risk"],
    )


def _book(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> Book:
    """A small synthetic book; levels are given as (price, size) strings in the order listed."""
    return Book(
        token_id="1",
        condition_id="0xabc",
        bids=tuple(Level(Decimal(p), Decimal(s)) for p, s in bids),
        asks=tuple(Level(Decimal(p), Decimal(s)) for p, s in asks),
        timestamp_ms=0,
        hash="0" * 40,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        last_trade_price=None,
    )


def _reference_fee(shares: Fraction, price: Fraction, rate: Fraction) -> Fraction:
    """Polymarket's fee with exponent 1, rounded half-up to 5 dp, minimum 0.00001 when positive."""
    raw = shares * rate * price * (1 - price)
    rounded = Fraction(math.floor(raw * 100_000 + Fraction(1, 2)), 100_000)
    return Fraction(1, 100_000) if raw > 0 and rounded == 0 else rounded


def _reference_walk(
    raw_levels: list[dict[str, str]], budget: Fraction, slippage: Fraction, *, buy: bool
) -> list[tuple[Fraction, Fraction]]:
    """Independent walk in Fractions: (price, shares) per level; budget is USD (buy) or shares."""
    levels = sorted(
        ((Fraction(row["price"]), Fraction(row["size"])) for row in raw_levels), reverse=not buy
    )
    best = levels[0][0]
    taken: list[tuple[Fraction, Fraction]] = []
    left = budget
    for price, size in levels:
        if (buy and price > best + slippage) or (not buy and price < best - slippage):
            break
        wanted = left / price if buy else left
        shares = Fraction(math.floor(min(size, wanted) * 100), 100)
        if shares == 0:
            break
        taken.append((price, shares))
        left -= shares * price if buy else shares
    return taken


def _as_fill(result: Fill | NoFill) -> Fill:
    assert isinstance(result, Fill), result
    return result


@pytest.mark.parametrize(
    ("stake", "slippage", "expected_levels"),
    [
        ("500", "0.02", 3),
        ("5000", "0.02", 8),
        ("500", "0.001", 2),
        ("500", "0", 1),
        ("100000", "0.005", 6),
    ],
)
def test_buy_walks_fixture_book_like_reference(
    stake: str, slippage: str, expected_levels: int
) -> None:
    """A buy on the recorded book matches an independent Fraction walk level by level."""
    fill = _as_fill(
        simulate_buy(
            _fixture_book(),
            Decimal(stake),
            max_slippage=Decimal(slippage),
            fee_schedule=FEE_004,
            min_order_size=Decimal(5),
        )
    )
    expected = _reference_walk(_raw_book()["asks"], Fraction(stake), Fraction(slippage), buy=True)
    assert len(fill.levels) == expected_levels == len(expected)
    assert [(Fraction(lv.price), Fraction(lv.shares)) for lv in fill.levels] == expected
    notional = sum(price * shares for price, shares in expected)
    assert Fraction(fill.shares) == sum(shares for _, shares in expected)
    assert Fraction(fill.notional_usd) == notional
    assert Fraction(fill.unfilled_usd) == Fraction(stake) - notional
    rate = Fraction(FEE_004.rate)
    assert Fraction(fill.fees_usd) == sum(_reference_fee(s, p, rate) for p, s in expected)
    assert fill.side is Side.BUY
    assert fill.token_id == _raw_book()["asset_id"]
    assert max(lv.price for lv in fill.levels) <= Decimal("0.025") + Decimal(slippage)


def test_buy_slippage_cap_leaves_rest_unfilled() -> None:
    """With a 0.001 cap a $500 stake takes the 0.025 and 0.026 levels whole and leaves the rest."""
    fill = _as_fill(
        simulate_buy(
            _fixture_book(),
            Decimal(500),
            max_slippage=Decimal("0.001"),
            fee_schedule=None,
            min_order_size=Decimal(5),
        )
    )
    # hand-computed from the fixture: 3563.48 x 0.025 + 10335.22 x 0.026
    assert fill.shares == Decimal("13898.70")
    assert fill.notional_usd == Decimal("357.80272")
    assert fill.unfilled_usd == Decimal("142.19728")
    assert fill.fees_usd == 0


@pytest.mark.parametrize(
    ("stake", "outcome"),
    [
        ("0.10", "below"),  # 4 shares at the 0.025 best ask
        ("0.1249", "below"),  # 4.99 shares
        ("0.125", "fill"),  # exactly 5 shares
        ("1", "fill"),
    ],
)
def test_buy_minimum_order_size(stake: str, outcome: str) -> None:
    """A buy of fewer than 5 shares is refused; exactly 5 is accepted."""
    result = simulate_buy(
        _fixture_book(),
        Decimal(stake),
        max_slippage=Decimal("0.02"),
        fee_schedule=None,
        min_order_size=Decimal(5),
    )
    if outcome == "below":
        assert isinstance(result, NoFill)
        assert result.reason.startswith("below minimum order size")
    else:
        assert isinstance(result, Fill)
        assert result.shares >= 5


@pytest.mark.parametrize(
    ("shares", "price", "schedule", "expected"),
    [
        ("100", "0.5", FEE_004, "1.00000"),  # the brief's example
        ("100", "0.5", FeeSchedule(Decimal("0.04"), Decimal(2)), "0.25000"),
        ("100", "0.5", FeeSchedule(Decimal("0.04"), Decimal("0.5")), "2.00000"),
        ("3.33", "0.47", FEE_004, "0.03318"),  # 0.03318012 rounds down
        ("1.01", "0.5", FeeSchedule(Decimal("0.05")), "0.01263"),  # 0.012625: half-UP, not even
        ("0.05", "0.5", FeeSchedule(Decimal("0.002")), "0.00003"),  # 0.000025: half-UP, not even
        ("0.01", "0.001", FEE_004, "0.00001"),  # 0.0000003996 -> Polymarket's minimum
        ("5", "0.001", FEE_004, "0.00020"),  # 0.0001998
        ("100", "0.5", FeeSchedule(Decimal(0)), "0"),  # zero rate: no minimum charge
        ("100", "1", FEE_004, "0"),
        ("100", "0", FEE_004, "0"),
        ("100", "0.5", None, "0"),
        ("0", "0.5", FEE_004, "0"),
    ],
)
def test_taker_fee(shares: str, price: str, schedule: FeeSchedule | None, expected: str) -> None:
    """The taker fee follows rate x (p(1-p))^exponent, half-up to 5 dp, with a 0.00001 minimum."""
    assert taker_fee(Decimal(shares), Decimal(price), schedule) == Decimal(expected)


def test_taker_fee_integer_exponent_is_exact() -> None:
    """A fourth-power fee (over 28 digits before rounding) matches exact rational arithmetic."""
    schedule = FeeSchedule(Decimal("0.04"), Decimal(4))
    base = Fraction("0.1234") * (1 - Fraction("0.1234"))
    raw = Fraction(1_000_000) * Fraction("0.04") * base**4
    expected = Fraction(math.floor(raw * 100_000 + Fraction(1, 2)), 100_000)
    assert Fraction(taker_fee(Decimal(1_000_000), Decimal("0.1234"), schedule)) == expected


def test_buy_fee_is_charged_per_level_on_top_of_stake() -> None:
    """Fees are summed per level and do not reduce the notional the stake buys."""
    book = _book(asks=[("0.50", "100"), ("0.51", "1000")], bids=[])
    fill = _as_fill(
        simulate_buy(
            book,
            Decimal(101),
            max_slippage=Decimal("0.05"),
            fee_schedule=FEE_004,
            min_order_size=Decimal(5),
        )
    )
    # 100 @ 0.50 = 50; 51 left buys 100 @ 0.51 = 51
    assert [(lv.price, lv.shares) for lv in fill.levels] == [
        (Decimal("0.50"), Decimal(100)),
        (Decimal("0.51"), Decimal(100)),
    ]
    assert fill.notional_usd == Decimal(101)
    assert fill.fees_usd == Decimal("1.00000") + Decimal("0.99960")  # 100 x 0.04 x 0.2499
    assert fill.unfilled_usd == 0


@pytest.mark.parametrize(
    ("asks", "stake", "shares", "notional", "unfilled"),
    [
        ([("0.30", "1000")], "1", "3.33", "0.999", "0.001"),  # shares round DOWN to 0.01
        ([("0.40", "10"), ("0.30", "10")], "5", "15", "5.00", "0"),  # unsorted input
        ([("0.30", "0.004"), ("0.31", "100")], "2", "6.45", "1.9995", "0.0005"),  # sub-cent level
    ],
)
def test_buy_edge_cases(
    asks: list[tuple[str, str]], stake: str, shares: str, notional: str, unfilled: str
) -> None:
    """Rounding down, levels not sorted best-first, and a level below 0.01 share."""
    result = simulate_buy(
        _book(asks=asks, bids=[]),
        Decimal(stake),
        max_slippage=Decimal("0.5"),
        fee_schedule=None,
        min_order_size=Decimal(1),
    )
    fill = _as_fill(result)
    assert (fill.shares, fill.notional_usd, fill.unfilled_usd) == (
        Decimal(shares),
        Decimal(notional),
        Decimal(unfilled),
    )


def test_buy_without_asks_or_stake() -> None:
    """An empty ask side and a non-positive stake give a NoFill with a reason."""
    empty = _book(asks=[], bids=[("0.5", "100")])
    kwargs: dict[str, Any] = {
        "max_slippage": Decimal("0.02"),
        "fee_schedule": None,
        "min_order_size": Decimal(5),
    }
    assert simulate_buy(empty, Decimal(10), **kwargs) == NoFill("no asks")
    zero = simulate_buy(_fixture_book(), Decimal(0), **kwargs)
    assert isinstance(zero, NoFill)


@pytest.mark.parametrize(
    ("shares", "slippage", "expected_levels"),
    [
        ("50000", "0.02", 2),
        ("1000", "0", 1),
        ("200000", "0.001", 2),  # the cap stops after 0.024 and 0.023
        ("3000000", "0.02", 20),  # every level from 0.024 down to the 0.004 cap
        ("30000000", "0.03", 23),  # the whole bid side
    ],
)
def test_sell_walks_fixture_book_like_reference(
    shares: str, slippage: str, expected_levels: int
) -> None:
    """A sell on the recorded book matches an independent walk; fees are reported, not netted."""
    fill = _as_fill(
        simulate_sell(
            _fixture_book(),
            Decimal(shares),
            max_slippage=Decimal(slippage),
            fee_schedule=FEE_004,
            min_order_size=Decimal(5),
        )
    )
    expected = _reference_walk(_raw_book()["bids"], Fraction(shares), Fraction(slippage), buy=False)
    assert len(fill.levels) == expected_levels == len(expected)
    assert [(Fraction(lv.price), Fraction(lv.shares)) for lv in fill.levels] == expected
    assert Fraction(fill.shares) == sum(s for _, s in expected)
    assert Fraction(fill.notional_usd) == sum(p * s for p, s in expected)
    rate = Fraction(FEE_004.rate)
    assert Fraction(fill.fees_usd) == sum(_reference_fee(s, p, rate) for p, s in expected)
    assert fill.side is Side.SELL
    assert min(lv.price for lv in fill.levels) >= Decimal("0.024") - Decimal(slippage)


def test_sell_cap_leaves_shares_unsold() -> None:
    """With a 0.001 cap only the 0.024 and 0.023 levels are hit; the rest stays held."""
    fill = _as_fill(
        simulate_sell(
            _fixture_book(),
            Decimal(200000),
            max_slippage=Decimal("0.001"),
            fee_schedule=None,
            min_order_size=Decimal(5),
        )
    )
    assert fill.shares == Decimal("112232.83")  # 7838.1 + 104394.73
    assert fill.notional_usd == Decimal("2589.19319")  # 7838.1 x 0.024 + 104394.73 x 0.023


def test_sell_fee_is_deducted_from_proceeds() -> None:
    """A sale of 100 shares at 0.5 with rate 0.04 grosses 50 and pays a 1.00000 fee."""
    book = _book(asks=[], bids=[("0.5", "1000")])
    fill = _as_fill(
        simulate_sell(
            book,
            Decimal(100),
            max_slippage=Decimal("0.02"),
            fee_schedule=FEE_004,
            min_order_size=Decimal(5),
        )
    )
    assert (fill.notional_usd, fill.fees_usd) == (Decimal(50), Decimal("1.00000"))


@pytest.mark.parametrize(
    ("bids", "shares", "reason_start"),
    [
        ([], "100", "no bids"),
        ([("0.5", "100")], "4.99", "below minimum order size"),
        ([("0.5", "3"), ("0.1", "100")], "100", "below minimum order size"),  # cap stops at 3
        ([("0.5", "100")], "0", "nothing to sell"),
    ],
)
def test_sell_no_fill(bids: list[tuple[str, str]], shares: str, reason_start: str) -> None:
    """A sale that cannot reach the minimum size within the cap, or has no bids, is refused."""
    result = simulate_sell(
        _book(asks=[], bids=bids),
        Decimal(shares),
        max_slippage=Decimal("0.02"),
        fee_schedule=None,
        min_order_size=Decimal(5),
    )
    assert isinstance(result, NoFill)
    assert result.reason.startswith(reason_start)
