"""The equity curve: each poll's valuation and each evening snapshot, with drawdown, kept compact.

A poll every 5 minutes is ~105,000 points a year (every minute, ~525,000), so the series is held in
flat arrays (about 33 bytes a point) and extended with what was recorded since the last read: the
polls after the last job-run row seen, the snapshots after the last one seen. Both arrive in time
order; a point older than the newest one held (a wall-clock step back) is left out.
Drawdown is equity over the running peak of the whole history, the peak starting at the deposit,
as in performance_daily.csv.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prescientd.clock import iso_utc
from prescientd.models import PortfolioSnapshot
from prescientd.store.runs import PollValuation
from prescientd.vocabulary import number

SOURCES = ("poll", "evening")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _US  # exact, unlike a float timestamp


class EquitySeries:
    """Equity points in time order: time, equity, cash, drawdown and source."""

    def __init__(self, starting_balance_usd: Decimal) -> None:
        self.starting_balance_usd = starting_balance_usd
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
