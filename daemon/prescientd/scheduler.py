"""When the morning and evening jobs run: the schedule state in memory and the loop that runs it.

The schedule needs two facts from the job history: each job's latest successful local date and
its latest failure since then. They are read once at start-up (`ScheduleState`) and then kept
current from each `JobOutcome`, so no step touches the database. `Scheduler.due` is the one step
(which jobs now, and how long to sleep); `Scheduler.run` is the loop the daemon runs, and the
tests drive that same loop with a fake clock and a wait that moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import NamedTuple

from prescientd.clock import Clock
from prescientd.config import Config
from prescientd.core import schedule
from prescientd.models import JOB_CANCELLED_ERROR, JobOutcome

SCHEDULED_JOBS = ("morning", "evening")
MAX_SLEEP_S = 30.0  # re-check the wall clock at least this often (clock jumps, DST)
MIN_SLEEP_S = 0.05  # never spin, even when a job is due again at once


@dataclass
class ScheduleState:
    """What the schedule remembers of the job history (per job name)."""

    last_ok: dict[str, date] = field(default_factory=dict)
    failed_at: dict[str, datetime] = field(default_factory=dict)

    def record(self, outcome: JobOutcome) -> None:
        """Fold one job's outcome in, as the job-history query would see it afterwards."""
        if outcome.ok:
            day = date.fromisoformat(outcome.local_date)
            known = self.last_ok.get(outcome.job)
            self.last_ok[outcome.job] = day if known is None else max(known, day)
            self.failed_at.pop(outcome.job, None)  # only failures after the last success count
        elif outcome.error != JOB_CANCELLED_ERROR:  # cut short by a stop: nothing to retry
            failed = self.failed_at.get(outcome.job)
            moment = outcome.finished_at
            self.failed_at[outcome.job] = moment if failed is None else max(failed, moment)


class Step(NamedTuple):
    """One scheduling decision: the jobs to run now, then how long to sleep at most."""

    jobs: list[str]
    wake_s: float


RunJob = Callable[[str], Awaitable[JobOutcome]]
Wait = Callable[[float], Awaitable[None]]


class Scheduler:
    """Owns the schedule state; decides what is due from the injected clock, never the database.

    :param clock: wall time for the daily slots, monotonic time for interval jobs.
    :param get_config: the current config (a reload swaps it; the next step sees it).
    :param state: the job history read at start-up.
    :param started_at: the process start; slots before it are skipped when catch-up is off.
    :param max_sleep_s: the longest sleep, so a wall-clock jump is noticed this soon.
    """

    def __init__(
        self,
        clock: Clock,
        get_config: Callable[[], Config],
        state: ScheduleState,
        *,
        started_at: datetime | None = None,
        max_sleep_s: float = MAX_SLEEP_S,
    ) -> None:
        self._clock = clock
        self._get_config = get_config
        self.state = state
        self.started_at = started_at if started_at is not None else clock.now()
        self.max_sleep_s = max_sleep_s
        self._interval_started: dict[str, float] = {}  # monotonic start of each interval job

    def record(self, outcome: JobOutcome) -> None:
        """Keep the state current with a job's outcome (whoever ran the job)."""
        self.state.record(outcome)

    def next_attempt(self, outcome: JobOutcome) -> datetime | None:
        """When this loop will run outcome's job again once it has recorded outcome (UTC).

        A failed daily job: the end of its back-off (`job_retry_s`) or the next slot; a job run
        every N seconds: one interval after this run began. None for a job it does not run.
        """
        every_s, daily = self._plan()
        now = self._clock.now()
        if outcome.job in every_s:
            mono = self._clock.monotonic()
            started = self._interval_started.get(outcome.job, mono)
            return now + timedelta(seconds=max(0.0, started + every_s[outcome.job] - mono))
        if outcome.job not in daily:
            return None
        state = ScheduleState(dict(self.state.last_ok), dict(self.state.failed_at))
        state.record(outcome)
        config = self._get_config()
        cfg = config.schedule
        return schedule.next_daily_run(
            now,
            config.tz,
            daily[outcome.job],
            state.last_ok.get(outcome.job),
            state.failed_at.get(outcome.job),
            cfg.job_retry_s,
            None if cfg.startup_catch_up else self.started_at,
        )

    def _plan(self) -> tuple[dict[str, float], dict[str, dt_time]]:
        """Which jobs run every N seconds and which once a day at a local time."""
        cfg = self._get_config().schedule
        every_s: dict[str, float] = {}
        daily: dict[str, dt_time] = {}
        for name, every, at in (
            ("morning", cfg.morning_every_s, cfg.morning_time),
            ("evening", cfg.evening_every_s, cfg.evening_time),
        ):
            if every > 0:
                every_s[name] = every
            else:
                daily[name] = at
        return every_s, daily

    def due(self, now: datetime) -> Step:
        """The jobs due at now (interval jobs first, then daily ones in slot order) and the
        seconds until the next one may become due, within [MIN_SLEEP_S, max_sleep_s]."""
        config = self._get_config()
        cfg = config.schedule
        every_s, daily = self._plan()
        mono = self._clock.monotonic()
        jobs: list[str] = []
        waits: list[float] = []
        for name, every in every_s.items():
            started = self._interval_started.get(name)
            if started is None or mono - started >= every:
                jobs.append(name)
            waits.append(max(0.0, (started if started is not None else 0.0) + every - mono))
        if daily:
            last_ok = self.state.last_ok
            failed = self.state.failed_at
            earliest = None if cfg.startup_catch_up else self.started_at
            jobs += schedule.due_jobs(
                now, config.tz, daily, last_ok, failed, cfg.job_retry_s, earliest
            )
            wake = schedule.next_wakeup(now, config.tz, daily, last_ok, failed, cfg.job_retry_s)
            waits.append(max(0.0, (wake - now).total_seconds()))
        wake_s = max(MIN_SLEEP_S, min(waits)) if waits else self.max_sleep_s
        return Step(jobs, min(wake_s, self.max_sleep_s))

    async def run(
        self,
        run_job: RunJob,
        wait: Wait,
        stop: asyncio.Event,
        on_pass: Callable[[], None] | None = None,
    ) -> None:
        """Until stop: run what is due, record each outcome, call on_pass, sleep via wait.

        Interval jobs run one interval after the loop starts, like a timer. After a pass that ran
        jobs the sleep is planned again from their outcomes (a failure sets a retry time).
        """
        begun = self._clock.monotonic()
        for name in SCHEDULED_JOBS:
            self._interval_started.setdefault(name, begun)
        while not stop.is_set():
            step = self.due(self._clock.now())
            for name in step.jobs:
                if stop.is_set():
                    break
                self._interval_started[name] = self._clock.monotonic()
                self.record(await run_job(name))
            if on_pass is not None:
                on_pass()
            if stop.is_set():
                break
            if step.jobs:
                step = self.due(self._clock.now())
            await wait(step.wake_s)
