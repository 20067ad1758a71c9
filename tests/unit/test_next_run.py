"""When each job runs next, computed from outside the daemon (as `status` shows it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from prescientd.core.schedule import next_daily_run, next_interval_run, next_poll_at

NY = ZoneInfo("America/New_York")
NINE = time(9, 0)
RETRY_S = 300.0


def _ny(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A December 2026 New York wall time (EST, UTC-5)."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=NY)


def _z(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "last_ok", "failed_at", "earliest", "expected"),
    [
        pytest.param(_ny(3, 8), date(2026, 12, 2), None, None, _z(3, 14), id="later-today"),
        pytest.param(_ny(3, 10), date(2026, 12, 3), None, None, _z(4, 14), id="done-today"),
        # due since its slot: the answer lies before now, so a reader can tell how late it is
        pytest.param(_ny(3, 10), date(2026, 12, 2), None, None, _z(3, 14), id="due-since-slot"),
        pytest.param(
            _ny(3, 10), date(2026, 12, 2), _z(3, 14, 1), None, _z(3, 14, 6), id="due-after-retry"
        ),
        pytest.param(
            _ny(3, 9, 3), date(2026, 12, 2), _z(3, 14, 1), None, _z(3, 14, 6), id="backing-off"
        ),
        # catch-up off and started after the slot: today's run is skipped
        pytest.param(
            _ny(3, 10), date(2026, 12, 2), None, _ny(3, 9, 30), _z(4, 14), id="no-catch-up"
        ),
        pytest.param(_ny(3, 8), None, None, None, _z(3, 14), id="never-ran"),
    ],
)
def test_next_daily_run(
    now: datetime,
    last_ok: date | None,
    failed_at: datetime | None,
    earliest: datetime | None,
    expected: datetime,
) -> None:
    """A daily job's next run: its next slot, or when it became due, or its retry time."""
    assert next_daily_run(now, NY, NINE, last_ok, failed_at, RETRY_S, earliest) == expected


@pytest.mark.parametrize(
    ("last_started", "since", "expected"),
    [
        (_z(3, 15), _z(3, 14), _z(3, 15, 0, 20)),
        (None, _z(3, 14), _z(3, 14, 0, 20)),
        (_z(3, 13), _z(3, 14), _z(3, 14, 0, 20)),  # a start by an earlier process
    ],
)
def test_next_interval_run(
    last_started: datetime | None, since: datetime, expected: datetime
) -> None:
    """An every-N-seconds job runs one interval after its last start in this process."""
    assert next_interval_run(last_started, 20.0, since) == expected


@pytest.mark.parametrize(
    ("last_started", "now", "expected"),
    [
        (_z(3, 15), _z(3, 15, 2, 10), _z(3, 15, 5)),
        (_z(3, 15), _z(3, 15, 7), _z(3, 15, 10)),  # a missed tick is skipped, as the poller does
        (None, _z(3, 15, 7), _z(3, 15, 7)),
        (_z(3, 13), _z(3, 15, 7), _z(3, 15, 7)),  # polled by an earlier process: due now
    ],
)
def test_next_poll_at(last_started: datetime | None, now: datetime, expected: datetime) -> None:
    """The next poll falls on the grid of the last poll's start; without one it is due now."""
    since = _z(3, 14)
    assert next_poll_at(last_started, 300.0, now, since) == expected
    assert next_poll_at(last_started, 300.0, now, since) - now <= timedelta(seconds=300)
