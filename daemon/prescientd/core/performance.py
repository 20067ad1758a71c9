"""Daily performance figures and history entries computed from the evening snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from prescientd.clock import iso_utc
from prescientd.models import ONE, ZERO, PortfolioSnapshot
from prescientd.vocabulary import number


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return numerator / denominator - ONE if denominator > 0 else None


def performance_rows(
    snapshots: Sequence[PortfolioSnapshot], starting_balance_usd: Decimal
) -> list[dict[str, object]]:
    """One row per snapshot in date order: equity, returns, drawdown and trade counts.

    The snapshots are one strategy's, and starting_balance_usd that strategy's deposit.
    """
    rows: list[dict[str, object]] = []
    previous_equity = starting_balance_usd
    peak_equity = starting_balance_usd
    max_drawdown = ZERO
    for snap in sorted(snapshots, key=lambda s: (s.local_date, s.taken_at)):
        equity = snap.equity_usd
        daily_return = _ratio(equity, previous_equity)
        cumulative_return = _ratio(equity, starting_balance_usd)
        peak_equity = max(peak_equity, equity)
        drawdown = _ratio(equity, peak_equity)
        if drawdown is None:  # only when the starting balance itself is not positive
            drawdown = ZERO
        max_drawdown = min(max_drawdown, drawdown)
        win_rate = (
            Decimal(snap.settled_wins) / Decimal(snap.settled_positions)
            if snap.settled_positions
            else None
        )
        rows.append(
            {
                "strategy": snap.strategy,
                "date": snap.local_date,
                "equity_usd": number(equity),
                "cash_usd": number(snap.cash_usd),
                "positions_value_usd": number(snap.positions_value_usd),
                "daily_return": None if daily_return is None else number(daily_return),
                "cumulative_return": (
                    None if cumulative_return is None else number(cumulative_return)
                ),
                "drawdown": number(drawdown),
                "max_drawdown": number(max_drawdown),
                "realized_pnl_usd": number(snap.realized_pnl_usd),
                "unrealized_pnl_usd": number(snap.unrealized_pnl_usd),
                "fees_usd": number(snap.fees_usd),
                "trade_count": snap.trade_count,
                "open_positions": snap.open_positions,
                "settled_positions": snap.settled_positions,
                "win_rate": None if win_rate is None else number(win_rate),
            }
        )
        previous_equity = equity
    return rows


def history_entry(snapshot: PortfolioSnapshot) -> dict[str, object]:
    """The portfolio_history.json entry of one evening snapshot (timestamps ISO-8601 UTC)."""
    if snapshot.taken_at.tzinfo is None:
        raise ValueError("snapshot.taken_at must be timezone-aware")
    return {
        "strategy": snapshot.strategy,
        "date": snapshot.local_date,
        "taken_at": iso_utc(snapshot.taken_at),
        "cash_usd": number(snapshot.cash_usd),
        "positions_value_usd": number(snapshot.positions_value_usd),
        "equity_usd": number(snapshot.equity_usd),
        "realized_pnl_usd": number(snapshot.realized_pnl_usd),
        "unrealized_pnl_usd": number(snapshot.unrealized_pnl_usd),
        "fees_usd": number(snapshot.fees_usd),
        "trade_count": snapshot.trade_count,
        "open_positions": snapshot.open_positions,
        "settled_positions": snapshot.settled_positions,
        "settled_wins": snapshot.settled_wins,
    }
