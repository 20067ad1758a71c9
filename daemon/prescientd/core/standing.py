"""How the account stands: return since start, win rate, drawdown, capital locked.

Pure figures over values (no clock, no I/O), shared by `prescientd status` and its HTTP twin.
Returns, rates and drawdowns are fractions (0.05 = 5 %); a drawdown is <= 0, as in
performance_daily.csv.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from prescientd.models import ONE, ZERO, Position


def total_return(equity_usd: Decimal, starting_balance_usd: Decimal) -> Decimal | None:
    """Equity over the starting balance, minus one; None without a positive starting balance."""
    if starting_balance_usd <= 0:
        return None
    return equity_usd / starting_balance_usd - ONE


def win_rate(settled_wins: int, settled_positions: int) -> Decimal | None:
    """Settled wins over settled positions; None before the first settlement."""
    if settled_positions <= 0:
        return None
    return Decimal(settled_wins) / Decimal(settled_positions)


def max_drawdown(equity_points_usd: Sequence[Decimal], starting_balance_usd: Decimal) -> Decimal:
    """The deepest fall from a running peak (<= 0), the starting balance being the first peak.

    The points are the daily snapshots in date order followed by the current equity.
    """
    peak = starting_balance_usd
    deepest = ZERO
    for equity in equity_points_usd:
        peak = max(peak, equity)
        if peak > 0:
            deepest = min(deepest, equity / peak - ONE)
    return deepest


def capital_locked(positions: Iterable[Position]) -> Decimal:
    """The cash that left the account for the open positions (cost basis, fees included)."""
    return sum((p.cost_usd for p in positions), ZERO)
