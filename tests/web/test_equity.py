"""The equity curve's series: time order, drawdown from the running peak, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prescientd.models import PortfolioSnapshot
from prescientd.store.runs import PollValuation
from prescientd.web.equity import EquitySeries, merged_page

T0 = datetime(2026, 10, 6, 14, 0, 0, 123456, tzinfo=UTC)


def _poll(row: int, minutes: float, equity: str | None) -> PollValuation:
    value = None if equity is None else Decimal(equity)
    return PollValuation(row, T0 + timedelta(minutes=minutes), value, value)


def _snap(minutes: float, equity: str) -> PortfolioSnapshot:
    e = Decimal(equity)
    return PortfolioSnapshot(
        "2026-10-06",
        T0 + timedelta(minutes=minutes),
        e,
        Decimal(0),
        e,
        Decimal(0),
        Decimal(0),
        Decimal(0),
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("equities", "drawdowns"),
    [
        (["10000", "9000", "9500"], [0, -0.1, -0.05]),  # the peak starts at the deposit
        (["9000", "12000", "9000"], [-0.1, 0, -0.25]),
        (["10000.5", "10000.5"], [0, 0]),
    ],
)
def test_drawdown_is_measured_from_the_running_peak(
    equities: list[str], drawdowns: list[float]
) -> None:
    """Each point's drawdown is equity over the highest equity so far (or the deposit) minus 1."""
    series = EquitySeries(Decimal(10000))
    series.extend([_poll(n + 1, n, e) for n, e in enumerate(equities)], [])
    assert [p["drawdown"] for p in series.page(10, 0, False)] == drawdowns


def test_polls_and_snapshots_merge_in_time_order_and_keep_their_source() -> None:
    """A snapshot between two polls sits between them; times keep their microseconds."""
    series = EquitySeries(Decimal(10000))
    series.extend([_poll(1, 0, "10000"), _poll(2, 10, "10100")], [_snap(5, "10050")])
    points = series.page(10, 0, False)
    assert [(p["source"], p["equity_usd"]) for p in points] == [
        ("poll", 10000),
        ("evening", 10050),
        ("poll", 10100),
    ]
    assert points[0]["time"] == "2026-10-06T14:00:00.123456Z"
    assert (series.last_run_row_id, series.snapshots_seen) == (2, 1)


def test_points_without_a_value_or_older_than_the_newest_are_left_out() -> None:
    """A poll that recorded no equity still advances the row cursor; a point from before the
    newest one held (the clock stepped back) is skipped."""
    series = EquitySeries(Decimal(10000))
    assert series.extend([_poll(1, 0, "10000"), _poll(2, 1, None)], []) == 1
    assert series.last_run_row_id == 2
    assert series.extend([_poll(3, -5, "9000"), _poll(4, 2, "9900")], []) == 1
    assert [p["equity_usd"] for p in series.page(10, 0, False)] == [10000, 9900]


@pytest.mark.parametrize(
    ("limit", "offset", "newest_first", "expected"),
    [
        (2, 0, False, [0, 1]),
        (2, 3, False, [3, 4]),
        (10, 4, False, [4]),
        (2, 0, True, [4, 3]),
        (2, 3, True, [1, 0]),
        (5, 5, True, []),
        (5, 9, False, []),
    ],
)
def test_pages(limit: int, offset: int, newest_first: bool, expected: list[int]) -> None:
    """Pages slice the series from either end."""
    series = EquitySeries(Decimal(10000))
    series.extend([_poll(n + 1, n, str(10000 + n)) for n in range(5)], [])
    page = series.page(limit, offset, newest_first)
    assert [p["equity_usd"] for p in page] == [10000 + n for n in expected]


def _series(strategy: str, minutes: list[int]) -> EquitySeries:
    """A strategy's series with one poll point per minute given (equity 10000 + index)."""
    series = EquitySeries(Decimal(10000), strategy)
    series.extend([_poll(n + 1, m, str(10000 + n)) for n, m in enumerate(minutes)], [])
    return series


# three accounts: ties at minutes 1 and 3 (the same polls), a lone late point, an empty account
MERGE_INPUT: dict[str, list[int]] = {"default": [0, 1, 3, 3, 6], "a": [1, 2, 3], "b": [9], "c": []}


def _brute_force() -> list[tuple[str, str]]:
    """Every point sorted by (time, the series' order, its index): the merge's definition."""
    order = list(MERGE_INPUT)
    keyed = sorted(
        (m, order.index(name), n, name)
        for name, ms in MERGE_INPUT.items()
        for n, m in enumerate(ms)
    )
    return [(name, f"{m}:{n}") for m, _, n, name in keyed]


def _label(point: dict[str, object]) -> tuple[str, str]:
    """(strategy, "minute:index") of a point made by _series."""
    strategy = str(point["strategy"])
    index = int(float(str(point["equity_usd"]))) - 10000
    return strategy, f"{MERGE_INPUT[strategy][index]}:{index}"


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize(
    ("limit", "offset"), [(1, 0), (3, 0), (2, 1), (4, 3), (3, 6), (100, 0), (5, 8), (2, 9), (1, 20)]
)
def test_merged_page_is_a_slice_of_the_merged_order(
    limit: int, offset: int, newest_first: bool
) -> None:
    """Several series page as one list in time order (ties in the series' order), from either
    end, equal to sorting every point and slicing."""
    series = [_series(name, ms) for name, ms in MERGE_INPUT.items()]
    everything = _brute_force()
    if newest_first:
        everything = everything[::-1]
    page = merged_page(series, limit, offset, newest_first)
    got = [_label(p) for p in page]
    assert got == everything[offset : offset + limit]


def test_merged_page_of_nothing_is_empty() -> None:
    """No series, or only empty ones, give an empty page."""
    assert merged_page([], 10, 0, False) == []
    assert merged_page([EquitySeries(Decimal(10000), "a")], 10, 0, True) == []


def test_points_name_their_strategy() -> None:
    """Each point carries the strategy whose account it values."""
    assert [p["strategy"] for p in _series("contrarian60", [0, 1]).page(5, 0, False)] == [
        "contrarian60",
        "contrarian60",
    ]
