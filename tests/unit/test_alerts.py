"""The rules behind `status` warnings and `status --check`: what is critical, what a warning."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from prescientd.core.alerts import (
    JobFacts,
    Severity,
    StatusFacts,
    assess,
    duration_text,
    overall,
)
from prescientd.models import JOB_CANCELLED_ERROR

NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
LIMIT_S = 600.0


def ago(seconds: float) -> datetime:
    """A moment that many seconds before NOW."""
    return NOW - timedelta(seconds=seconds)


def job(name: str, ok: bool | None = True, **kw: object) -> JobFacts:
    """A job that finished a minute ago."""
    fields: dict[str, object] = {
        "name": name,
        "ok": ok,
        "finished_at": ago(60) if ok is not None else None,
        "error": None if ok is not False else "boom",
        "cancelled": False,
        "next_run_at": NOW + timedelta(minutes=4),
    }
    fields.update(kw)
    return JobFacts(**fields)  # type: ignore[arg-type]


HEALTHY = StatusFacts(
    running=True,
    lock_error=None,
    stale_lock_pid=None,
    last_activity_at=ago(60),
    last_poll_at=ago(60),
    max_price_age_s=LIMIT_S,
    jobs=[job("morning"), job("poll"), job("evening")],
    stale_positions=0,
)


def codes(facts: StatusFacts) -> list[tuple[str, str]]:
    """(severity, code) of every alert, in order."""
    return [(str(a.severity), a.code) for a in assess(facts, NOW)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({}, [], id="healthy"),
        pytest.param(
            {"running": False, "stale_lock_pid": 4321},
            [("critical", "daemon_down")],
            id="stopped-while-active",
        ),
        pytest.param(
            {"running": False, "last_activity_at": ago(3 * 86_400), "last_poll_at": ago(30)},
            [("warning", "daemon_not_running")],
            id="idle-data-dir",
        ),
        pytest.param(
            {"running": False, "last_activity_at": None, "last_poll_at": None, "jobs": []},
            [("warning", "daemon_not_running"), ("warning", "no_poll_yet")],
            id="never-ran",
        ),
        pytest.param(
            {"running": None, "lock_error": "cannot read x.lock: Permission denied"},
            [("warning", "daemon_unknown")],
            id="lock-unreadable",
        ),
        pytest.param({"last_poll_at": ago(LIMIT_S + 5)}, [("warning", "prices_stale")], id="stale"),
        pytest.param(
            {"last_poll_at": ago(3 * LIMIT_S + 5)},
            [("critical", "prices_very_stale")],
            id="very-stale",
        ),
        pytest.param({"stale_positions": 2}, [("warning", "positions_stale")], id="stale-books"),
        pytest.param(
            # stale books are not repeated when all prices are stale anyway
            {"stale_positions": 2, "last_poll_at": ago(LIMIT_S + 5)},
            [("warning", "prices_stale")],
            id="stale-books-and-prices",
        ),
        pytest.param(
            {"jobs": [job("evening", ok=False)]}, [("warning", "job_failed")], id="job-failed"
        ),
        pytest.param(
            {"jobs": [job("evening", ok=False, error=JOB_CANCELLED_ERROR, cancelled=True)]},
            [],
            id="cancelled-is-no-failure",
        ),
        pytest.param(
            {"jobs": [job("evening", next_run_at=ago(2 * 3600))]},
            [("warning", "job_overdue")],
            id="overdue",
        ),
        pytest.param(
            {"jobs": [job("evening", next_run_at=ago(60))]}, [], id="just-due-is-not-overdue"
        ),
        pytest.param(
            # critical ones come first whatever the rule order
            {
                "running": False,
                "last_poll_at": ago(3 * LIMIT_S + 5),
                "jobs": [job("poll", ok=False, next_run_at=None)],
            },
            [
                ("critical", "daemon_down"),
                ("critical", "prices_very_stale"),
                ("warning", "job_failed"),
            ],
            id="several",
        ),
    ],
)
def test_assess(change: dict[str, object], expected: list[tuple[str, str]]) -> None:
    """Each rule fires on its condition and only then."""
    assert codes(replace(HEALTHY, **change)) == expected  # type: ignore[arg-type]


def test_messages_name_the_figures() -> None:
    """Messages carry the ages, the limit, the pid and the error an operator needs."""
    facts = replace(
        HEALTHY,
        running=False,
        stale_lock_pid=4321,
        last_activity_at=ago(125),
        last_poll_at=ago(700),
        jobs=[job("evening", ok=False, error="database\nis locked", finished_at=ago(3600))],
    )
    text = "\n".join(a.message for a in assess(facts, NOW))
    assert "last job finished 2m 5s ago; stale lock from pid 4321" in text
    assert "prices are 11m 40s old (stale after 10m)" in text
    assert "last evening run failed 1h ago: database is locked" in text


@pytest.mark.parametrize(
    ("severities", "expected"),
    [([], "ok"), (["warning"], "warning"), (["warning", "critical"], "critical")],
)
def test_overall(severities: list[str], expected: str) -> None:
    """The worst severity decides."""
    assert overall(severities) == expected
    assert str(Severity.CRITICAL) == "critical"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (59.6, "1m"),
        (130, "2m 10s"),
        (3600, "1h"),
        (3 * 3600 + 300, "3h 5m"),
        (86_400 * 2 + 3600 * 4, "2d 4h"),
        (-5, "0s"),
    ],
)
def test_duration_text(seconds: float, expected: str) -> None:
    """Durations read as people say them."""
    assert duration_text(seconds) == expected
