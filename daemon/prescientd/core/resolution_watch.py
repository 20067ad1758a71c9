"""Which held markets to ask Gamma about in a poll: the ones whose resolution can have moved.

A market resolves after its end date (or early, through a UMA proposal that first takes its book
away); checking every held market every poll spends the Gamma budget on markets that cannot have
changed. Pure: the state (when each market was last checked, which books vanished) is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta

from prescientd.models import Market


def is_resolving(market: Market, now: datetime, vanished: AbstractSet[str]) -> bool:
    """True when the market's resolution may change any minute: check it every poll.

    Past (or without) its end date, closed, not accepting orders, carrying a UMA resolution
    status, or its book vanished at the last poll (what a proposal does first).
    """
    return (
        market.end_date is None
        or market.end_date <= now
        or market.closed
        or not market.active
        or not market.accepting_orders
        or bool(market.uma_resolution_status)
        or market.market_id in vanished
    )


def due_for_check(
    held: Sequence[Market],
    last_checked: Mapping[str, datetime],
    vanished: AbstractSet[str],
    now: datetime,
    sweep_s: float,
) -> list[Market]:
    """The held markets to check now: the resolving ones, the never checked, and the rest once
    their last check is sweep_s old (0 = every poll)."""
    sweep = timedelta(seconds=sweep_s)
    due = []
    for market in held:
        checked = last_checked.get(market.market_id)
        if (
            checked is None
            or now - checked >= sweep
            or now < checked  # the clock went back: check rather than wait
            or is_resolving(market, now, vanished)
        ):
            due.append(market)
    return due
