"""The pure local-time schedule functions: DST instants, due slots, wake-ups, poll ticks.

The loop that uses them is tested through the real Scheduler in test_scheduler.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from prescientd.core.schedule import due_jobs, local_instant, next_poll, next_wakeup

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TIMES = {"morning": time(9, 0), "evening": time(18, 0)}
RETRY_S = 300.0


def _utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def _local(tz: ZoneInfo, y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc"),
    [
        # spring forward: 02:00-03:00 does not exist; the first instant after the gap is 03:00 EDT
        ("America/New_York", date(2026, 3, 8), time(2, 30), _utc(2026, 3, 8, 7)),
        ("America/New_York", date(2026, 3, 8), time(2, 0), _utc(2026, 3, 8, 7)),
        ("America/New_York", date(2026, 3, 8), time(3, 0), _utc(2026, 3, 8, 7)),
        ("America/New_York", date(2026, 3, 8), time(1, 59), _utc(2026, 3, 8, 6, 59)),
        ("America/New_York", date(2026, 3, 8), time(9, 0), _utc(2026, 3, 8, 13)),
        ("America/New_York", date(2026, 3, 7), time(9, 0), _utc(2026, 3, 7, 14)),
        # fall back: 01:00-02:00 happens twice; the first (EDT) occurrence counts
        ("America/New_York", date(2026, 11, 1), time(1, 30), _utc(2026, 11, 1, 5, 30)),
        ("America/New_York", date(2026, 11, 1), time(9, 0), _utc(2026, 11, 1, 14)),
        ("America/New_York", date(2026, 10, 31), time(18, 0), _utc(2026, 10, 31, 22)),
        ("Europe/London", date(2026, 3, 29), time(1, 30), _utc(2026, 3, 29, 1)),
        ("Europe/London", date(2026, 3, 29), time(9, 0), _utc(2026, 3, 29, 8)),
        ("Europe/London", date(2026, 10, 25), time(1, 30), _utc(2026, 10, 25, 0, 30)),
        ("Europe/London", date(2026, 10, 25), time(9, 0), _utc(2026, 10, 25, 9)),
        # a 30-minute DST shift: gap 02:00-02:30 and overlap 01:30-02:00
        ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), _utc(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), _utc(2026, 4, 4, 14, 45)),
    ],
)
def test_local_instant(zone: str, day: date, at: time, expected_utc: datetime) -> None:
    """Local wall times map to UTC; gaps move to the end of the gap, overlaps take the first."""
    result = local_instant(day, at, ZoneInfo(zone))
    assert result == expected_utc
    assert result.utcoffset() == timedelta(0)


def test_failure_is_retried_after_retry_s() -> None:
    """A failed job is not due again until retry_s has passed; next_wakeup names that moment."""
    slot = _local(NY, 2026, 3, 9, 9)
    failed = {"morning": slot}

    def due(now: datetime) -> list[str]:
        return due_jobs(now, NY, TIMES, {}, failed, RETRY_S, None)

    assert due(slot + timedelta(seconds=299)) == []
    assert due(slot + timedelta(seconds=300)) == ["morning"]
    wake = next_wakeup(slot + timedelta(seconds=1), NY, TIMES, {}, failed, RETRY_S)
    assert wake == slot + timedelta(seconds=300)


def test_yesterdays_failure_does_not_block_today() -> None:
    """A failure of yesterday's slot does not delay today's, however long the retry delay."""
    failed = {"morning": _local(NY, 2026, 3, 8, 9, 1)}
    now = _local(NY, 2026, 3, 9, 9)
    day_s = 86400.0
    assert due_jobs(now, NY, TIMES, {}, failed, day_s, None) == ["morning"]
    assert next_wakeup(now - timedelta(minutes=1), NY, TIMES, {}, failed, day_s) == now


def test_next_wakeup_is_strictly_in_the_future() -> None:
    """At the very instant of a pending slot, the next wakeup is the following slot, not now."""
    now = _local(NY, 2026, 3, 9, 9)
    assert next_wakeup(now, NY, TIMES, {}, {}, RETRY_S) == _local(NY, 2026, 3, 9, 18)
    evening = _local(NY, 2026, 3, 9, 18)
    done = {"morning": date(2026, 3, 9)}
    assert next_wakeup(evening, NY, TIMES, done, {}, RETRY_S) == _local(NY, 2026, 3, 10, 9)


def test_due_jobs_in_time_order() -> None:
    """Several due jobs come back in slot order, whatever the mapping order."""
    times = {"evening": time(18, 0), "noon": time(12, 0), "morning": time(9, 0)}
    now = _local(LONDON, 2026, 3, 29, 19)
    assert due_jobs(now, LONDON, times, {}, {}, RETRY_S, None) == ["morning", "noon", "evening"]


def test_success_today_or_later_means_done() -> None:
    """A job that succeeded today, or on a later date (clock set back), is not due."""
    now = _local(NY, 2026, 3, 9, 19)
    for done in (date(2026, 3, 9), date(2026, 3, 10)):
        assert due_jobs(now, NY, TIMES, {"morning": done, "evening": done}, {}, RETRY_S, None) == []
    assert due_jobs(now, NY, TIMES, {"morning": date(2026, 3, 8)}, {}, RETRY_S, None) == [
        "morning",
        "evening",
    ]


@pytest.mark.parametrize(
    ("tz", "now", "expected", "real_hours"),
    [
        # evening done on 10-31 (EDT); the next morning is 09:00 EST: 16 real hours, not 15
        (NY, _local(NY, 2026, 10, 31, 18), _utc(2026, 11, 1, 14), 16),
        # across spring forward: 14 real hours
        (NY, _local(NY, 2026, 3, 7, 18), _utc(2026, 3, 8, 13), 14),
        (LONDON, _local(LONDON, 2026, 3, 28, 18), _utc(2026, 3, 29, 8), 14),
        (LONDON, _local(LONDON, 2026, 10, 24, 18), _utc(2026, 10, 25, 9), 16),
    ],
)
def test_next_wakeup_crosses_dst_in_real_time(
    tz: ZoneInfo, now: datetime, expected: datetime, real_hours: int
) -> None:
    """The sleep to the next morning is measured in UTC, so DST changes its length."""
    today = now.date()
    wake = next_wakeup(now, tz, TIMES, {"morning": today, "evening": today}, {}, RETRY_S)
    assert wake == expected
    assert (wake - now.astimezone(UTC)) == timedelta(hours=real_hours)


def test_naive_now_is_refused() -> None:
    """A naive datetime is ambiguous, so it is rejected."""
    with pytest.raises(ValueError, match="naive"):
        due_jobs(datetime(2026, 3, 9, 9), NY, TIMES, {}, {}, RETRY_S, None)


@pytest.mark.parametrize(
    ("origin", "interval", "now", "expected"),
    [
        (0.0, 300.0, 0.0, 300.0),  # strictly after now
        (0.0, 300.0, 299.9, 300.0),
        (0.0, 300.0, 300.0, 600.0),
        (0.0, 300.0, 1000.0, 1200.0),  # three missed ticks are skipped, not bunched
        (100.0, 300.0, 50.0, 100.0),
        (1e6, 0.1, 1e6 + 0.30000000000000004, 1e6 + 0.4),
    ],
)
def test_next_poll(origin: float, interval: float, now: float, expected: float) -> None:
    """Poll ticks stay on the origin + k x interval grid and are always in the future."""
    tick = next_poll(origin, interval, now)
    assert tick == pytest.approx(expected)
    assert tick > now


def test_next_poll_rejects_zero_interval() -> None:
    """A zero interval would spin."""
    with pytest.raises(ValueError, match="positive"):
        next_poll(0.0, 0.0, 1.0)
