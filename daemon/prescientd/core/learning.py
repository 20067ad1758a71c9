"""Learning the outcomes of tracked markets, held or not, for the ledger of resolutions.

A held market's resolution is found by the poll's settlement check. Every other tracked market is
checked by the evening: the ones tracked in the last `lookback_days` that are not held, not yet
resolved in the ledger, and that may have ended since (they left the eligible set, their end date
passed, their stored record says closed or resolving, or their book vanished). The evening asks
Gamma about at most `max_checks` of them; the rest wait for the next evening. They are taken in
an order that rotates every day (a hash of the local date and the market id), likely-ended ones
first, so no candidate waits for ever behind others that stay unresolved.

A resolution is recorded only on `core.ledger.resolve`'s verdict "resolved": an exact 1/0 pair of
outcome prices (or a 50-50 split) on a closed market whose UMA status is final.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from prescientd.core.ledger import HALF, ResolutionCheck
from prescientd.models import ONE, ZERO, Market, MarketResolution, Settlement

SETTLEMENT = "settlement"
EVENING = "evening"
YES, NO, SPLIT = "yes", "no", "50-50"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recently tracked, unheld, unresolved market and what hints that it may have ended.

    eligible_now: it is in the latest eligible set; book_missing: the latest poll of one of its
    tokens found no book (or a rejected one).
    """

    market: Market
    eligible_now: bool
    book_missing: bool


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """The markets to ask about this evening, in order, and how many wait for the next one."""

    due: tuple[Market, ...]
    deferred: int


def resolution_label(market: Market, payouts: Mapping[str, Decimal]) -> str | None:
    """'yes', 'no' or '50-50' from the payouts of the market's two tokens; None otherwise."""
    if len(market.token_ids) != 2:
        return None
    pair = (payouts.get(market.token_ids[0]), payouts.get(market.token_ids[1]))
    return {(ONE, ZERO): YES, (ZERO, ONE): NO, (HALF, HALF): SPLIT}.get(pair)  # type: ignore[arg-type]


def learned_resolution(
    market: Market, check: ResolutionCheck, learned_at: datetime, source: str
) -> MarketResolution | None:
    """The ledger's record of a resolved verdict; None when the market has not resolved."""
    if check.status != "resolved":
        return None
    label = resolution_label(market, check.payouts)
    if label is None:
        return None
    return MarketResolution(
        market_id=market.market_id,
        condition_id=market.condition_id,
        learned_at=learned_at,
        payouts=dict(check.payouts),
        resolution=label,
        source=source,
    )


def may_have_ended(candidate: Candidate, now: datetime) -> bool:
    """True when something says the market may no longer be open."""
    m = candidate.market
    return (
        not candidate.eligible_now
        or candidate.book_missing
        or m.closed
        or bool(m.uma_resolution_status)
        or (m.end_date is not None and m.end_date <= now)
    )


def _likely_ended(candidate: Candidate, now: datetime) -> bool:
    m = candidate.market
    past_end = m.end_date is not None and m.end_date <= now
    return candidate.book_missing or m.closed or bool(m.uma_resolution_status) or past_end


def _rotation(day: str, market_id: str) -> bytes:
    return hashlib.sha256(f"{day}|{market_id}".encode()).digest()


def plan_checks(
    candidates: Iterable[Candidate],
    *,
    held: frozenset[str],
    resolved: frozenset[str],
    now: datetime,
    day: str,
    max_checks: int,
) -> CheckPlan:
    """The candidates worth a Gamma look-up this evening, at most max_checks (see module doc).

    Held markets are the settlement check's, resolved ones are known; markets with no sign of
    having ended are not asked about. day (a local date) seeds the order, which rotates daily.
    """
    wanted = [
        c
        for c in candidates
        if c.market.market_id not in held
        and c.market.market_id not in resolved
        and len(c.market.token_ids) == 2
        and may_have_ended(c, now)
    ]
    wanted.sort(key=lambda c: (not _likely_ended(c, now), _rotation(day, c.market.market_id)))
    due = tuple(c.market for c in wanted[: max(0, max_checks)])
    return CheckPlan(due, len(wanted) - len(due))


def with_lifecycle(market: Market, fresh: Market) -> Market:
    """The stored market with the lifecycle fields of a fresh Gamma record (as the settlement
    check merges them: that record lacks the event and the morning's volume figures)."""
    return replace(
        market,
        active=fresh.active,
        closed=fresh.closed,
        accepting_orders=fresh.accepting_orders,
        enable_order_book=fresh.enable_order_book,
        uma_resolution_status=fresh.uma_resolution_status,
        uma_resolution_statuses=fresh.uma_resolution_statuses,
        outcome_prices=fresh.outcome_prices,
    )


def settled_resolutions(
    settlements: Sequence[Settlement],
    markets: Mapping[str, Market],
    known: frozenset[str],
) -> tuple[list[MarketResolution], int]:
    """Resolutions of settled markets the ledger of resolutions lacks, read from the settlements.

    A settlement pays one token of a binary market; the other token pays the rest of a dollar
    (1 - p: 0 beside a winner, 0.5 beside a 50-50). Learned when the first settlement of the
    market was recorded. Returns the resolutions and how many settled markets could not be
    read (unknown market, or payouts that are not a resolution).
    """
    first: dict[str, Settlement] = {}
    for s in sorted(settlements, key=lambda s: s.seq):
        if s.market_id not in known:
            first.setdefault(s.market_id, s)
    out: list[MarketResolution] = []
    unreadable = 0
    for market_id, s in first.items():
        market = markets.get(market_id)
        if market is None or len(market.token_ids) != 2 or s.token_id not in market.token_ids:
            unreadable += 1
            continue
        other = market.token_ids[1] if s.token_id == market.token_ids[0] else market.token_ids[0]
        payouts = {s.token_id: s.payout_per_share, other: ONE - s.payout_per_share}
        label = resolution_label(market, payouts)
        if label is None:
            unreadable += 1
            continue
        out.append(
            MarketResolution(
                market_id=market_id,
                condition_id=market.condition_id,
                learned_at=s.settled_at,
                payouts=payouts,
                resolution=label,
                source=SETTLEMENT,
            )
        )
    return out, unreadable
