"""The daemon's real scheduler loop (`Scheduler.run`) driven by a fake clock, burst-style.

Each test runs the loop the daemon runs: stand-in jobs take a second of fake time and sleeps move
the fake clock, so days of schedule (DST changes, clock jumps, failures) pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import FakeClock
from prescientd.config import Config, ScheduleConfig
from prescientd.core.schedule import local_instant
from prescientd.models import JOB_CANCELLED_ERROR, JobOutcome
from prescientd.scheduler import MAX_SLEEP_S, SCHEDULED_JOBS, Scheduler, ScheduleState
from prescientd.store.db import Store

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TIMES = {"morning": time(9, 0), "evening": time(18, 0)}
RETRY_S = 300.0
JOB_S = 1.0  # fake seconds each stand-in job takes


@contextlib.asynccontextmanager
async def _store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh database in tmp_path."""
    store = await Store.open(tmp_path / "prescient.db")
    try:
        yield store
    finally:
        await store.close()


def make_config(tz: ZoneInfo = NY, **schedule: Any) -> Config:
    """A config with the default 09:00/18:00 slots, a 300 s retry and schedule overrides."""
    settings: dict[str, Any] = {"job_retry_s": RETRY_S, **schedule}
    return Config(timezone=str(tz), schedule=ScheduleConfig(**settings))


def local(tz: ZoneInfo, day: date, at: time) -> datetime:
    """An aware local wall time."""
    return datetime.combine(day, at, tzinfo=tz)


Fail = Callable[[str, datetime], bool]


def never(job: str, at: datetime) -> bool:
    """No job fails."""
    return False


@dataclass
class Burst:
    """Runs `Scheduler.run` until the fake wall clock reaches `end`, then stops it.

    `jumps` set the wall clock (not monotonic time) once the wall passes each trigger;
    `oversleep_s` makes every wake-up late, like a loaded machine.
    """

    clock: FakeClock
    scheduler: Scheduler
    tz: ZoneInfo
    fail: Fail = never
    jumps: dict[datetime, timedelta] = field(default_factory=dict)
    oversleep_s: float = 0.0
    store: Store | None = None
    runs: list[tuple[str, datetime, bool]] = field(default_factory=list)
    started_mono: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    async def run_job(self, name: str) -> JobOutcome:
        """A stand-in job: takes JOB_S, fails when `fail` says so, recorded like run_job does."""
        started = self.clock.now()
        self.started_mono.append(self.clock.monotonic())
        self.clock.advance(JOB_S)
        ok = not self.fail(name, started)
        outcome = JobOutcome(
            run_id=uuid.uuid4().hex,
            job=name,
            local_date=started.astimezone(self.tz).date().isoformat(),
            started_at=started,
            finished_at=self.clock.now(),
            ok=ok,
            config_version=1,
            error=None if ok else "boom",
        )
        self.runs.append((name, started, ok))
        if self.store is not None:
            await self.store.record_job_run(outcome)
        return outcome

    async def drive(self, end: datetime | None = None, *, for_s: float = math.inf) -> None:
        """Run the real loop until the wall clock reaches end, or for_s of monotonic time."""
        stop = asyncio.Event()
        pending = dict(self.jumps)
        until_mono = self.clock.monotonic() + for_s

        async def wait(seconds: float) -> None:
            self.waits.append(seconds)
            self.clock.advance(seconds + self.oversleep_s)
            for trigger in sorted(pending):
                if self.clock.now() >= trigger:
                    self.clock.jump(pending.pop(trigger))
            if (
                end is not None and self.clock.now() >= end
            ) or self.clock.monotonic() >= until_mono:
                stop.set()

        await asyncio.wait_for(self.scheduler.run(self.run_job, wait, stop), 20)

    def ok_runs(self) -> list[tuple[str, date, datetime]]:
        """(job, local date, start) of each successful run."""
        return [(job, at.astimezone(self.tz).date(), at) for job, at, ok in self.runs if ok]

    def per_day(self) -> Counter[tuple[str, date]]:
        """How often each job succeeded per local date."""
        return Counter((job, day) for job, day, _ in self.ok_runs())


def burst(
    start: datetime,
    config: Config,
    *,
    state: ScheduleState | None = None,
    max_sleep_s: float = MAX_SLEEP_S,
    **options: Any,
) -> Burst:
    """A Burst whose fake clock starts at start, with the process started then too."""
    clock = FakeClock(start)
    scheduler = Scheduler(
        clock, lambda: config, state or ScheduleState(), started_at=start, max_sleep_s=max_sleep_s
    )
    return Burst(clock=clock, scheduler=scheduler, tz=config.tz, **options)


