"""`prescientd run` stopping (lock files removed, a crash's taken over) and logging its failures
at error with the time of the next attempt."""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess, wait_until

SetupFactory = Callable[..., Setup]
DaemonFactory = Callable[[Setup], DaemonProcess]
DOWN = "http://127.0.0.1:9"  # nothing listens


def lock_files(setup: Setup) -> list[Path]:
    """The writer's two lock files: the data directory's and the database's."""
    return [setup.data_dir / "prescientd.lock", Path(f"{setup.db_path}.lock")]


def status_daemon(setup: Setup) -> dict[str, Any]:
    """The `daemon` part of `status --json`."""
    done = setup.cli("status", "--json")
    assert done.returncode in (0, 1, 2), done.stderr
    daemon: dict[str, Any] = json.loads(done.stdout)["daemon"]
    return daemon


def started_at(line: dict[str, Any]) -> datetime:
    """When the job of a job_finished line began (its timestamp less its duration)."""
    return datetime.fromisoformat(line["ts"]) - timedelta(seconds=line["duration_s"])


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_clean_stop_removes_the_lock_files(
    sig: signal.Signals,
    sim: SimProcess,
    setup_factory: SetupFactory,
    daemon_factory: DaemonFactory,
) -> None:
    """While running both lock files hold the pid; after SIGTERM/SIGINT both are gone and
    `status` says not running, with no stale lock."""
    setup = setup_factory(sim.url)
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, job="poll", outcome="ok")
    assert [p.read_text().strip() for p in lock_files(setup)] == [str(daemon.pid)] * 2
    assert status_daemon(setup)["running"] is True
    daemon.send(sig)
    assert daemon.proc.wait(10) == 0, daemon.stderr_path.read_text()
    assert [p for p in lock_files(setup) if p.exists()] == []
    after = status_daemon(setup)
    assert after["running"] is False
    assert after["stale_lock_pid"] is None and after["pid"] is None


@pytest.mark.e2e
def test_a_crash_leaves_the_lock_and_the_next_start_takes_it_over(
    sim: SimProcess, setup_factory: SetupFactory, daemon_factory: DaemonFactory
) -> None:
    """SIGKILL: the lock files stay with the dead pid (status: stale lock); a new daemon starts
    anyway, writes its own pid, and removes both files when it stops cleanly."""
    setup = setup_factory(sim.url)
    first = daemon_factory(setup)
    first.wait_for("job_finished", 30, job="poll", outcome="ok")
    first.kill()
    assert [p.read_text().strip() for p in lock_files(setup)] == [str(first.pid)] * 2
    crashed = status_daemon(setup)
    assert crashed["running"] is False and crashed["stale_lock_pid"] == first.pid
    second = daemon_factory(setup)
    second.wait_for("job_finished", 30, job="poll", outcome="ok")
    assert [p.read_text().strip() for p in lock_files(setup)] == [str(second.pid)] * 2
    code, _ = second.terminate_and_wait()
    assert code == 0, second.stderr_path.read_text()
    assert [p for p in lock_files(setup) if p.exists()] == []


@pytest.mark.e2e
def test_a_failed_first_refresh_logs_error_and_when_it_runs_again(
    setup_factory: SetupFactory, daemon_factory: DaemonFactory
) -> None:
    """Polymarket unreachable: each failed morning is an error line whose next_attempt_at is
    when the next attempt starts (job_retry_s later)."""
    setup = setup_factory(
        DOWN, polymarket={"max_attempts": 1}, schedule={"job_retry_s": 1, "poll_interval_s": 60}
    )
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, count=3, job="morning")
    lines = daemon.events("job_finished", job="morning")
    for line, following in itertools.pairwise(lines):
        assert (line["level"], line["outcome"]) == ("error", "failed")
        assert line["retry_in_s"] == pytest.approx(1.0, abs=0.05)
        announced = datetime.fromisoformat(line["next_attempt_at"])
        assert abs((started_at(following) - announced).total_seconds()) < 0.5
    code, _ = daemon.terminate_and_wait()
    assert code == 0


@pytest.mark.e2e
def test_a_failed_poll_logs_error_and_the_next_tick(
    sim: SimProcess, setup_factory: SetupFactory, daemon_factory: DaemonFactory
) -> None:
    """The CLOB down for one poll: an error line naming the next tick, when the next poll runs
    (and succeeds, at info)."""
    setup = setup_factory(sim.url, polymarket={"max_attempts": 1})
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, job="poll", outcome="ok")
    sim.set_faults({"books_down": {"count": 1}})
    failed = daemon.wait_for("job_finished", 30, job="poll", outcome="failed")
    assert failed["level"] == "error" and "books" in failed["error"]
    assert 0 < failed["retry_in_s"] <= 2.0  # poll_interval_s
    polls = daemon.events("job_finished", job="poll")
    index = polls.index(failed)
    following = wait_until(
        lambda: daemon.events("job_finished", job="poll")[index + 1 : index + 2],
        30,
        "the poll after the failed one",
    )[0]
    assert following["level"] == "info" and following["outcome"] == "ok"
    announced = datetime.fromisoformat(failed["next_attempt_at"])
    assert abs((started_at(following) - announced).total_seconds()) < 0.5
    code, _ = daemon.terminate_and_wait()
    assert code == 0
