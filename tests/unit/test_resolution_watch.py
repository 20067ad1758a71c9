"""Which held markets a poll asks Gamma about (core/resolution_watch.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import make_market
from prescientd.core.resolution_watch import due_for_check, is_resolving

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("overrides", "vanished", "resolving"),
    [
        ({}, set(), False),
        ({"end_date": NOW + HOUR}, set(), False),
        ({"end_date": NOW}, set(), True),
        ({"end_date": NOW - HOUR}, set(), True),
        ({"end_date": None}, set(), True),
        ({"closed": True}, set(), True),
        ({"active": False}, set(), True),
        ({"accepting_orders": False}, set(), True),
        ({"uma_resolution_status": "proposed"}, set(), True),
        ({"uma_resolution_status": "disputed"}, set(), True),
        ({}, {"1"}, True),
        ({}, {"2"}, False),
    ],
)
def test_is_resolving(overrides: dict[str, Any], vanished: set[str], resolving: bool) -> None:
    """Past end date, closed, halted, proposed or book vanished: resolution may move any poll."""
    assert is_resolving(make_market("1", **overrides), NOW, vanished) is resolving


@pytest.mark.parametrize(
    ("checked_ago", "sweep_s", "due"),
    [
        (None, 3600, True),  # never checked (in this process)
        (timedelta(minutes=5), 3600, False),
        (timedelta(minutes=59, seconds=59), 3600, False),
        (HOUR, 3600, True),
        (2 * HOUR, 3600, True),
        (timedelta(seconds=1), 0, True),  # sweep 0 = every poll
        (-timedelta(minutes=5), 3600, True),  # the clock went back: check now
    ],
)
def test_due_for_check_sweeps_the_rest(
    checked_ago: timedelta | None, sweep_s: float, due: bool
) -> None:
    """A market far from resolution is due once its last check is sweep_s old."""
    market = make_market("1")
    last = {} if checked_ago is None else {"1": NOW - checked_ago}
    assert (due_for_check([market], last, set(), NOW, sweep_s) == [market]) is due


def test_due_for_check_keeps_order_and_adds_resolving_ones() -> None:
    """Resolving markets are due whatever their last check; the held order is kept."""
    calm, ended, gone = make_market("1"), make_market("2", end_date=NOW - HOUR), make_market("3")
    last = {m.market_id: NOW - timedelta(minutes=5) for m in (calm, ended, gone)}
    assert due_for_check([calm, ended, gone], last, {"3"}, NOW, 3600) == [ended, gone]