def days(first: date, last: date) -> list[date]:
    """Every date from first to last."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def each_slot_once(first: date, last: date) -> dict[tuple[str, date], int]:
    """One morning and one evening on each day."""
    return {(job, day): 1 for day in days(first, last) for job in TIMES}


# (zone, first local day, last full local day): each window spans a DST change
WINDOWS = [
    pytest.param(NY, date(2026, 3, 6), date(2026, 3, 10), id="new-york-spring-forward"),
    pytest.param(NY, date(2026, 10, 30), date(2026, 11, 3), id="new-york-fall-back"),
    pytest.param(LONDON, date(2026, 3, 27), date(2026, 3, 31), id="london-spring-forward"),
    pytest.param(LONDON, date(2026, 10, 23), date(2026, 10, 27), id="london-fall-back"),
]


def window(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """Start at 09:05 on the first day (the morning was missed), end at midnight after last."""
    return local(tz, first, time(9, 5)), local(tz, last + timedelta(days=1), time(0, 0))


# -- DST days -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
async def test_dst_days_run_each_slot_once_on_time(tz: ZoneInfo, first: date, last: date) -> None:
    """Across a DST change each slot runs once at its local time; no wake-up is wasted."""
    start, end = window(tz, first, last)
    run = burst(start, make_config(tz), max_sleep_s=math.inf)
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)
    for job, day, ran_at in run.ok_runs():
        expected = time(9, 5) if (job, day) == ("morning", first) else TIMES[job]  # catch-up
        assert ran_at.astimezone(tz).time() == expected
    assert len(run.waits) == len(run.runs)  # each sleep ends exactly at the next slot


@pytest.mark.parametrize("transition", [date(2026, 3, 8), date(2026, 11, 1)])
async def test_new_york_dst_days_with_the_default_30s_recheck(transition: date) -> None:
    """With the daemon's 30 s re-check the days around a DST change run each slot once, on time."""
    tz, first, last = NY, transition - timedelta(days=1), transition + timedelta(days=1)
    start, end = window(tz, first, last)
    run = burst(start, make_config(tz))
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)
    assert max(run.waits) == MAX_SLEEP_S
    for job, day, ran_at in run.ok_runs()[1:]:
        assert ran_at == local_instant(day, TIMES[job], tz)


@pytest.mark.parametrize(("tz", "first", "last"), WINDOWS)
@pytest.mark.parametrize("late_s", [7 * 60.0, 61 * 60.0])
async def test_late_wake_ups_run_each_slot_once(
    tz: ZoneInfo, first: date, last: date, late_s: float
) -> None:
    """Waking late every time (a loaded machine) still runs each slot once, within the delay."""
    start, end = window(tz, first, last)
    run = burst(start, make_config(tz), oversleep_s=late_s, max_sleep_s=3600.0)
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)
    for job, day, ran_at in run.ok_runs()[1:]:
        slot = local_instant(day, TIMES[job], tz)
        assert slot <= ran_at <= slot + timedelta(seconds=late_s + JOB_S)


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected_utc"),
    [
        pytest.param(NY, date(2026, 3, 8), time(2, 30), "2026-03-08T07:00:00+00:00", id="ny-gap"),
        pytest.param(
            NY, date(2026, 11, 1), time(1, 30), "2026-11-01T05:30:00+00:00", id="ny-overlap"
        ),
        pytest.param(
            LONDON, date(2026, 3, 29), time(1, 30), "2026-03-29T01:00:00+00:00", id="london-gap"
        ),
        pytest.param(
            LONDON,
            date(2026, 10, 25),
            time(1, 30),
            "2026-10-25T00:30:00+00:00",
            id="london-overlap",
        ),
    ],
)
async def test_night_slot_in_dst_gap_or_overlap_runs_once(
    tz: ZoneInfo, day: date, at: time, expected_utc: str
) -> None:
    """A slot inside the DST gap runs once right after it; inside the overlap, once, first."""
    first, last = day - timedelta(days=2), day + timedelta(days=2)
    config = make_config(tz, morning=at.strftime("%H:%M"), evening="12:00")
    run = burst(local(tz, first, time(0, 0)), config, max_sleep_s=600.0)
    await run.drive(local(tz, last + timedelta(days=1), time(0, 0)))
    mornings = [(d, t) for job, d, t in run.ok_runs() if job == "morning"]
    assert [d for d, _ in mornings] == days(first, last)
    (ran_at,) = [t for d, t in mornings if d == day]
    assert ran_at == datetime.fromisoformat(expected_utc)


# -- clock jumps ----------------------------------------------------------------------------------


async def test_clock_set_back_an_hour_repeats_nothing() -> None:
    """The wall clock set back an hour right after the evening run does not rerun it."""
    first, last = date(2026, 10, 31), date(2026, 11, 2)
    start, end = window(NY, first, last)
    run = burst(start, make_config(), jumps={local(NY, first, time(18, 10)): timedelta(hours=-1)})
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)


