"""`Scheduler.next_attempt`: the time a job_finished line announces is when the loop runs it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import FakeClock
from prescientd.config import Config, ScheduleConfig
from prescientd.models import JobOutcome
from prescientd.scheduler import Scheduler, ScheduleState

NY = ZoneInfo("America/New_York")
RETRY_S = 300.0


def make_config(**schedule: Any) -> Config:
    """New York, 09:00/18:00, a 300 s retry, with schedule overrides."""
    return Config(
        timezone="America/New_York",
        schedule=ScheduleConfig(**{"job_retry_s": RETRY_S, **schedule}),
    )


def run_outcome(job: str, clock: FakeClock, started: datetime, error: str | None) -> JobOutcome:
    """The outcome of a run that began at started and ends now."""
    return JobOutcome(
        run_id=uuid.uuid4().hex[:12],
        job=job,
        local_date=started.astimezone(NY).date().isoformat(),
        started_at=started,
        finished_at=clock.now(),
        ok=error is None,
        config_version=1,
        counts={},
        error=error,
    )


async def drive(
    config: Config, start: datetime, end: datetime, failing: dict[str, int]
) -> list[tuple[str, datetime, datetime | None]]:
    """Run the real loop from start to end on a fake clock; each job takes 1 s and the first
    failing[job] runs of it fail. Returns (job, started, announced next attempt) per run."""
    clock = FakeClock(start)
    scheduler = Scheduler(clock, lambda: config, ScheduleState(), started_at=start)
    stop = asyncio.Event()
    runs: list[tuple[str, datetime, datetime | None]] = []

    async def run_job(job: str) -> JobOutcome:
        started = clock.now()
        clock.advance(1.0)
        error = "boom" if failing.get(job, 0) > 0 else None
        failing[job] = failing.get(job, 0) - 1
        result = run_outcome(job, clock, started, error)
        runs.append((job, started, scheduler.next_attempt(result)))
        return result

    async def wait(seconds: float) -> None:
        clock.advance(seconds)
        if clock.now() >= end:
            stop.set()

    await scheduler.run(run_job, wait, stop)
    return runs


def check_announcements(runs: list[tuple[str, datetime, datetime | None]]) -> int:
    """Every announced next attempt is when that job's next run starts (or 1 s later, when the
    other job, due at the same moment, went first); returns how many were checked (the last run
    of each job has no next run to compare)."""
    checked = 0
    for i, (job, _, announced) in enumerate(runs):
        later = [started for other, started, _ in runs[i + 1 :] if other == job]
        if later:
            assert announced is not None
            assert announced <= later[0] <= announced + timedelta(seconds=1), (job, i)
            checked += 1
    return checked


async def test_daily_failures_announce_the_retry_and_successes_the_next_slot() -> None:
    """Evening fails twice: each line says +job_retry_s; the success says tomorrow 18:00."""
    start = datetime.combine(date(2026, 3, 6), time(8, 0), tzinfo=NY)
    end = start + timedelta(days=3)
    runs = await drive(make_config(), start, end, {"evening": 2})
    evenings = [r for r in runs if r[0] == "evening"]
    first_failed, second_failed, first_ok = evenings[:3]
    assert first_failed[2] == first_failed[1] + timedelta(seconds=1 + RETRY_S)
    assert second_failed[2] == second_failed[1] + timedelta(seconds=1 + RETRY_S)
    # the next day's slot, across the DST change of 2026-03-08 as well
    slots = [datetime.combine(date(2026, 3, d), time(18, 0), tzinfo=NY) for d in (7, 8)]
    assert [r[2] for r in evenings[2:4]] == [s.astimezone(UTC) for s in slots]
    assert first_ok[1] == second_failed[1] + timedelta(seconds=1 + RETRY_S)
    assert check_announcements(runs) >= 6


@pytest.mark.parametrize("fails", [0, 3])
async def test_interval_jobs_announce_one_interval_after_their_start(fails: int) -> None:
    """A job run every N s (the demo's old schedule): next attempt = its start + N."""
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    config = make_config(morning_every_s=600, evening_every_s=90)
    runs = await drive(config, start, start + timedelta(hours=1), {"evening": fails})
    for job, every_s in (("morning", 600), ("evening", 90)):
        mine = [r for r in runs if r[0] == job]
        assert len(mine) >= 3
        assert all(r[2] == r[1] + timedelta(seconds=every_s) for r in mine)
    assert check_announcements(runs) >= 10


def test_a_job_the_loop_does_not_run_has_no_next_attempt() -> None:
    """The poll is the poller's, not the scheduler's: None."""
    clock = FakeClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    scheduler = Scheduler(clock, make_config, ScheduleState())
    assert scheduler.next_attempt(run_outcome("poll", clock, clock.now(), "boom")) is None
