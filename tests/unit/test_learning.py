"""Learning resolutions: labels, which markets the evening asks about and in what order, and the
resolutions read back from settlements."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from conftest import make_market
from prescientd.core import learning
from prescientd.core.learning import Candidate, plan_checks
from prescientd.core.ledger import ResolutionCheck, resolve
from prescientd.models import Market, Settlement

D = Decimal
NOW = datetime(2026, 10, 6, 22, 0, tzinfo=UTC)
YES_TOKEN, NO_TOKEN = "111", "222"


def _market(market_id: str = "1", **overrides: Any) -> Market:
    return make_market(market_id, token_ids=(YES_TOKEN, NO_TOKEN), **overrides)


@pytest.mark.parametrize(
    ("yes", "no", "label"),
    [
        ("1", "0", "yes"),
        ("1.000000", "0", "yes"),
        ("0", "1", "no"),
        ("0.5", "0.5", "50-50"),
        ("0.5", "0.500000", "50-50"),
        ("1", "1", None),
        ("0.7", "0.3", None),
        (None, "1", None),
    ],
)
def test_resolution_label_names_only_exact_outcomes(
    yes: str | None, no: str, label: str | None
) -> None:
    """'yes', 'no' and '50-50' come only from exact payout pairs of the market's two tokens."""
    payouts = {NO_TOKEN: D(no)} | ({YES_TOKEN: D(yes)} if yes is not None else {})
    assert learning.resolution_label(_market(), payouts) == label


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (ResolutionCheck("resolved", {YES_TOKEN: D(1), NO_TOKEN: D(0)}, "r"), "yes"),
        (ResolutionCheck("resolved", {YES_TOKEN: D("0.5"), NO_TOKEN: D("0.5")}, "r"), "50-50"),
        (ResolutionCheck("pending", {}, "proposed"), None),
        (ResolutionCheck("open", {}, "open"), None),
        (ResolutionCheck("resolved", {YES_TOKEN: D("0.9"), NO_TOKEN: D("0.1")}, "odd"), None),
    ],
)
def test_a_resolution_is_learned_only_from_a_resolved_verdict(
    check: ResolutionCheck, expected: str | None
) -> None:
    """Only 'resolved' with a readable outcome becomes a ledger record, stamped as told."""
    found = learning.learned_resolution(_market(), check, NOW, learning.EVENING)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert (found.market_id, found.resolution, found.source, found.learned_at) == (
        "1",
        expected,
        "evening",
        NOW,
    )
    assert found.payouts == check.payouts and found.condition_id == _market().condition_id


def test_gamma_records_go_through_the_ledgers_resolve_rules() -> None:
    """A closed, UMA-resolved 1/0 market is learned; 0.99/0.01 or a proposal is not."""
    closed = _market(closed=True, uma_resolution_status="resolved")
    won = replace(closed, outcome_prices=(D(0), D(1)))
    nearly = replace(closed, outcome_prices=(D("0.99"), D("0.01")))
    proposed = replace(won, closed=False, uma_resolution_status="proposed")
    verdicts = {
        name: learning.learned_resolution(m, resolve(m, None), NOW, learning.EVENING)
        for name, m in (("won", won), ("nearly", nearly), ("proposed", proposed))
    }
    assert verdicts["won"] is not None and verdicts["won"].resolution == "no"
    assert verdicts["nearly"] is None and verdicts["proposed"] is None


@pytest.mark.parametrize(
    ("eligible_now", "book_missing", "overrides", "ended"),
    [
        (True, False, {}, False),  # live, eligible, book there: not asked about
        (False, False, {}, True),  # left the eligible set
        (True, True, {}, True),  # its book vanished
        (True, False, {"closed": True}, True),
        (True, False, {"uma_resolution_status": "proposed"}, True),
        (True, False, {"end_date": NOW}, True),
        (True, False, {"end_date": NOW + timedelta(seconds=1)}, False),
        (True, False, {"end_date": None}, False),
    ],
)
def test_which_markets_may_have_ended(
    eligible_now: bool, book_missing: bool, overrides: dict[str, Any], ended: bool
) -> None:
    """A sign of an end: out of the eligible set, book gone, closed, resolving, or past its end."""
    candidate = Candidate(_market(**overrides), eligible_now, book_missing)
    assert learning.may_have_ended(candidate, NOW) is ended


def _candidates(n: int, **overrides: Any) -> list[Candidate]:
    return [Candidate(_market(str(100 + i), **overrides), False, False) for i in range(n)]