async def test_clock_set_back_a_day_repeats_nothing() -> None:
    """Set back a whole day after the evening run, the repeated date runs nothing again."""
    first, last = date(2026, 3, 7), date(2026, 3, 9)
    start, end = window(NY, first, last)
    jump_at = local(NY, first + timedelta(days=1), time(18, 10))
    run = burst(start, make_config(), jumps={jump_at: timedelta(days=-1)})
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)


async def test_clock_jumps_forward_an_hour_over_a_slot() -> None:
    """A +1 h jump from 08:30 to 09:30 runs that morning once, as soon as the loop re-checks."""
    first, last = date(2026, 3, 7), date(2026, 3, 9)
    second = first + timedelta(days=1)
    start, end = window(NY, first, last)
    run = burst(start, make_config(), jumps={local(NY, second, time(8, 30)): timedelta(hours=1)})
    await run.drive(end)
    assert run.per_day() == each_slot_once(first, last)
    (ran_at,) = [at for job, day, at in run.ok_runs() if (job, day) == ("morning", second)]
    jumped_to = local(NY, second, time(9, 30))
    assert jumped_to <= ran_at <= jumped_to + timedelta(seconds=MAX_SLEEP_S)


async def test_clock_jumps_forward_a_day() -> None:
    """A +1 day jump loses the evening the wall clock never showed and runs the next morning."""
    first, last = date(2026, 10, 31), date(2026, 11, 2)
    start, end = window(NY, first, last)
    run = burst(start, make_config(), jumps={local(NY, first, time(10, 0)): timedelta(days=1)})
    await run.drive(end)
    expected = each_slot_once(first, last)
    del expected[("evening", first)]
    assert run.per_day() == expected
    landing = first + timedelta(days=1)
    (landed,) = [at for job, day, at in run.ok_runs() if (job, day) == ("morning", landing)]
    assert landed.astimezone(NY).time() < time(10, 1)  # caught up at once, not at 09:00 next day


# -- start-up catch-up and failures ---------------------------------------------------------------


async def test_missed_slot_caught_up_once_at_start_up(tmp_path: Path) -> None:
    """Started at 09:05 the missed morning runs once; a restart reads the history, no repeat."""
    day = date(2026, 3, 9)
    async with _store(tmp_path) as store:
        config = make_config()
        last_ok, failed = await store.schedule_history(SCHEDULED_JOBS)
        assert (last_ok, failed) == ({}, {})
        first = burst(local(NY, day, time(9, 5)), config, store=store)
        await first.drive(local(NY, day, time(9, 30)))
        assert [(job, at.astimezone(NY).time()) for job, at, _ in first.runs] == [
            ("morning", time(9, 5))
        ]

        last_ok, failed = await store.schedule_history(SCHEDULED_JOBS)
        assert last_ok == {"morning": day} and failed == {}
        state = ScheduleState(last_ok=last_ok, failed_at=failed)
        second = burst(local(NY, day, time(9, 31)), config, state=state, store=store)
        await second.drive(local(NY, day, time(23, 0)))
        assert [(job, at.astimezone(NY).time()) for job, at, _ in second.runs] == [
            ("evening", time(18, 0))
        ]


async def test_catch_up_disabled_skips_slots_before_start() -> None:
    """With startup_catch_up off, a slot that passed before the start waits for the next day."""
    start = local(NY, date(2026, 3, 9), time(9, 5))
    run = burst(start, make_config(startup_catch_up=False), max_sleep_s=math.inf)
    await run.drive(local(NY, date(2026, 3, 11), time(0, 0)))
    assert run.waits[0] == (local(NY, date(2026, 3, 9), time(18, 0)) - start).total_seconds()
    assert run.per_day() == {
        ("evening", date(2026, 3, 9)): 1,
        ("morning", date(2026, 3, 10)): 1,
        ("evening", date(2026, 3, 10)): 1,
    }


async def test_failure_retried_after_job_retry_s() -> None:
    """Two failures then a success, each retry job_retry_s after the failure; evening unaffected."""
    attempts: list[datetime] = []

    def fail(job: str, at: datetime) -> bool:
        if job != "morning":
            return False
        attempts.append(at)
        return len(attempts) <= 2

    run = burst(local(NY, date(2026, 3, 9), time(8, 0)), make_config(), fail=fail)
    await run.drive(local(NY, date(2026, 3, 10), time(0, 0)))
    # each retry comes job_retry_s after the failed run finished (runs take JOB_S)
    assert [a.astimezone(NY).time() for a in attempts] == [time(9), time(9, 5, 1), time(9, 10, 2)]
    assert run.per_day() == {("morning", date(2026, 3, 9)): 1, ("evening", date(2026, 3, 9)): 1}


