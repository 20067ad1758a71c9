"""What is wrong, and how badly: the rules behind `status` warnings and `status --check`.

Pure: facts and `now` in, alerts out. Critical means nobody is keeping the paper account current
(or its database cannot be used); warning means it is being kept current but something needs a
look. The rules, as the README lists them:

critical
  daemon_down        no process holds the writer lock, yet a job finished within the last 24 h
                     (it was running and stopped or crashed)
  prices_very_stale  the last successful poll is older than 3x the price age limit
  database_missing / database_unreadable   (decided before any fact can be read: status.py)
warning
  daemon_not_running no process holds the writer lock and nothing ran in the last 24 h
  daemon_unknown     the lock file cannot be read, so whether it runs is unknown
  no_poll_yet        no price poll has completed yet
  prices_stale       the last successful poll is older than the price age limit
  positions_stale    prices are fresh but some open positions are valued on stale/vanished books
  job_failed         a job's latest run failed (not one cut short by a stop)
  job_overdue        the daemon runs but a job has been due for over 30 min without finishing
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

RECENT_ACTIVITY_S = 86_400.0  # a daemon that ran a job within this is expected to be running
CRITICAL_STALENESS_FACTOR = 3  # prices older than this many times the limit are critical
OVERDUE_GRACE_S = 1_800.0  # a big morning under rate limits may legitimately take this long
MAX_ERROR_CHARS = 200


class Severity(StrEnum):
    """How bad a problem is; `--check` exits 1 for a warning and 2 for a critical one."""

    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One problem: its severity, a stable code for scripts and a one-line message."""

    severity: Severity
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class JobFacts:
    """A job's latest run and when it runs next (None when the daemon is not running)."""

    name: str
    ok: bool | None  # None: never ran
    finished_at: datetime | None
    error: str | None
    cancelled: bool  # cut short by a stop: nothing to retry, no failure
    next_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What the rules look at."""

    running: bool | None  # None: the lock file could not be read
    lock_error: str | None
    stale_lock_pid: int | None  # a lock file names this pid, but nothing holds the lock
    last_activity_at: datetime | None  # the latest job run's finish
    last_poll_at: datetime | None
    max_price_age_s: float
    jobs: Sequence[JobFacts]
    stale_positions: int  # open positions valued on a stale or vanished book


def duration_text(seconds: float) -> str:
    """A duration for people: '45s', '2m 10s', '3h 5m', '2d 4h'."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    if total < 86_400:
        hours, rest = divmod(total, 3600)
        return f"{hours}h {rest // 60}m" if rest // 60 else f"{hours}h"
    days, rest = divmod(total, 86_400)
    return f"{days}d {rest // 3600}h" if rest // 3600 else f"{days}d"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ERROR_CHARS else flat[: MAX_ERROR_CHARS - 1] + "…"


def _daemon_alerts(facts: StatusFacts, now: datetime) -> list[Alert]:
    if facts.running is None:
        reason = facts.lock_error or "lock file unreadable"
        return [Alert(Severity.WARNING, "daemon_unknown", f"cannot tell whether it runs: {reason}")]
    if facts.running:
        return []
    lock = f"; stale lock from pid {facts.stale_lock_pid}" if facts.stale_lock_pid else ""
    if facts.last_activity_at is None:
        return [
            Alert(
                Severity.WARNING,
                "daemon_not_running",
                f"prescientd is not running and no job has run yet{lock}",
            )
        ]
    idle_s = (now - facts.last_activity_at).total_seconds()
    if idle_s <= RECENT_ACTIVITY_S:
        return [
            Alert(
                Severity.CRITICAL,
                "daemon_down",
                f"prescientd is not running: its last job finished {duration_text(idle_s)} ago"
                f"{lock}",
            )
        ]
    return [
        Alert(
            Severity.WARNING,
            "daemon_not_running",
            f"prescientd is not running (last job {duration_text(idle_s)} ago){lock}",
        )
    ]


def _price_alerts(facts: StatusFacts, now: datetime) -> list[Alert]:
    limit_s = facts.max_price_age_s
    if facts.last_poll_at is None:
        return [Alert(Severity.WARNING, "no_poll_yet", "no price poll has completed yet")]
    age_s = (now - facts.last_poll_at).total_seconds()
    if age_s > CRITICAL_STALENESS_FACTOR * limit_s:
        return [
            Alert(
                Severity.CRITICAL,
                "prices_very_stale",
                f"prices are {duration_text(age_s)} old, over {CRITICAL_STALENESS_FACTOR}x the"
                f" {duration_text(limit_s)} limit: nothing is traded and the marks are old",
            )
        ]
    if age_s > limit_s:
        return [
            Alert(
                Severity.WARNING,
                "prices_stale",
                f"prices are {duration_text(age_s)} old (stale after {duration_text(limit_s)})",
            )
        ]
    if facts.stale_positions:
        return [
            Alert(
                Severity.WARNING,
                "positions_stale",
                f"{facts.stale_positions} open position(s) valued on a stale or vanished book",
            )
        ]
    return []


def _job_alerts(facts: StatusFacts, now: datetime) -> list[Alert]:
    alerts = []
    for job in facts.jobs:
        if job.ok is False and not job.cancelled and job.finished_at is not None:
            when = ""
            if job.next_run_at is not None:
                wait_s = (job.next_run_at - now).total_seconds()
                when = "; next attempt " + (
                    f"in {duration_text(wait_s)}" if wait_s > 0 else "due now"
                )
            age = duration_text((now - job.finished_at).total_seconds())
            error = _one_line(job.error or "no error recorded")
            alerts.append(
                Alert(
                    Severity.WARNING,
                    "job_failed",
                    f"last {job.name} run failed {age} ago: {error}{when}",
                )
            )
        if facts.running and job.next_run_at is not None:
            late_s = (now - job.next_run_at).total_seconds()
            if late_s > OVERDUE_GRACE_S:
                alerts.append(
                    Alert(
                        Severity.WARNING,
                        "job_overdue",
                        f"{job.name} has been due for {duration_text(late_s)} without finishing",
                    )
                )
    return alerts


def assess(facts: StatusFacts, now: datetime) -> list[Alert]:
    """Every problem the facts show, critical ones first."""
    alerts = _daemon_alerts(facts, now) + _price_alerts(facts, now) + _job_alerts(facts, now)
    return sorted(alerts, key=lambda a: a.severity != Severity.CRITICAL)


def overall(severities: Sequence[str]) -> str:
    """'critical' if any problem is, else 'warning' if there is any, else 'ok'."""
    if Severity.CRITICAL in severities:
        return "critical"
    return "warning" if severities else "ok"
