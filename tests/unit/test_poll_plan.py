"""What a poll writes (store/poll_plan.py) and how day partitions are named (store/retention.py):
pure decisions, checked row by row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from prescientd.models import Quote
from prescientd.store.poll_plan import (
    Known,
    fingerprints,
    plan_poll,
    quote_columns,
    stored_fingerprints,
)
from prescientd.store.retention import DayPartitions, oldest_kept

T = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
BASE = Quote(
    token_id="t",
    best_bid=Decimal("0.40"),
    best_ask=Decimal("0.42"),
    mid=Decimal("0.41"),
    spread=Decimal("0.02"),
    display=Decimal("0.41"),
    last_trade=Decimal("0.40"),
    bid_depth_shares=Decimal(100),
    bid_depth_usd=Decimal(40),
    ask_depth_shares=Decimal(100),
    ask_depth_usd=Decimal(42),
    tick_size=Decimal("0.01"),
    min_order_size=Decimal(5),
    book_timestamp_ms=1,
    book_hash="a" * 40,
    fetched_at=T,
)


def known(quote: Quote, key: int = 7, status: str = "ok", live: bool = True) -> Known:
    """The stored state of a token last written from quote."""
    price_fp, content_fp = fingerprints(quote)
    return Known(key, price_fp, content_fp, status, live)


MOVED = replace(BASE, best_bid=Decimal("0.41"), mid=Decimal("0.415"), spread=Decimal("0.01"))
DEEPER = replace(BASE, bid_depth_shares=Decimal(900), book_hash="b" * 40, book_timestamp_ms=2)
LATER = replace(BASE, fetched_at=datetime(2026, 11, 2, 10, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    ("quote", "entry", "bar_today", "expect"),
    [
        # (snapshots, quote rows rewritten, carried bars, new tokens)
        (BASE, None, False, (1, 0, 0, 1)),  # a new token: row, snapshot and bar from it
        (LATER, known(BASE), True, (0, 0, 0, 0)),  # same book, later: nothing to write
        (DEEPER, known(BASE), True, (0, 1, 0, 0)),  # depth only: the row, no snapshot
        (MOVED, known(BASE), True, (1, 1, 0, 0)),  # prices moved: snapshot and row
        (LATER, known(BASE), False, (0, 0, 1, 0)),  # first fetch of the day: carried bar
        (MOVED, known(BASE), False, (1, 1, 1, 0)),  # ...carried first, then the move
        (LATER, known(BASE, status="missing"), True, (0, 1, 0, 0)),  # back from missing
        (LATER, known(BASE, live=False), True, (0, 1, 0, 0)),  # polled again
    ],
)
def test_a_quote_writes_only_what_changed(
    quote: Quote, entry: Known | None, bar_today: bool, expect: tuple[int, int, int, int]
) -> None:
    """Snapshot on a price move, quote row on any change of content, status or liveness."""
    known_map = {} if entry is None else {"t": entry}
    live = set() if entry is None or not entry.live else {entry.key}
    bars = {7} if bar_today else set()
    plan = plan_poll({"t": quote}, [], [], known_map, live, bars, next_key=50)
    got = (len(plan.snapshots), len(plan.changed_quotes), len(plan.carried_bars))
    assert (*got, len(plan.new_tokens)) == expect
    assert plan.live == ({50} if entry is None else {7})
    if entry is None:
        assert plan.new_tokens == [(50, "t")] and plan.new_bars == [50] and plan.next_key == 51


def test_missing_and_dropped_tokens_are_written_once() -> None:
    """A token going missing is written once (not again while it stays missing); one no longer
    polled is marked not live once; a token never quoted has nothing to mark."""
    state = {"a": known(BASE, key=1), "b": known(BASE, key=2), "c": known(BASE, key=3)}
    plan = plan_poll({}, ["a", "never"], [], state, {1, 2, 3}, set(), next_key=9)
    assert plan.statuses == [("missing", 1)]
    assert plan.dropped == [2, 3] and plan.live == {1}
    assert plan.known["a"].status == "missing" and not plan.known["b"].live
    state.update(plan.known)
    again = plan_poll({}, ["a"], [], state, plan.live, set(), next_key=9)
    assert again.statuses == [] and again.dropped == []


def test_stored_row_fingerprints_match_the_fresh_quote() -> None:
    """A quote read back from its micro-unit row has the fingerprints of the quote itself."""
    assert stored_fingerprints(quote_columns(BASE)) == fingerprints(BASE)
    assert stored_fingerprints(quote_columns(DEEPER))[0] == fingerprints(BASE)[0]
    assert stored_fingerprints(quote_columns(MOVED))[0] != fingerprints(BASE)[0]


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("price_snapshots_20261102", date(2026, 11, 2)),
        ("price_snapshots_20261332", None),  # not a date
        ("price_snapshots_2026110", None),
        ("price_snapshots", None),  # the v1 table
        ("price_snapshots_20261102_no_update", None),
        ("other_20261102", None),
    ],
)
def test_partition_names(name: str, day: date | None) -> None:
    """Only `<base>_YYYYMMDD` with a real date is a partition of the series."""
    series = DayPartitions("price_snapshots", "x INTEGER PRIMARY KEY")
    assert series.day_of(name) == day
    if day is not None:
        assert series.table(day.isoformat()) == name


@pytest.mark.parametrize(
    ("keep_days", "oldest"), [(1, date(2026, 11, 29)), (30, date(2026, 10, 31))]
)
def test_oldest_kept_day(keep_days: int, oldest: date) -> None:
    """keep_days whole days before today are kept at full resolution (plus today)."""
    assert oldest_kept(date(2026, 11, 30), keep_days) == oldest