async def test_failure_before_a_restart_is_retried_after_job_retry_s(tmp_path: Path) -> None:
    """A failure read from the history at start-up holds the retry until job_retry_s has passed."""
    day = date(2026, 3, 9)
    async with _store(tmp_path) as store:
        config = make_config()
        failing = burst(local(NY, day, time(8, 59)), config, store=store, fail=lambda j, t: True)
        await failing.drive(local(NY, day, time(9, 1)))
        assert [job for job, _, ok in failing.runs] == ["morning"]

        last_ok, failed = await store.schedule_history(SCHEDULED_JOBS)
        assert last_ok == {} and set(failed) == {"morning"}
        state = ScheduleState(last_ok=dict(last_ok), failed_at=dict(failed))
        restarted = burst(local(NY, day, time(9, 2)), config, state=state, store=store)
        await restarted.drive(local(NY, day, time(10, 0)))
        (retry,) = [at for job, at, _ in restarted.runs if job == "morning"]
        assert retry == failed["morning"] + timedelta(seconds=RETRY_S)


# -- interval mode and state ----------------------------------------------------------------------


async def test_interval_mode_runs_like_a_timer_from_the_start() -> None:
    """morning_every_s runs the morning one interval after start and every interval after."""
    start = local(NY, date(2026, 3, 9), time(10, 0))
    run = burst(start, make_config(morning_every_s=60.0))
    await run.drive(start + timedelta(seconds=300))
    mornings = [(at - start).total_seconds() for job, at, _ in run.runs if job == "morning"]
    assert mornings == [60.0, 120.0, 180.0, 240.0]
    assert [job for job, _, _ in run.runs if job != "morning"] == []  # evening stays daily


async def test_interval_mode_ignores_wall_clock_jumps() -> None:
    """Interval jobs follow monotonic time: a -1 h wall jump neither repeats nor delays them."""
    start = local(NY, date(2026, 3, 9), time(10, 0))
    run = burst(
        start,
        make_config(morning_every_s=60.0, evening_every_s=90.0),
        jumps={start + timedelta(seconds=100): timedelta(hours=-1)},
    )
    await run.drive(for_s=200)
    ran = [
        (job, mono - 1000.0) for (job, _, _), mono in zip(run.runs, run.started_mono, strict=True)
    ]
    assert ran == [
        ("morning", 60),
        ("evening", 90),
        ("morning", 120),
        ("morning", 180),
        ("evening", 181),
    ]


async def test_a_reload_moves_the_slot_on_the_next_step() -> None:
    """The scheduler reads the config each step: a new evening time is used at once."""
    config = make_config()
    clock = FakeClock(local(NY, date(2026, 3, 9), time(17, 0)))
    current = [config]
    state = ScheduleState(last_ok={"morning": date(2026, 3, 9)})
    scheduler = Scheduler(clock, lambda: current[0], state)
    assert scheduler.due(clock.now()).jobs == []
    current[0] = make_config(evening="16:30")
    assert scheduler.due(clock.now()).jobs == ["evening"]


def _outcome(job: str, day: str, ok: bool, error: str | None = None, minute: int = 0) -> JobOutcome:
    at = local(NY, date.fromisoformat(day), time(9, minute))
    return JobOutcome(
        run_id=f"{job}{day}{minute}",
        job=job,
        local_date=day,
        started_at=at,
        finished_at=at,
        ok=ok,
        config_version=1,
        error=error,
    )


@pytest.mark.parametrize(
    ("outcomes", "last_ok", "failed_minute"),
    [
        ([("2026-03-09", True, None)], date(2026, 3, 9), None),
        ([("2026-03-09", False, "boom")], None, 0),
        ([("2026-03-09", False, "boom"), ("2026-03-09", True, None)], date(2026, 3, 9), None),
        ([("2026-03-10", True, None), ("2026-03-09", True, None)], date(2026, 3, 10), None),
        ([("2026-03-09", False, JOB_CANCELLED_ERROR)], None, None),
        ([("2026-03-09", True, None), ("2026-03-09", False, "boom")], date(2026, 3, 9), 1),
    ],
)
def test_state_follows_outcomes_like_the_history_query(
    outcomes: list[tuple[str, bool, str | None]], last_ok: date | None, failed_minute: int | None
) -> None:
    """Successes keep the latest date and clear failures; a cancelled run is no failure."""
    state = ScheduleState()
    for minute, (day, ok, error) in enumerate(outcomes):
        state.record(_outcome("morning", day, ok, error, minute))
    assert state.last_ok.get("morning") == last_ok
    failed = state.failed_at.get("morning")
    if failed_minute is None:
        assert failed is None
    else:
        assert failed is not None and failed.astimezone(NY).minute == failed_minute
