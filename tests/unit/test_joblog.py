"""How a job's end is logged: its level, what makes it degraded, when it runs again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from prescientd import joblog
from prescientd.models import JOB_CANCELLED_ERROR, JobOutcome

FINISHED = datetime(2026, 12, 3, 23, 0, 5, tzinfo=UTC)


def outcome(job: str = "poll", error: str | None = None, **counts: Any) -> JobOutcome:
    """A job outcome finished at FINISHED."""
    return JobOutcome(
        run_id="r1",
        job=job,
        local_date="2026-12-03",
        started_at=FINISHED - timedelta(seconds=2),
        finished_at=FINISHED,
        ok=error is None,
        config_version=3,
        counts=counts,
        error=error,
    )


@pytest.mark.parametrize(
    ("job", "counts", "reasons"),
    [
        ("poll", {"missing": 4, "settlement_pending": 2, "rejected": 0}, []),  # lifecycle only
        ("poll", {"rejected": 2}, ["rejected"]),
        ("poll", {"held_books_missing": 1, "missing": 2}, ["held_books_missing"]),
        (
            "poll",
            {"settlement_checks_failed": 3, "rejected": 1},
            ["rejected", "settlement_checks_failed"],
        ),
        ("poll", {"rejected": True}, []),  # a flag is not a count
        ("morning", {"items_skipped": 5, "events_eligible": 0}, ["items_skipped"]),
        ("morning", {"items_skipped": 0}, []),
        ("evening", {"snapshot_added": False}, []),
        ("unknown", {"rejected": 9}, []),
    ],
)
def test_degraded_reasons(job: str, counts: dict[str, Any], reasons: list[str]) -> None:
    """Only the job's DEGRADING counts above zero make it degraded, in a fixed order."""
    assert joblog.degraded_reasons(job, counts) == reasons


@pytest.mark.parametrize(
    ("error", "degraded", "level"),
    [
        (None, [], "info"),
        (None, ["rejected"], "warning"),
        ("POST /books failed after 5 attempts: HTTP 503", [], "error"),
        (JOB_CANCELLED_ERROR, [], "warning"),
    ],
)
def test_finished_level(error: str | None, degraded: list[str], level: str) -> None:
    """error for a failure, warning for degraded or cut short by a stop, info otherwise."""
    assert joblog.finished_level(outcome(error=error), degraded) == level


def test_a_failed_job_logs_at_error_with_its_next_attempt() -> None:
    """The failure's line is at error and says when the job runs again."""
    failed = outcome(job="evening", error="database: disk I/O error", snapshot_added=False)
    with capture_logs() as logs:
        joblog.log_job_finished(
            failed, duration_s=0.12345, next_attempt_at=FINISHED + timedelta(seconds=300)
        )
    (line,) = logs
    assert line["event"] == "job_finished" and line["log_level"] == "error"
    assert (line["outcome"], line["error"]) == ("failed", "database: disk I/O error")
    assert line["next_attempt_at"] == "2026-12-03T23:05:05.000000Z"
    assert line["retry_in_s"] == 300.0
    assert line["duration_s"] == 0.123 and line["config_version"] == 3
    assert "degraded" not in line


def test_a_degraded_poll_logs_at_warning_with_its_reasons() -> None:
    """A completed poll with a rejected book: warning, outcome ok, the reasons and the counts."""
    with capture_logs() as logs:
        joblog.log_job_finished(
            outcome(rejected=2, missing=1), duration_s=1.0, next_attempt_at=None
        )
    (line,) = logs
    assert line["log_level"] == "warning" and line["outcome"] == "ok"
    assert line["degraded"] == ["rejected"] and line["rejected"] == 2 and line["missing"] == 1
    assert "next_attempt_at" not in line  # only a failure is retried


def test_a_failure_nothing_retries_says_so() -> None:
    """Cut short by a stop, or a one-off command: next_attempt_at and retry_in_s are null."""
    with capture_logs() as logs:
        joblog.log_job_finished(
            outcome(error=JOB_CANCELLED_ERROR), duration_s=0.5, next_attempt_at=None
        )
    (line,) = logs
    assert line["log_level"] == "warning"
    assert line["next_attempt_at"] is None and line["retry_in_s"] is None


async def test_tally_counts_across_the_tasks_of_one_run_only() -> None:
    """Counts made in tasks a run starts reach its tally; outside a run tally is a no-op."""
    joblog.tally("settlement_checks_failed")  # no run: nothing to count into, no error

    async def fail_once() -> None:
        joblog.tally("settlement_checks_failed")

    with joblog.tallying() as counts:
        async with asyncio.TaskGroup() as group:
            for _ in range(3):
                group.create_task(fail_once())
        joblog.tally("other", 0)
    assert dict(counts) == {"settlement_checks_failed": 3}
    with joblog.tallying() as second:
        pass
    assert not second
