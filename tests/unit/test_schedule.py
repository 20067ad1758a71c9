"""The local-time schedule across DST changes and clock jumps, driven by an injected clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class Daemon:
    """A fake daemon loop: runs whatever is due at `now` and records what ran when."""

    tz: ZoneInfo
    times: dict[str, time] = field(default_factory=lambda: dict(TIMES))
    earliest: datetime | None = None
    fail: Callable[[str, datetime], bool] = lambda job, now: False
    last_ok: dict[str, date | None] = field(default_factory=dict)
    last_failed: dict[str, datetime | None] = field(default_factory=dict)
    runs: list[tuple[str, date, datetime]] = field(default_factory=list)
    failures: list[tuple[str, datetime]] = field(default_factory=list)

    def tick(self, now: datetime) -> None:
        """Run the due jobs, in order, as the scheduler would."""
        for job in due_jobs(
            now, self.tz, self.times, self.last_ok, self.last_failed, RETRY_S, self.earliest
        ):
            if self.fail(job, now):
                self.last_failed[job] = now
                self.failures.append((job, now))
            else:
                today = now.astimezone(self.tz).date()
                self.last_ok[job] = today
                self.runs.append((job, today, now))

    def wakeup(self, now: datetime) -> datetime:
        """When the loop would sleep until."""
        return next_wakeup(now, self.tz, self.times, self.last_ok, self.last_failed, RETRY_S)

    def run_by_wakeup(self, start: datetime, end: datetime) -> int:
        """Sleep exactly until each next wakeup; return how many times the loop woke."""
        now, wakes = start, 0
        while now < end:
            self.tick(now)
            later = self.wakeup(now)
            assert later > now
            now, wakes = later, wakes + 1
        return wakes

    def run_by_step(
        self, start: datetime, end: datetime, step: timedelta, jumps: dict[datetime, timedelta]
    ) -> None:
        """Advance by a fixed step; a jump moves the wall clock once when its moment passes."""
        now, pending = start, dict(jumps)
        while now < end:
            self.tick(now)
            now += step
            for trigger in sorted(pending):
                if now >= trigger:
                    now += pending.pop(trigger)

    def per_day(self) -> Counter[tuple[str, date]]:
        """How often each job ran per local date."""
        return Counter((job, day) for job, day, _ in self.runs)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# (zone, start local day, last full local day): each window spans a DST change
WINDOWS = [
    (NY, date(2026, 3, 6), date(2026, 3, 10)),
    (NY, date(2026, 10, 30), date(2026, 11, 3)),
    (LONDON, date(2026, 3, 27), date(2026, 3, 31)),
    (LONDON, date(2026, 10, 23), date(2026, 10, 27)),
]


def _window(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time(9, 5), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=tz)
    return start, end


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
def test_wakeup_driven_runs_each_slot_once_on_time(tz: ZoneInfo, first: date, last: date) -> None:
    """Sleeping to each next_wakeup runs one morning and one evening per local day, on time."""
    daemon = Daemon(tz)
    start, end = _window(tz, first, last)
    wakes = daemon.run_by_wakeup(start, end)
    expected = {(job, day): 1 for day in _days(first, last) for job in TIMES}
    assert daemon.per_day() == expected
    for job, day, ran_at in daemon.runs:
        local = ran_at.astimezone(tz)
        assert local.date() == day
        if (job, day) == ("morning", first):
            assert local.time() == time(9, 5)  # the start-up catch-up, once
        else:
            assert local.time() == TIMES[job]
    assert wakes == len(expected)  # never woke for nothing


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
@pytest.mark.parametrize("step", [timedelta(minutes=7), timedelta(minutes=61)])
def test_step_driven_runs_each_slot_once(
    tz: ZoneInfo, first: date, last: date, step: timedelta
) -> None:
    """Polling the schedule at a coarse step runs each slot once, within one step of its time."""
    daemon = Daemon(tz)
    start, end = _window(tz, first, last)
    daemon.run_by_step(start, end, step, {})
    assert daemon.per_day() == {(job, day): 1 for day in _days(first, last) for job in TIMES}
    for job, day, ran_at in daemon.runs[1:]:
        slot = local_instant(day, TIMES[job], tz)
        assert slot <= ran_at < slot + step


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
def test_clock_set_back_an_hour_repeats_nothing(tz: ZoneInfo, first: date, last: date) -> None:
    """The wall clock set back an hour right after the evening run does not rerun it."""
    daemon = Daemon(tz)
    start, end = _window(tz, first, last)
    jump_at = datetime.combine(first, time(18, 10), tzinfo=tz)
    daemon.run_by_step(start, end, timedelta(minutes=5), {jump_at: timedelta(hours=-1)})
    assert daemon.per_day() == {(job, day): 1 for day in _days(first, last) for job in TIMES}


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
def test_clock_jumps_forward_an_hour_over_a_slot(tz: ZoneInfo, first: date, last: date) -> None:
    """A +1 h jump from 08:30 to 09:30 runs that morning once, at 09:30."""
    daemon = Daemon(tz)
    start, end = _window(tz, first, last)
    second = first + timedelta(days=1)
    jump_at = datetime.combine(second, time(8, 30), tzinfo=tz)
    daemon.run_by_step(start, end, timedelta(minutes=5), {jump_at: timedelta(hours=1)})
    assert daemon.per_day() == {(job, day): 1 for day in _days(first, last) for job in TIMES}
    (ran_at,) = [at for job, day, at in daemon.runs if (job, day) == ("morning", second)]
    assert ran_at.astimezone(tz).time() == time(9, 30)


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
def test_clock_jumps_forward_a_day(tz: ZoneInfo, first: date, last: date) -> None:
    """A +1 day jump loses the skipped evening and runs the landing day's morning once."""
    daemon = Daemon(tz)
    start, end = _window(tz, first, last)
    jump_at = datetime.combine(first, time(10, 0), tzinfo=tz)
    daemon.run_by_step(start, end, timedelta(minutes=5), {jump_at: timedelta(days=1)})
    expected = {(job, day): 1 for day in _days(first, last) for job in TIMES}
    del expected[("evening", first)]  # the wall clock never showed that evening
    assert daemon.per_day() == expected


