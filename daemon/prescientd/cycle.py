"""The brief's full cycle on request (POST /api/v1/cycle): morning, then poll, in the job queue.

A request only sets a flag; the daemon's cycle loop then takes the same job lock as the scheduler
and the poller and runs both jobs under it, so a cycle requested while a job runs waits its turn,
jobs never overlap and no other job slips between the morning and its poll. Requests made before
a queued cycle gets the lock coalesce into it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from prescientd.models import JobOutcome

log = structlog.get_logger(__name__)

CYCLE_JOBS = ("morning", "poll")


class CycleQueue:
    """Queued full cycles and the loop that runs them.

    :param job_lock: the daemon's job lock.
    :param run_locked: runs one job (the caller holds job_lock) and returns its outcome.
    :param record: told each outcome (the scheduler keeps its state current with it).
    :param running_job: the job holding the lock now, if any (reported to the requester).
    """

    def __init__(
        self,
        job_lock: asyncio.Lock,
        run_locked: Callable[[str], Awaitable[JobOutcome]],
        record: Callable[[JobOutcome], None],
        running_job: Callable[[], str | None],
    ) -> None:
        self._job_lock = job_lock
        self._run_locked = run_locked
        self._record = record
        self._running_job = running_job
        self._wanted = asyncio.Event()

    def request(self) -> dict[str, Any]:
        """Queue a cycle; returns what was queued and what it waits for."""
        already = self._wanted.is_set()
        self._wanted.set()
        waiting_for = self._running_job()
        log.info("cycle_queued", already_queued=already, waiting_for=waiting_for)
        return {
            "queued": True,
            "jobs": list(CYCLE_JOBS),
            "already_queued": already,
            "waiting_for": waiting_for,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Until stop: run each queued cycle (no poll after a failed morning)."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                wanted = asyncio.ensure_future(self._wanted.wait())
                await asyncio.wait({stopped, wanted}, return_when=asyncio.FIRST_COMPLETED)
                wanted.cancel()
                if stop.is_set():
                    break
                async with self._job_lock:
                    self._wanted.clear()
                    for name in CYCLE_JOBS:
                        if stop.is_set():
                            break
                        outcome = await self._run_locked(name)
                        self._record(outcome)
                        if not outcome.ok:
                            break
        finally:
            stopped.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopped
