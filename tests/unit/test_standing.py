"""How the account stands: return, win rate, max drawdown and capital locked, by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from prescientd.core.standing import capital_locked, max_drawdown, total_return, win_rate
from prescientd.models import Position

D = Decimal


@pytest.mark.parametrize(
    ("equity", "start", "expected"),
    [
        (D("10235"), D("10000"), D("0.0235")),
        (D("9000"), D("10000"), D("-0.1")),
        (D("10000"), D("10000"), D("0")),
        (D("5"), D("0"), None),
    ],
)
def test_total_return(equity: Decimal, start: Decimal, expected: Decimal | None) -> None:
    """Equity over the starting balance minus one; undefined without a starting balance."""
    assert total_return(equity, start) == expected


@pytest.mark.parametrize(
    ("wins", "settled", "expected"),
    [(2, 3, D(2) / D(3)), (0, 4, D(0)), (5, 5, D(1)), (0, 0, None)],
)
def test_win_rate(wins: int, settled: int, expected: Decimal | None) -> None:
    """Settled wins over settled positions; None before the first settlement."""
    assert win_rate(wins, settled) == expected


@pytest.mark.parametrize(
    ("points", "start", "expected"),
    [
        pytest.param([], D(10000), D(0), id="no-history"),
        pytest.param([D(10100), D(10200)], D(10000), D(0), id="only-up"),
        pytest.param([D(9000)], D(10000), D("-0.1"), id="below-start"),
        # peak 12000, trough 9000: 9000/12000 - 1 = -0.25, deeper than the later 11000/12000 - 1
        pytest.param([D(12000), D(9000), D(11000)], D(10000), D("-0.25"), id="peak-then-trough"),
        # the current equity (last point) sets a new low
        pytest.param([D(10500), D(10400), D(8400)], D(10000), D("-0.2"), id="current-is-low"),
    ],
)
def test_max_drawdown(points: list[Decimal], start: Decimal, expected: Decimal) -> None:
    """The deepest fall from a running peak that starts at the starting balance."""
    assert max_drawdown(points, start) == expected


def test_capital_locked_sums_cost_basis() -> None:
    """Capital locked is the open positions' cost, fees included."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    positions = [
        Position("1", "10", "t1", "No", "Q1?", D(100), D("40.50"), D("0.50"), at),
        Position("2", "10", "t2", "Yes", "Q2?", D(10), D("7.25"), D(0), at),
    ]
    assert capital_locked(positions) == D("47.75")
    assert capital_locked([]) == D(0)