@pytest.mark.parametrize(
    ("tz", "first", "last", "at", "transition_day", "expected_utc"),
    [
        (
            NY,
            date(2026, 3, 6),
            date(2026, 3, 10),
            time(2, 30),
            date(2026, 3, 8),
            _utc(2026, 3, 8, 7),
        ),
        (
            NY,
            date(2026, 10, 30),
            date(2026, 11, 3),
            time(1, 30),
            date(2026, 11, 1),
            _utc(2026, 11, 1, 5, 30),
        ),
        (
            LONDON,
            date(2026, 3, 27),
            date(2026, 3, 31),
            time(1, 30),
            date(2026, 3, 29),
            _utc(2026, 3, 29, 1),
        ),
        (
            LONDON,
            date(2026, 10, 23),
            date(2026, 10, 27),
            time(1, 30),
            date(2026, 10, 25),
            _utc(2026, 10, 25, 0, 30),
        ),
    ],
)
def test_night_slot_in_gap_or_overlap_runs_once(
    tz: ZoneInfo,
    first: date,
    last: date,
    at: time,
    transition_day: date,
    expected_utc: datetime,
) -> None:
    """A slot inside the DST gap runs once after it; one inside the overlap runs once, first."""
    for runner in ("wakeup", "step"):
        daemon = Daemon(tz, times={"night": at})
        start = datetime.combine(first, time(0, 0), tzinfo=tz)
        _, end = _window(tz, first, last)
        if runner == "wakeup":
            daemon.run_by_wakeup(start, end)
        else:
            daemon.run_by_step(start, end, timedelta(minutes=10), {})
        assert daemon.per_day() == {("night", day): 1 for day in _days(first, last)}
        (ran_at,) = [t for _, day, t in daemon.runs if day == transition_day]
        assert expected_utc <= ran_at < expected_utc + timedelta(minutes=10)
        if runner == "wakeup":
            assert ran_at == expected_utc


def test_start_at_0905_runs_missed_morning_once() -> None:
    """Started at 09:05 with catch-up the missed morning runs once; a restart does not repeat it."""
    daemon = Daemon(NY)
    now = _local(NY, 2026, 3, 9, 9, 5)
    daemon.tick(now)
    daemon.tick(now + timedelta(seconds=1))
    restarted = Daemon(NY, last_ok=dict(daemon.last_ok))  # state persisted across the restart
    restarted.tick(now + timedelta(minutes=1))
    assert [job for job, _, _ in daemon.runs] == ["morning"]
    assert restarted.runs == []


def test_catch_up_disabled_skips_slots_before_start() -> None:
    """With earliest = the start time, a slot that passed before the start is not run."""
    start = _local(NY, 2026, 3, 9, 9, 5)
    daemon = Daemon(NY, earliest=start)
    daemon.tick(start)
    assert daemon.runs == []
    assert daemon.wakeup(start) == _local(NY, 2026, 3, 9, 18)  # not now: no busy loop
    daemon.run_by_wakeup(start, _local(NY, 2026, 3, 11, 0))
    assert daemon.per_day() == {
        ("evening", date(2026, 3, 9)): 1,
        ("morning", date(2026, 3, 10)): 1,
        ("evening", date(2026, 3, 10)): 1,
    }


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


def test_failing_job_retries_until_it_succeeds() -> None:
    """Two failures then a success: attempts at 09:00, 09:05, 09:10 and exactly one success."""
    attempts: list[datetime] = []

    def fail(job: str, now: datetime) -> bool:
        if job != "morning":
            return False
        attempts.append(now)
        return len(attempts) <= 2

    daemon = Daemon(NY, fail=fail)
    daemon.run_by_wakeup(_local(NY, 2026, 3, 9, 8), _local(NY, 2026, 3, 10, 0))
    assert [a.astimezone(NY).time() for a in attempts] == [time(9, 0), time(9, 5), time(9, 10)]
    assert daemon.per_day() == {("morning", date(2026, 3, 9)): 1, ("evening", date(2026, 3, 9)): 1}


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
