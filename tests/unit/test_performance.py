"""Daily performance rows and history entries from evening snapshots (hand-computed numbers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from prescientd.core.performance import history_entry, performance_rows
from prescientd.models import PortfolioSnapshot

D = Decimal
START = D(10000)


def _snap(
    day: str,
    equity: str,
    *,
    cash: str = "0",
    settled: int = 0,
    wins: int = 0,
    trades: int = 0,
) -> PortfolioSnapshot:
    return PortfolioSnapshot(
        local_date=day,
        taken_at=datetime.fromisoformat(f"{day}T23:00:00+00:00"),
        cash_usd=D(cash),
        positions_value_usd=D(equity) - D(cash),
        equity_usd=D(equity),
        realized_pnl_usd=D("12.3456785"),
        unrealized_pnl_usd=D("-0.0000004"),
        fees_usd=D("1.5"),
        trade_count=trades,
        open_positions=2,
        settled_positions=settled,
        settled_wins=wins,
    )


# equity path 10000 -> 10500 -> 9450 -> 9922.5 -> 11000 -> 10450
PATH = ["10500", "9450", "9922.5", "11000", "10450"]
EXPECTED = [
    # daily_return, cumulative_return, drawdown, max_drawdown
    (0.05, 0.05, 0.0, 0.0),
    (-0.1, -0.055, -0.1, -0.1),  # 9450 / 10500 - 1
    (0.05, -0.00775, -0.055, -0.1),  # drawdown 9922.5 / 10500 - 1
    (0.108592, 0.1, 0.0, -0.1),  # 11000 / 9922.5 - 1 = 0.10859158...
    (-0.05, 0.045, -0.05, -0.1),
]


@pytest.mark.parametrize("index", range(len(PATH)))
def test_returns_and_drawdowns(index: int) -> None:
    """Daily and cumulative returns, drawdown from the running peak and the worst drawdown."""
    snaps = [_snap(f"2026-03-0{i + 1}", equity) for i, equity in enumerate(PATH)]
    row = performance_rows(snaps, START)[index]
    daily, cumulative, drawdown, max_drawdown = EXPECTED[index]
    assert (
        row["daily_return"],
        row["cumulative_return"],
        row["drawdown"],
        row["max_drawdown"],
    ) == (daily, cumulative, drawdown, max_drawdown)
    assert row["date"] == f"2026-03-0{index + 1}"
    assert row["equity_usd"] == float(PATH[index])


def test_rows_are_in_date_order() -> None:
    """Snapshots given out of order come back sorted, returns computed along the dates."""
    snaps = [_snap("2026-03-02", "9000"), _snap("2026-03-01", "12000")]
    rows = performance_rows(snaps, START)
    assert [r["date"] for r in rows] == ["2026-03-01", "2026-03-02"]
    assert rows[1]["daily_return"] == -0.25  # 9000 / 12000 - 1
    assert rows[1]["drawdown"] == -0.25


def test_first_day_below_start_is_a_drawdown() -> None:
    """The running peak starts at the starting balance, not at the first snapshot."""
    (row,) = performance_rows([_snap("2026-03-01", "9900")], START)
    assert (row["daily_return"], row["drawdown"], row["max_drawdown"]) == (-0.01, -0.01, -0.01)


@pytest.mark.parametrize(
    ("settled", "wins", "win_rate"),
    [(0, 0, None), (3, 2, 0.666667), (4, 4, 1.0), (5, 0, 0.0)],
)
def test_win_rate(settled: int, wins: int, win_rate: float | None) -> None:
    """Win rate is wins over settled positions, None before anything settled."""
    (row,) = performance_rows([_snap("2026-03-01", "10000", settled=settled, wins=wins)], START)
    assert row["win_rate"] == win_rate


def test_row_values_types_and_rounding() -> None:
    """Money is a number rounded to 6 decimals (an int when whole, never -0.0); counts are ints."""
    (row,) = performance_rows([_snap("2026-03-01", "10000.25", cash="4000", trades=7)], START)
    assert list(row) == [
        "strategy",
        "date",
        "equity_usd",
        "cash_usd",
        "positions_value_usd",
        "daily_return",
        "cumulative_return",
        "drawdown",
        "max_drawdown",
        "realized_pnl_usd",
        "unrealized_pnl_usd",
        "fees_usd",
        "trade_count",
        "open_positions",
        "settled_positions",
        "win_rate",
    ]
    assert (row["cash_usd"], row["positions_value_usd"]) == (4000.0, 6000.25)
    assert row["realized_pnl_usd"] == 12.345678  # 12.3456785 half-even
    assert row["unrealized_pnl_usd"] == 0.0
    assert str(row["unrealized_pnl_usd"]) == "0"
    assert row["daily_return"] == 0.000025
    assert (row["trade_count"], row["open_positions"], row["settled_positions"]) == (7, 2, 0)
    counts = ("trade_count", "open_positions", "settled_positions")
    assert all(isinstance(row[k], int) for k in counts)


def test_empty_history() -> None:
    """No snapshots, no rows."""
    assert performance_rows([], START) == []


def test_zero_equity_day_then_recovery() -> None:
    """After a day at zero equity the next daily return is undefined (None), not a crash."""
    rows = performance_rows([_snap("2026-03-01", "0"), _snap("2026-03-02", "5")], START)
    assert (rows[0]["daily_return"], rows[0]["drawdown"]) == (-1.0, -1.0)
    assert rows[1]["daily_return"] is None


def test_history_entry() -> None:
    """A history entry has the date, the UTC ISO timestamp and the snapshot's figures."""
    snap = _snap("2026-03-01", "10100", cash="9000", settled=2, wins=1, trades=5)
    eastern = timezone(timedelta(hours=-5))
    entry = history_entry(replace(snap, taken_at=datetime(2026, 3, 1, 18, 0, tzinfo=eastern)))
    assert entry == {
        "strategy": "default",
        "date": "2026-03-01",
        "taken_at": "2026-03-01T23:00:00.000000Z",
        "cash_usd": 9000.0,
        "positions_value_usd": 1100.0,
        "equity_usd": 10100.0,
        "realized_pnl_usd": 12.345678,
        "unrealized_pnl_usd": 0.0,
        "fees_usd": 1.5,
        "trade_count": 5,
        "open_positions": 2,
        "settled_positions": 2,
        "settled_wins": 1,
    }
    assert datetime.fromisoformat(str(entry["taken_at"])).tzinfo == UTC


def test_history_entry_refuses_naive_time() -> None:
    """A snapshot without a timezone cannot be written as UTC."""
    snap = replace(_snap("2026-03-01", "1"), taken_at=datetime(2026, 3, 1, 18, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        history_entry(snap)
