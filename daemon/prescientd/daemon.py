"""The composition root: one process, one task group, clean signals.

Tasks: the scheduler (morning/evening at local times, DST-safe, catch-up once at start-up), the
poller (drift-corrected), the debounced mirror writer, the reload handler, the cycle queue (the
HTTP run-full-cycle), the watchdog and, with `[stream] enabled`, the streaming task (streamer.py;
its watch set is refreshed after every poll and reload); around them the operator's window (web/)
serves the API, dashboard and metrics in the same event loop. Jobs that write share one lock, so
they never overlap and a reload happens only between jobs (the stream's evaluations share only the
store's trade lock with the polls: trade_guard.py); the morning fetches and filters the universe
outside it (polls keep running on the previous eligible set) and holds it only for the one
transaction that swaps the new set in. SIGTERM/SIGINT end the event streams, stop taking new work,
let the running job finish (a transaction is never cut), stop the listener, close the store and
the HTTP session and exit 0.

Durations from the config and the schedule are clock seconds; every wait converts them with
`clock.real_seconds` (the demo's clock runs faster than real time). The stop grace, the systemd
watchdog's ping interval and everything HTTP stay real seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from prescientd import jobs
from prescientd.clock import Clock, clock_seconds, iso_utc
from prescientd.config import Config, ConfigError, load_config
from prescientd.core import schedule
from prescientd.cycle import CycleQueue
from prescientd.jobs import JobContext, run_job
from prescientd.logs import configure_logging
from prescientd.mirrors.build import Mirror, MirrorBuilder
from prescientd.models import JobOutcome
from prescientd.notify import Notifier
from prescientd.reload import merge_reload, reload_refusal
from prescientd.runtime import (
    Clients,
    Session,
    make_context,
    record_config_version,
    start_session,
)
from prescientd.scheduler import MAX_SLEEP_S, SCHEDULED_JOBS, Scheduler, ScheduleState
from prescientd.store.db import Store, StoreError
from prescientd.streamer import Streamer
from prescientd.web.reads import StoreReads
from prescientd.web.server import Listening
from prescientd.web.window import DaemonControl, OperatorWindow

log = structlog.get_logger(__name__)

STOP_GRACE_S = 6.0  # then a running job's HTTP work is cancelled; exit well within 10 s


@dataclass
class Progress:
    """When each loop last made real progress; the watchdog pings only while all of them do."""

    clock: Clock
    limits_s: dict[str, float] = field(default_factory=dict)
    beats: dict[str, float] = field(default_factory=dict)

    def beat(self, loop: str) -> None:
        """Record that loop completed an iteration (on the clock's monotonic time)."""
        self.beats[loop] = self.clock.monotonic()

    def start(self, now: float) -> None:
        """Count start-up as a beat of every loop, so a first job that hangs is noticed too."""
        for name in self.limits_s:
            self.beats.setdefault(name, now)

    def healthy(self, now: float) -> bool:
        """True when every loop beat within its limit."""
        return not self.stalled(now)

    def stalled(self, now: float) -> list[str]:
        """One line per loop that has not beaten within its limit."""
        return [
            f"watchdog: the {name} loop has not completed an iteration for"
            f" {now - self.beats[name]:.0f} s (limit {limit:g} s)"
            for name, limit in self.limits_s.items()
            if now - self.beats.get(name, now) > limit
        ]


class MirrorWriter:
    """Coalesces mirror rebuild requests: many requests within debounce_s become one rebuild."""

    def __init__(
        self,
        store: Store,
        get_config: Callable[[], Config],
        clock: Clock,
        job_lock: asyncio.Lock,
    ) -> None:
        self._store = store
        self._get_config = get_config
        self._clock = clock
        self._job_lock = job_lock
        self._dirty: set[Mirror] = set()
        self._wake = asyncio.Event()

    async def request(self, mirrors: set[Mirror]) -> None:
        """Ask for mirrors to be rebuilt soon."""
        self._dirty |= mirrors
        self._wake.set()

    async def flush(self) -> None:
        """Rebuild everything requested so far, now (between jobs: mirrors see whole jobs)."""
        builder = MirrorBuilder(self._store, self._get_config())
        async with builder.flushing():  # one mirrors_written line
            async with self._job_lock:
                dirty, self._dirty = self._dirty, set()
                self._wake.clear()
                if not dirty:
                    return
                now = self._clock.now()
                try:
                    # groups whose source did not change are skipped
                    await builder.write_many(dirty, now, workbook=False)
                except BaseException:
                    # cancelled mid-rebuild: the final flush redoes it (groups already written
                    # are then skipped as unchanged)
                    self._dirty |= dirty
                    raise
            # from the rows just written, without holding up the next job
            await builder.write_workbook(now)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until stop: wait for a request, let more arrive for debounce_s, rebuild."""
        while not stop.is_set():
            await _wait_any(stop, self._wake, timeout=None)
            if stop.is_set():
                break
            debounce_s = self._clock.real_seconds(self._get_config().mirrors.debounce_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), debounce_s)
            await self.flush()
        await self.flush()


async def _wait_any(*events: asyncio.Event, timeout: float | None) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class Daemon:
    """Owns the lifecycle of `prescientd run`."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        *,
        clock: Clock,
        notifier: Notifier | None = None,
        base_dir: Path | None = None,
        on_listening: Callable[[Listening], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self.base_dir = base_dir or Path.cwd()
        self.config = config
        self.config_version = 0
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.stop = asyncio.Event()
        self.reload_requested = asyncio.Event()
        self.config_changed = asyncio.Event()
        self.poll_config_changed = asyncio.Event()
        self.job_lock = asyncio.Lock()
        self.refresh_lock = asyncio.Lock()  # one morning at a time (it holds job_lock briefly)
        self.progress = Progress(clock)
        self.started_at = clock.now()
        # the job history is loaded into it at start-up; each outcome keeps it current; it
        # re-checks the wall clock every MAX_SLEEP_S real seconds whatever the clock's rate
        self.scheduler = Scheduler(
            clock,
            lambda: self.config,
            ScheduleState(),
            started_at=self.started_at,
            max_sleep_s=clock_seconds(clock, MAX_SLEEP_S),
        )
        self._bootstrapping = False
        self._poll_origin: float | None = None  # the poller's tick grid (clock monotonic)
        self._store: Store | None = None
        self._clients: Clients | None = None
        self._mirrors: MirrorWriter | None = None
        self.streamer: Streamer | None = None
        # [http] is restart-only: the window keeps the settings it started with
        self.window = OperatorWindow(config.http)
        self._on_listening = on_listening
        self._running_job: str | None = None
        self.cycles = CycleQueue(
            self.job_lock, self._run_locked, self.scheduler.record, lambda: self._running_job
        )

    # ------------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Signal handler for SIGTERM/SIGINT."""
        if not self.stop.is_set():
            log.info("stop_requested")
            self.notifier.stopping()
            self.window.stopping()
        self.stop.set()

    def request_reload(self) -> None:
        """Signal handler for SIGHUP (several in a row coalesce into one reload); also what
        POST /api/v1/reload calls."""
        self.reload_requested.set()

    def context(self, *, own_lock: bool = False) -> JobContext:
        """A job context with the current config; own_lock: the job takes the job lock itself,
        around its one swapping write (the morning)."""
        assert self._store is not None and self._clients is not None and self._mirrors is not None
        context = make_context(
            self.config,
            self.config_version,
            self._store,
            self._clients,
            self.clock,
            self._mirrors.request,
            self.window.feed,
            exclusive=(lambda: self.job_lock) if own_lock else contextlib.nullcontext,
        )
        return replace(context, plan_next=self.next_attempt)

    def next_attempt(self, outcome: JobOutcome) -> datetime | None:
        """When the loop that runs outcome's job will run it again (for its job_finished line)."""
        now = self.clock.now()
        if outcome.job == "poll":
            if self._poll_origin is None:
                return None
            mono = self.clock.monotonic()
            interval_s = self.config.schedule.poll_interval_s
            tick = schedule.next_poll(self._poll_origin, interval_s, mono)
            return now + timedelta(seconds=tick - mono)
        if self._bootstrapping and outcome.job == "morning":
            return now + timedelta(seconds=self.config.schedule.job_retry_s)
        return self.scheduler.next_attempt(outcome)

    async def run(self) -> int:
        """Run until stopped; 0 on a clean stop (TokenFileError before anything starts)."""
        token = self.window.load_token(self.base_dir)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            async with start_session(self.config, http_observer=self.window.feed) as session:
                self._store, self._clients = session.store, session.clients
                self._mirrors = MirrorWriter(
                    session.store, lambda: self.config, self.clock, self.job_lock
                )
                metrics = self.window.metrics
                self.streamer = Streamer.open(
                    session.clients.session, self.config.stream, self.context, metrics
                )
                # listening before READY=1: a taken port fails the start, not a running service
                async with self.window.serving(
                    self._reads(session.store), self._control(), token
                ) as listening:
                    await self._start_up(session)
                    if listening is not None and self._on_listening is not None:
                        self._on_listening(listening)
                    code = await self._serve()
                # Leave the mirrors equal to the database: a job cut short at shutdown may have
                # committed trades without getting to ask for them.
                await self._mirrors.request({Mirror.PRICES, Mirror.SIGNALS, Mirror.PORTFOLIO})
                await self._mirrors.flush()
                return code
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("stopped")

    def _reads(self, store: Store) -> StoreReads:
        return StoreReads(
            store,
            lambda: self.config,
            self.clock,
            started_at=self.started_at,
            watchdog_problems=lambda: self.progress.stalled(self.clock.monotonic()),
        )

    def _control(self) -> DaemonControl:
        return DaemonControl(
            queue_cycle=self.cycles.request,
            request_reload=self.request_reload,
            stopping=self.stop.is_set,
        )

    async def _start_up(self, session: Session) -> None:
        store = session.store
        self.config_version = session.config_version
        # the only read of the job history: from here on the outcomes keep the schedule current
        last_ok, failed_at = await store.schedule_history(SCHEDULED_JOBS)
        self.scheduler.state = ScheduleState(last_ok=last_ok, failed_at=failed_at)
        builder = MirrorBuilder(store, self.config)
        # SQLite is the truth: after a crash the mirrors may lag it (or be missing), so every
        # fixed-name mirror is rebuilt before the first job.
        if not await builder.write_fixed(self.clock.now()):
            log.warning("mirrors_incomplete_at_start")
        log.info("mirrors_rebuilt_at_start")
        poll_s = self.config.schedule.poll_interval_s
        await self.window.seed(
            store, self.config_version, self.config.schedule.price_max_age_s, self.clock.now()
        )
        self._set_watchdog_limits()
        self.progress.start(self.clock.monotonic())
        if self.streamer is not None:  # stream what the last run's prices say, before a poll
            await self.streamer.refresh(self.context())
        log.info(
            "started",
            config=str(self.config_path),
            config_version=self.config_version,
            db=str(self.config.paths.db_path),
            poll_interval_s=poll_s,
            timezone=self.config.timezone,
        )
        self.notifier.ready(f"running; config v{self.config_version}")

    async def _serve(self) -> int:
        failure: list[BaseException] = []
        first_pass = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            loops = {
                "scheduler": self._scheduler(first_pass),
                "poller": self._poller(first_pass),
                "mirrors": self._mirror_loop(),
                "reload": self._reload_loop(),
                "cycle": self.cycles.run(self.stop),
                "watchdog": self._watchdog_loop(),
            }
            if self.streamer is not None and self.streamer.enabled:
                loops["stream"] = self.streamer.run(self.stop)
            tasks = [
                group.create_task(self._guard(name, body, failure), name=name)
                for name, body in loops.items()
            ]
            group.create_task(self._stop_after_grace(tasks))
        return 1 if failure else 0

    async def _guard(self, name: str, body: Awaitable[None], failure: list[BaseException]) -> None:
        try:
            await body
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a crashed loop stops the process; systemd restarts it
            log.exception("loop_crashed", loop=name)
            failure.append(exc)
            self.request_stop()

    async def _stop_after_grace(self, tasks: list[asyncio.Task[None]]) -> None:
        await self.stop.wait()
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in pending:
            log.warning("cancelling_at_shutdown", task=task.get_name(), grace_s=STOP_GRACE_S)
            task.cancel()

    def _set_watchdog_limits(self) -> None:
        # A loop is hung when it has not finished an iteration for this long: the longest
        # legitimate gap plus room for a slow job (a big morning under rate limits). The beats
        # are clock seconds: the real-time allowances are converted.
        poll_s = self.config.schedule.poll_interval_s
        self.progress.limits_s = {
            "scheduler": clock_seconds(self.clock, 1800.0),
            "poller": 3 * poll_s + clock_seconds(self.clock, 900.0),
        }

    # ------------------------------------------------------------------------------------------
    async def run_job_now(self, name: str) -> JobOutcome:
        """Run one job; jobs never write at the same time and a reload waits for them.

        Polls and the evening run under the job lock. The morning spends minutes fetching and
        filtering the universe: it runs under the refresh lock (one morning at a time) while polls
        keep going on the previous eligible set, and takes the job lock only for the one
        transaction that swaps the new set in (jobs.morning).
        """
        if name == "morning":
            async with self.refresh_lock:
                return await self._run_locked(name, own_lock=True)
        async with self.job_lock:
            return await self._run_locked(name)

    async def _run_locked(self, name: str, *, own_lock: bool = False) -> JobOutcome:
        """Run one job; the caller holds the job lock (own_lock: the refresh lock, and the job
        takes the job lock itself for its swap)."""
        self.notifier.status(f"running {name}; config v{self.config_version}")
        if not own_lock:  # the job holding the job lock
            self._running_job = name
        try:
            outcome = await run_job(name, self.context(own_lock=own_lock), jobs.JOB_BODIES[name])
            if name == "poll" and self.streamer is not None:
                await self.streamer.refresh(self.context())
        finally:
            if not own_lock:
                self._running_job = None
        self.notifier.status(
            f"{name} {'ok' if outcome.ok else 'FAILED'} at {iso_utc(outcome.finished_at)};"
            f" config v{self.config_version}"
        )
        return outcome

    async def _scheduler(self, first_pass: asyncio.Event) -> None:
        assert self._store is not None
        await self._bootstrap_refresh(self._store)

        def on_pass() -> None:
            first_pass.set()
            self.progress.beat("scheduler")

        await self.scheduler.run(self.run_job_now, self._scheduler_wait, self.stop, on_pass)

    async def _scheduler_wait(self, timeout_s: float) -> None:
        """Sleep until timeout_s (clock seconds), a stop, or a reload (which may move the slots)."""
        timeout = self.clock.real_seconds(timeout_s)
        await _wait_any(self.stop, self.config_changed, timeout=timeout)
        self.config_changed.clear()

    async def _bootstrap_refresh(self, store: Store) -> None:
        """A new database has nothing to poll: refresh at once, whatever the time of day, and
        retry every job_retry_s until one refresh has succeeded (or the daemon stops)."""
        self._bootstrapping = True
        try:
            while not self.stop.is_set() and await store.latest_refresh() is None:
                outcome = await self.run_job_now("morning")
                self.scheduler.record(outcome)
                # both loops are alive: the poller is only waiting for something to poll
                self.progress.beat("scheduler")
                self.progress.beat("poller")
                if outcome.ok:
                    return
                retry_s = self.clock.real_seconds(self.config.schedule.job_retry_s)
                await _wait_any(self.stop, timeout=retry_s)
        finally:
            self._bootstrapping = False

    async def _poller(self, first_pass: asyncio.Event) -> None:
        # Let the scheduler's start-up catch-up (a morning refresh) go first.
        await _wait_any(self.stop, first_pass, timeout=None)
        clock = self.clock
        origin = clock.monotonic()
        self._poll_origin = origin
        while not self.stop.is_set():
            await self.run_job_now("poll")
            self.progress.beat("poller")
            if self.stop.is_set():
                break
            while not self.stop.is_set():
                # re-plan when a reload changes the interval; the origin keeps ticks regular
                interval_s = self.config.schedule.poll_interval_s
                next_at = schedule.next_poll(origin, interval_s, clock.monotonic())
                if next_at <= clock.monotonic():
                    break
                self.poll_config_changed.clear()
                await _wait_any(
                    self.stop,
                    self.poll_config_changed,
                    timeout=clock.real_seconds(max(0.0, next_at - clock.monotonic())),
                )
                if not self.poll_config_changed.is_set():
                    break

    async def _mirror_loop(self) -> None:
        assert self._mirrors is not None
        await self._mirrors.run(self.stop)

    async def _watchdog_loop(self) -> None:
        # systemd's WatchdogSec is real time: the ping interval is not scaled
        interval_s = (self.notifier.watchdog_s or 0) / 2
        if interval_s <= 0:
            return
        while not self.stop.is_set():
            if self.progress.healthy(self.clock.monotonic()):
                self.notifier.watchdog()
            else:
                log.error("watchdog_withheld", beats=self.progress.beats)
            await _wait_any(self.stop, timeout=interval_s)

    # ------------------------------------------------------------------------------------------
    async def _reload_loop(self) -> None:
        while not self.stop.is_set():
            await _wait_any(self.stop, self.reload_requested, timeout=None)
            if self.stop.is_set():
                break
            # Wait for the running job to finish: a reload happens at a job boundary.
            async with self.job_lock:
                self.reload_requested.clear()
                await self.reload()

    async def _read_config(self) -> Config:
        """The config file, read off the event loop (a slow disk must not stall polls; FIFOs
        are refused) and checked against the running config (no reset to all defaults)."""
        fresh = await asyncio.to_thread(load_config, self.config_path)
        fresh = fresh.resolve_paths(self.base_dir)
        refusal = reload_refusal(self.config, fresh)
        if refusal is not None:
            raise refusal
        return fresh

    async def reload(self) -> bool:
        """Re-read and validate the config file; swap it in, or keep the old one on any error."""
        assert self._store is not None
        self.notifier.reloading()
        old_version = self.config_version
        try:
            fresh = await self._read_config()
        except ConfigError as exc:
            log.error(
                "config_reload_rejected",
                key=exc.key,
                error=exc.message,
                config_version=old_version,
                detail=f"{exc.key}: {exc.message}; keeping config v{old_version}",
            )
            self.notifier.ready(f"reload rejected ({exc.key}); keeping config v{old_version}")
            self.window.feed.config_reloaded("rejected", old_version, old_version, [])
            return False
        reload = merge_reload(self.config, fresh)
        merged, applied = reload.config, reload.applied
        if reload.ignored:
            log.warning("config_reload_restart_required", keys=list(reload.ignored))
        if not applied:
            log.info("config_reload_unchanged", config_version=old_version)
            self.notifier.ready(f"running; config v{old_version}")
            self.window.feed.config_reloaded("unchanged", old_version, old_version, [])
            return True
        try:
            new_version = await record_config_version(
                self._store, merged, source="reload", changed_keys=list(applied)
            )
        except (sqlite3.Error, StoreError) as exc:
            # the version could not be recorded: keep the old config; another HUP retries
            log.error(
                "config_reload_rejected",
                key="(database)",
                error=str(exc),
                config_version=old_version,
                detail=f"cannot record the new config version: {exc}; keeping v{old_version}",
            )
            self.notifier.ready(f"reload failed (database); keeping config v{old_version}")
            self.window.feed.config_reloaded("rejected", old_version, old_version, list(applied))
            return False
        self.config = merged
        self.config_version = new_version
        if applied.keys() & {"logging.level", "logging.file"}:
            configure_logging(
                level=merged.logging.level,
                logs_dir=merged.paths.logs_dir if merged.logging.file else None,
                tz=merged.tz,
            )
        log.info(
            "config_reloaded",
            config_version=new_version,
            previous_version=old_version,
            changed={k: [str(old), str(new)] for k, (old, new) in applied.items()},
        )
        for name in reload.added:  # its account opens and it trades from the next poll
            log.info("strategy_added", strategy=name, config_version=new_version)
        for name in reload.retired:  # its positions are still marked and settled
            log.warning("strategy_retired", strategy=name, config_version=new_version)
        self._set_watchdog_limits()
        if self.streamer is not None:  # new thresholds, band or cap: a new watch set now
            await self.streamer.refresh(self.context())
        self.notifier.ready(f"running; config v{new_version}")
        self.window.feed.config_reloaded("applied", new_version, old_version, list(applied))
        self.config_changed.set()
        self.poll_config_changed.set()
        return True