def test_the_plan_skips_held_resolved_open_and_non_binary_markets() -> None:
    """Held markets are the polls', resolved ones known, open ones not due; binary only."""
    candidates = [
        Candidate(_market("1"), False, False),
        Candidate(_market("2"), False, False),  # held
        Candidate(_market("3"), False, False),  # resolved already
        Candidate(_market("4"), True, False),  # eligible, open, book there
        Candidate(make_market("5", token_ids=("a", "b", "c")), False, False),
    ]
    plan = plan_checks(
        candidates,
        held=frozenset({"2"}),
        resolved=frozenset({"3"}),
        now=NOW,
        day="2026-10-06",
        max_checks=10,
    )
    assert [m.market_id for m in plan.due] == ["1"] and plan.deferred == 0


@pytest.mark.parametrize(("cap", "due", "deferred"), [(0, 0, 7), (3, 3, 4), (7, 7, 0), (50, 7, 0)])
def test_the_plan_is_capped_and_counts_the_rest(cap: int, due: int, deferred: int) -> None:
    """At most max_checks markets are asked about; the others are counted for the next evening."""
    plan = plan_checks(
        _candidates(7), held=frozenset(), resolved=frozenset(), now=NOW, day="d", max_checks=cap
    )
    assert (len(plan.due), plan.deferred) == (due, deferred)


def _plan(candidates: list[Candidate], day: str, cap: int) -> learning.CheckPlan:
    return plan_checks(
        candidates, held=frozenset(), resolved=frozenset(), now=NOW, day=day, max_checks=cap
    )


def test_likely_ended_markets_go_first_and_the_rest_rotate_daily() -> None:
    """Closed, book-gone or past-end markets lead; the order of the rest changes with the day but
    is the same for the same day, so every candidate is reached on some evening."""
    likely = [
        Candidate(_market("900", closed=True), True, False),
        Candidate(_market("901"), True, True),
        Candidate(_market("902", end_date=NOW - timedelta(days=1)), True, False),
    ]
    others = _candidates(30)
    plans = {day: _plan([*others, *likely], day, 10) for day in ("2026-10-06", "2026-10-07")}
    for plan in plans.values():
        assert {m.market_id for m in plan.due[:3]} == {"900", "901", "902"}
    firsts = {day: [m.market_id for m in plan.due[3:]] for day, plan in plans.items()}
    assert firsts["2026-10-06"] != firsts["2026-10-07"]
    again = _plan([*likely, *others], "2026-10-06", 10)
    assert [m.market_id for m in again.due] == [m.market_id for m in plans["2026-10-06"].due]
    covered: set[str] = set()
    for offset in range(40):
        day = (NOW.date() + timedelta(days=offset)).isoformat()
        covered |= {m.market_id for m in _plan(others, day, 3).due}
    assert covered == {c.market.market_id for c in others}


def _settlement(seq: int, market_id: str, token: str, payout: str, at: datetime) -> Settlement:
    return Settlement(
        settlement_id=seq,
        seq=seq,
        idempotency_key=f"s{seq}",
        settled_at=at,
        market_id=market_id,
        token_id=token,
        outcome="No",
        shares=D(10),
        payout_per_share=D(payout),
        payout_usd=D(10) * D(payout),
        cost_basis_usd=D(4),
        realized_pnl_usd=D(10) * D(payout) - D(4),
        resolution="resolved",
    )


def test_settlements_give_back_the_resolution_of_their_market() -> None:
    """Held NO paid 1 -> 'no'; held NO paid 0 -> 'yes'; 0.5 -> '50-50'; learned at the first
    settlement; unknown markets and known resolutions are left out."""
    markets = {i: _market(i) for i in ("1", "2", "3", "4")}
    settlements = [
        _settlement(5, "1", NO_TOKEN, "1", NOW),
        _settlement(9, "1", NO_TOKEN, "1", NOW + timedelta(hours=1)),  # a second strategy
        _settlement(6, "2", NO_TOKEN, "0", NOW),
        _settlement(7, "3", YES_TOKEN, "0.5", NOW),
        _settlement(8, "4", NO_TOKEN, "1", NOW),  # already in the ledger of resolutions
        _settlement(10, "77", NO_TOKEN, "1", NOW),  # market unknown
    ]
    found, unreadable = learning.settled_resolutions(settlements, markets, frozenset({"4"}))
    by_id = {r.market_id: r for r in found}
    assert {i: r.resolution for i, r in by_id.items()} == {"1": "no", "2": "yes", "3": "50-50"}
    assert by_id["1"].payouts == {NO_TOKEN: D(1), YES_TOKEN: D(0)}
    assert by_id["1"].learned_at == NOW and by_id["1"].source == "settlement"
    assert unreadable == 1
