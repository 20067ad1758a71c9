"""Risks the P&L does not show: each event's worst outcome, and how much of the book a fill took.

Worst case per event: markets of one event are mutually exclusive, so at most one of them resolves
YES (in a complete negRisk event exactly one does). For each event with open positions, every
market is tried as the YES winner, plus "none resolves YES" when that can happen (not negRisk, or
the list of the event's markets is not known to be complete); the worst case is the scenario paying
the least. Pass every child market, placeholders ("Person X", "Other") included: a placeholder
winning is then one of the scenarios. 50-50 resolutions (rare, a market voided at half a dollar a
share) are not among the scenarios.

Depth headroom: a fill walks the visible book within the slippage cap (best price +/- max_slippage,
as core.fills); depth_used = filled shares / shares visible within the cap at fill time. Above 1
means the recorded book is not the one the fill walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

from prescientd.models import ZERO, Event, FillLevel, Level, Market, Position, Side

DEFAULT_STRATEGY = "default"
NO_WINNER = ""  # the scenario id of "no market of the event resolves YES"
NO_WINNER_LABEL = "no market resolves YES"
# depth_used histogram: [0, 0.1), [0.1, 0.25), [0.25, 0.5), [0.5, 0.75), [0.75, 1]; above 1 if any
DEFAULT_DEPTH_EDGES = (Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal("0.75"))


@dataclass(frozen=True, slots=True)
class EventMarkets:
    """An event and every one of its markets (placeholders too); complete=False if some are unknown.

    questions maps market id to its question, to name the worst outcome for people.
    """

    event_id: str
    title: str
    neg_risk: bool
    market_ids: tuple[str, ...]
    complete: bool = True
    questions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldToken:
    """An open position as the event scenarios see it: the side of which market, cost and value."""

    strategy: str
    event_id: str
    market_id: str
    plays_yes: bool
    shares: Decimal
    cost_usd: Decimal
    value_usd: Decimal


@dataclass(frozen=True, slots=True)
class EventExposure:
    """One strategy's positions in one event and what its worst single outcome would cost.

    worst_market_id is the market resolving YES in the worst case, or "" for "none resolves YES";
    worst_outcome names it for people (the market's question when known).
    Losses are positive numbers (a negative worst loss means every outcome is a gain).
    """

    strategy: str
    event_id: str
    title: str
    neg_risk: bool
    positions: int
    cost_usd: Decimal
    value_usd: Decimal
    worst_market_id: str
    worst_outcome: str
    worst_payout_usd: Decimal
    worst_loss_usd: Decimal
    worst_loss_vs_value_usd: Decimal
    scenarios: int


def event_markets(events: Iterable[Event]) -> dict[str, EventMarkets]:
    """EventMarkets per event id from Gamma events, which embed all their child markets."""
    return {
        e.event_id: EventMarkets(
            e.event_id,
            e.title,
            e.neg_risk,
            tuple(m.market_id for m in e.markets),
            questions={m.market_id: m.question for m in e.markets},
        )
        for e in events
    }


def held_tokens(
    positions: Iterable[Position],
    markets: Mapping[str, Market],
    marks: Mapping[str, Decimal],
    strategy: str = DEFAULT_STRATEGY,
) -> tuple[tuple[HeldToken, ...], int]:
    """Positions as HeldTokens (valued at marks, at cost without one) and how many were skipped.

    A position whose market is unknown is skipped: without the market, YES and NO cannot be told.
    """
    held: list[HeldToken] = []
    skipped = 0
    for p in positions:
        market = markets.get(p.market_id)
        if market is None or p.token_id not in market.token_ids[:2]:
            skipped += 1
            continue
        mark = marks.get(p.token_id)
        value = p.shares * mark if mark is not None else p.cost_usd
        plays_yes = p.token_id == market.yes_token_id
        held.append(
            HeldToken(strategy, p.event_id, p.market_id, plays_yes, p.shares, p.cost_usd, value)
        )
    return tuple(held), skipped


def _payout(held: Sequence[HeldToken], winner: str) -> Decimal:
    """What the positions pay when `winner` resolves YES and every other market NO."""
    return sum(
        (h.shares for h in held if (h.market_id == winner) == h.plays_yes),
        ZERO,
    )


def _exposure(strategy: str, event: EventMarkets, held: Sequence[HeldToken]) -> EventExposure:
    winners = list(dict.fromkeys([*event.market_ids, *(h.market_id for h in held)]))
    if not event.neg_risk or not event.complete:
        winners.append(NO_WINNER)
    # min keeps the first of equal payouts: market order, then "none"
    worst = min(winners, key=lambda winner: _payout(held, winner))
    payout = _payout(held, worst)
    cost = sum((h.cost_usd for h in held), ZERO)
    value = sum((h.value_usd for h in held), ZERO)
    return EventExposure(
        strategy=strategy,
        event_id=event.event_id,
        title=event.title,
        neg_risk=event.neg_risk,
        positions=len(held),
        cost_usd=cost,
        value_usd=value,
        worst_market_id=worst,
        worst_outcome=(
            NO_WINNER_LABEL if worst == NO_WINNER else event.questions.get(worst, worst)
        ),
        worst_payout_usd=payout,
        worst_loss_usd=cost - payout,
        worst_loss_vs_value_usd=value - payout,
        scenarios=len(winners),
    )


def worst_case_by_event(
    held: Iterable[HeldToken],
    events: Mapping[str, EventMarkets],
    *,
    top: int | None = None,
) -> tuple[EventExposure, ...]:
    """The worst single outcome of each (strategy, event) with open positions, largest loss first.

    An event missing from `events` is judged from its held markets alone, as an incomplete
    non-negRisk event (so "none resolves YES" is among its scenarios).
    """
    groups: dict[tuple[str, str], list[HeldToken]] = {}
    for h in held:
        groups.setdefault((h.strategy, h.event_id), []).append(h)
    out = []
    for (strategy, event_id), members in groups.items():
        event = events.get(event_id) or EventMarkets(event_id, "", False, (), complete=False)
        out.append(_exposure(strategy, event, members))
    out.sort(key=lambda e: (-e.worst_loss_usd, e.strategy, e.event_id))
    return tuple(out if top is None else out[:top])


# ------------------------------------------------------------------------------------------------
# Depth headroom


@dataclass(frozen=True, slots=True)
class FillBook:
    """One fill's levels and the book side it walked (None when no book was recorded)."""

    trade_id: int
    strategy: str
    market_id: str
    executed_at: datetime
    side: Side
    levels: tuple[FillLevel, ...]
    book_levels: tuple[Level, ...] | None
    max_slippage: Decimal


@dataclass(frozen=True, slots=True)
class DepthUse:
    """How much of the visible depth within the slippage cap one fill used."""

    trade_id: int
    strategy: str
    market_id: str
    executed_at: datetime
    side: Side
    filled_shares: Decimal
    filled_usd: Decimal
    visible_shares: Decimal
    visible_usd: Decimal
    depth_used: Decimal


@dataclass(frozen=True, slots=True)
class DepthBucket:
    """A histogram bar: fills whose depth_used is in [low, high) (high None = no upper bound)."""

    low: Decimal
    high: Decimal | None
    fill_count: int


@dataclass(frozen=True, slots=True)
class DepthHeadroom:
    """Per-fill depth use and its distribution; quantiles interpolate linearly between ranks."""

    fills: tuple[DepthUse, ...]
    fills_without_book: int
    minimum: Decimal | None
    median: Decimal | None
    p90: Decimal | None
    maximum: Decimal | None
    mean: Decimal | None
    histogram: tuple[DepthBucket, ...]


def stored_fill_levels(rows: Sequence[Sequence[str]]) -> tuple[FillLevel, ...]:
    """FillLevels from the trades table's `levels` JSON: [[price, shares, fees_usd], ...]."""
    return tuple(FillLevel(Decimal(p), Decimal(s), Decimal(f)) for p, s, f in rows)


def visible_depth(
    book_levels: Iterable[Level], side: Side, max_slippage: Decimal
) -> tuple[Decimal, Decimal]:
    """Shares and USD of the book side a fill walks, within best price +/- max_slippage."""
    usable = [level for level in book_levels if level.price > 0 and level.size > 0]
    if not usable:
        return ZERO, ZERO
    if side is Side.BUY:
        cap = min(level.price for level in usable) + max_slippage
        inside = [level for level in usable if level.price <= cap]
    else:
        floor = max(level.price for level in usable) - max_slippage
        inside = [level for level in usable if level.price >= floor]
    shares = sum((level.size for level in inside), ZERO)
    return shares, sum((level.size * level.price for level in inside), ZERO)


def quantile(sorted_values: Sequence[Decimal], q: Decimal) -> Decimal:
    """Linear interpolation between closest ranks (numpy's default) of ascending values."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    position = (len(sorted_values) - 1) * q
    below = int(position)
    above = min(below + 1, len(sorted_values) - 1)
    fraction = position - below
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * fraction


def _histogram(values: Sequence[Decimal], edges: Sequence[Decimal]) -> tuple[DepthBucket, ...]:
    bounds = [ZERO, *edges, Decimal(1)]
    if any(low >= high for low, high in pairwise(bounds)):
        raise ValueError(f"histogram edges must rise strictly within (0, 1), got {list(edges)}")
    bars = []
    for low, high in pairwise(bounds):
        last = high == 1
        count = sum(1 for v in values if low <= v < high or (last and v == high))
        bars.append(DepthBucket(low, high, count))
    above = sum(1 for v in values if v > 1)
    if above:
        bars.append(DepthBucket(Decimal(1), None, above))
    return tuple(bars)


def depth_headroom(
    fills: Iterable[FillBook], *, edges: Sequence[Decimal] = DEFAULT_DEPTH_EDGES
) -> DepthHeadroom:
    """depth_used per fill with a recorded, non-empty book, and the distribution of it."""
    uses: list[DepthUse] = []
    without_book = 0
    for fill in fills:
        visible_shares, visible_usd = (
            visible_depth(fill.book_levels, fill.side, fill.max_slippage)
            if fill.book_levels is not None
            else (ZERO, ZERO)
        )
        if visible_shares <= 0:
            without_book += 1
            continue
        filled_shares = sum((level.shares for level in fill.levels), ZERO)
        uses.append(
            DepthUse(
                trade_id=fill.trade_id,
                strategy=fill.strategy,
                market_id=fill.market_id,
                executed_at=fill.executed_at,
                side=fill.side,
                filled_shares=filled_shares,
                filled_usd=sum((level.shares * level.price for level in fill.levels), ZERO),
                visible_shares=visible_shares,
                visible_usd=visible_usd,
                depth_used=filled_shares / visible_shares,
            )
        )
    ordered = sorted(use.depth_used for use in uses)
    return DepthHeadroom(
        fills=tuple(uses),
        fills_without_book=without_book,
        minimum=ordered[0] if ordered else None,
        median=quantile(ordered, Decimal("0.5")) if ordered else None,
        p90=quantile(ordered, Decimal("0.9")) if ordered else None,
        maximum=ordered[-1] if ordered else None,
        mean=sum(ordered, ZERO) / len(ordered) if ordered else None,
        histogram=_histogram(ordered, edges),
    )
