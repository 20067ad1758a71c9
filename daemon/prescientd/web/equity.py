"""The equity curve: each poll's valuation and each evening snapshot, with drawdown, kept compact.

A poll every 5 minutes is ~105,000 points a year (every minute, ~525,000), so the series is held in
flat arrays (about 33 bytes a point) and extended with what was recorded since the last read: the
polls after the last job-run row seen, the snapshots after the last one seen. Both arrive in time
order; a point older than the newest one held (a wall-clock step back) is left out.
Drawdown is equity over the running peak of the whole history, the peak starting at the deposit,
as in performance_daily.csv.

Each strategy's account has its own series; `merged_page` pages through several of them as one
list in time order (ties by the order the series are given) without building the merged list.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prescientd.clock import iso_utc
from prescientd.models import DEFAULT_STRATEGY, PortfolioSnapshot
from prescientd.store.runs import PollValuation
from prescientd.vocabulary import number

SOURCES = ("poll", "evening")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _US  # exact, unlike a float timestamp


class EquitySeries:
    """One strategy's equity points in time order: time, equity, cash, drawdown and source."""

    def __init__(self, starting_balance_usd: Decimal, strategy: str = DEFAULT_STRATEGY) -> None:
        self.starting_balance_usd = starting_balance_usd
        self.strategy = strategy
        self.last_run_row_id = 0
        self.snapshots_seen = 0
        self._time_us = array("q")
        self._equity = array("d")
        self._cash = array("d")
        self._drawdown = array("d")
        self._source = bytearray()
        self._peak = float(self.starting_balance_usd)

    def __len__(self) -> int:
        return len(self._time_us)

    def extend(self, polls: Iterable[PollValuation], snapshots: Iterable[PortfolioSnapshot]) -> int:
        """Add the new points in time order; returns how many were added.

        A point older than the newest one held (the wall clock stepped back) is skipped, so the
        curve's time axis only moves forward.
        """
        points: list[tuple[int, float, float, int]] = []
        for poll in polls:
            self.last_run_row_id = max(self.last_run_row_id, poll.run_row_id)
            if poll.equity_usd is not None and poll.cash_usd is not None:
                points.append(
                    (_micros(poll.finished_at), float(poll.equity_usd), float(poll.cash_usd), 0)
                )
        for snap in snapshots:
            self.snapshots_seen += 1
            points.append((_micros(snap.taken_at), float(snap.equity_usd), float(snap.cash_usd), 1))
        added = 0
        for time_us, equity, cash, source in sorted(points):
            if self._time_us and time_us < self._time_us[-1]:
                continue
            self._peak = max(self._peak, equity)
            self._time_us.append(time_us)
            self._equity.append(equity)
            self._cash.append(cash)
            self._drawdown.append(equity / self._peak - 1 if self._peak > 0 else 0.0)
            self._source.append(source)
            added += 1
        return added

    def point(self, index: int) -> dict[str, object]:
        """Point index as a JSON-ready document."""
        moment = _EPOCH + self._time_us[index] * _US
        return {
            "strategy": self.strategy,
            "time": iso_utc(moment),
            "equity_usd": number(Decimal(repr(self._equity[index]))),
            "cash_usd": number(Decimal(repr(self._cash[index]))),
            "drawdown": number(Decimal(repr(self._drawdown[index]))),
            "source": SOURCES[self._source[index]],
        }

    def page(self, limit: int, offset: int, newest_first: bool) -> list[dict[str, object]]:
        """limit points after skipping offset, oldest or newest first."""
        n = len(self)
        if newest_first:
            indices = range(n - 1 - offset, max(-1, n - 1 - offset - limit), -1)
        else:
            indices = range(offset, min(n, offset + limit))
        return [self.point(i) for i in indices]

    def time_us(self, index: int) -> int:
        """Point index's time, in microseconds since the epoch."""
        return self._time_us[index]

    def first_at_or_after(self, time_us: int) -> int:
        """The index of the first point at or after time_us (len when there is none)."""
        return bisect_left(self._time_us, time_us)

    def first_after(self, time_us: int) -> int:
        """The index of the first point after time_us (len when there is none)."""
        return bisect_right(self._time_us, time_us)


def merged_page(
    series: Sequence[EquitySeries], limit: int, offset: int, newest_first: bool
) -> list[dict[str, object]]:
    """limit points of several series merged in time order (ties in the order of `series`), after
    skipping offset, oldest or newest first; costs O(log n) per series to find the page's start
    plus O(limit), however deep the offset."""
    total = sum(len(s) for s in series)
    if newest_first:  # the newest-first page is a slice of the ascending order, reversed
        end = max(0, total - offset)
        start = max(0, end - limit)
        return _ascending(series, start, end - start)[::-1]
    return _ascending(series, offset, limit)


def _ascending(series: Sequence[EquitySeries], rank: int, count: int) -> list[dict[str, object]]:
    """count points from position rank of the ascending merge."""
    if count <= 0 or rank >= sum(len(s) for s in series):
        return []
    starts = _positions_of_rank(series, rank)
    heads = [
        _keys(s, order, start) for order, (s, start) in enumerate(zip(series, starts, strict=True))
    ]
    out = []
    for _, order, index in heapq.merge(*heads):
        out.append(series[order].point(index))
        if len(out) == count:
            break
    return out


def _keys(series: EquitySeries, order: int, start: int) -> Iterator[tuple[int, int, int]]:
    """(time, series order, index) of the series' points from start on: the merge's sort key."""
    for index in range(start, len(series)):
        yield series.time_us(index), order, index


def _positions_of_rank(series: Sequence[EquitySeries], rank: int) -> list[int]:
    """Per series, the index where the merge is after skipping rank points: the earliest time T
    with more than rank points at or before it (a bisection over time), then the points at
    exactly T skipped in series order."""
    low = min(s.time_us(0) for s in series if len(s))
    high = max(s.time_us(len(s) - 1) for s in series if len(s))
    while low < high:
        mid = (low + high) // 2
        if sum(s.first_after(mid) for s in series) > rank:
            high = mid
        else:
            low = mid + 1
    starts = [s.first_at_or_after(low) for s in series]
    left = rank - sum(starts)
    for order, s in enumerate(series):
        skipped = min(left, s.first_after(low) - starts[order])
        starts[order] += skipped
        left -= skipped
    return starts
