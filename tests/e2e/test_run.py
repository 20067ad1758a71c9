"""`prescientd run` as a subprocess against the simulator: files, SIGTERM and SIGHUP."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import (
    EXPORT_CSVS,
    FIXED_JSON,
    REPORT_CSVS,
    STOP_LIMIT_S,
    DaemonProcess,
    Setup,
    SimProcess,
    db_query,
    integrity_check,
    launch_daemon,
    launch_sim,
    make_setup,
    read_csv,
    read_json,
    stop_process,
    temp_files,
    today_local,
    wait_until,
)

SetupFactory = Callable[..., Setup]
DaemonFactory = Callable[[Setup], DaemonProcess]


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _json_line(line: str) -> dict[str, Any]:
    parsed = json.loads(line)
    assert isinstance(parsed, dict), line
    return parsed


def _design_files(setup: Setup, day: str) -> list[Path]:
    """Every file DESIGN.md §3 lists, for local date `day`."""
    data = setup.data_dir
    return [
        *(data / name for name in FIXED_JSON),
        *(data / "exports" / name for name in (*EXPORT_CSVS, *REPORT_CSVS)),
        data / "markets" / f"daily_prices_{day}.json",
        data / "history" / f"signals_archive_{day[:7]}.json",
        setup.logs_dir / f"trading_log_{day}.txt",
        setup.db_path,
    ]


@pytest.mark.e2e
def test_run_writes_every_file(
    sim: SimProcess, setup_factory: SetupFactory, daemon_factory: DaemonFactory
) -> None:
    """`run` writes every DESIGN §3 file (valid JSON/CSV), then SIGTERM exits 0 with a sound db."""
    setup = setup_factory(sim.url, schedule={"morning_every_s": 60, "evening_every_s": 3})
    daemon = daemon_factory(setup)

    def ready() -> bool:
        # The second evening runs after at least one poll, so the dated files hold prices.
        evenings = daemon.events("job_finished", job="evening", outcome="ok")
        polls = daemon.events("job_finished", job="poll", outcome="ok")
        return (
            len(evenings) >= 2
            and len(polls) >= 1
            and all(p.exists() for p in _design_files(setup, today_local()))
        )

    wait_until(ready, 40, "every DESIGN §3 file and an evening after a poll")
    # while it runs: status reads the database, a second writer is refused by the lock
    status = setup.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["trade_count"] >= 1
    # status tells the running daemon from its lock: its pid, and when it polls next
    assert report["daemon"]["running"] is True and report["daemon"]["kind"] == "daemon"
    assert report["daemon"]["pid"] == daemon.pid
    assert report["jobs"]["poll"]["next_run_at"] is not None
    refused = setup.cli("once", "poll")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "another prescientd" in refused.stderr
    code, took_s = daemon.terminate_and_wait()
    assert code == 0, daemon.stderr_path.read_text()
    assert took_s < STOP_LIMIT_S
    # stopped right after working: critical for monitoring
    check = setup.cli("status", "--check")
    assert check.returncode == 2, check.stdout + check.stderr
    assert check.stdout.startswith("CRITICAL daemon_down: prescientd is not running")

    day = today_local()
    for path in _design_files(setup, day):
        assert path.is_file(), f"missing {path}"
        if path.suffix == ".json":
            read_json(path)
        elif path.suffix == ".csv":
            header, _ = read_csv(path)
            assert header, f"{path.name} has no header row"
    data = setup.data_dir
    assert read_json(data / "events/filtered_events.json")
    assert read_json(data / "markets/market_cache.json")["tokens"]
    trades = read_json(data / "trades/paper_trades.json")
    assert trades and all(t["kind"] == "trade" for t in trades)
    assert read_json(data / "trades/portfolio.json")["trade_count"] == len(trades)
    assert read_json(data / f"markets/daily_prices_{day}.json")["tokens"]
    assert read_json(data / f"history/signals_archive_{day[:7]}.json")
    assert [e["date"] for e in read_json(data / "history/portfolio_history.json")] == [day]
    _, trade_rows = read_csv(data / "exports/trades_summary.csv")
    assert len(trade_rows) == len(trades)

    log_lines = (setup.logs_dir / f"trading_log_{day}.txt").read_text().splitlines()
    logged = [_json_line(line) for line in log_lines]
    assert logged[0]["event"] == "database_created"  # a fresh install says so first
    assert logged[-1]["event"] == "stopped"
    assert integrity_check(setup.db_path) == "ok"
    assert temp_files(setup.root) == []


@dataclass(frozen=True)
class SlowPollStop:
    """What happened when SIGTERM reached a daemon reading a slow /books body."""

    daemon: DaemonProcess
    setup: Setup
    code: int
    took_s: float
    polls_before: int
    """Poll job_finished lines logged when SIGTERM was sent (the slow poll not among them)."""


def _stop_during_slow_poll(workdir: Path, delay_s: float) -> Iterator[SlowPollStop]:
    """Run a daemon, slow every /books body down by delay_s per chunk, SIGTERM mid-body."""
    sim = launch_sim(workdir, seed=21, events=60)
    daemon: DaemonProcess | None = None
    try:
        setup = make_setup(workdir / "site", sim.url)
        daemon = launch_daemon(setup, workdir)
        daemon.wait_for("job_finished", 30, job="poll", outcome="ok")
        sim.call("POST", "/_sim/requests/clear")
        slow = {"count": None, "route": "clob", "path_prefix": "/books", "delay_s": delay_s}
        sim.set_faults({"slow_body": slow})

        def streaming() -> bool:
            return any(r["path"] == "/books" and r["fault"] == "slow_body" for r in sim.requests())

        wait_until(streaming, 15, "a poll reading a slow /books body")
        polls_before = len(daemon.events("job_finished", job="poll"))
        code, took_s = daemon.terminate_and_wait()
        yield SlowPollStop(daemon, setup, code, took_s, polls_before)
    finally:
        if daemon is not None:
            daemon.kill()
        stop_process(sim.proc)


@pytest.fixture(scope="module")
def slow_poll_finishes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowPollStop]:
    """SIGTERM during a poll whose body takes ~3-4 s: the poll finishes within the grace."""
    yield from _stop_during_slow_poll(tmp_path_factory.mktemp("slow-finishes"), 0.04)


@pytest.fixture(scope="module")
def slow_poll_cancelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowPollStop]:
    """SIGTERM during a poll whose body takes ~30 s: the grace runs out, the poll is cancelled."""
    yield from _stop_during_slow_poll(tmp_path_factory.mktemp("slow-cancelled"), 0.5)


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", ["slow_poll_finishes", "slow_poll_cancelled"])
def test_sigterm_mid_poll_exits_cleanly(request: pytest.FixtureRequest, scenario: str) -> None:
    """SIGTERM while a poll streams a slow /books body: exit 0 within 10 s, db sound, `stopped`."""
    run: SlowPollStop = request.getfixturevalue(scenario)
    assert run.code == 0, run.daemon.stderr_path.read_text()
    assert run.took_s < STOP_LIMIT_S
    assert run.daemon.events("stopped")
    assert integrity_check(run.setup.db_path) == "ok"
    assert temp_files(run.setup.root) == []
    polls = db_query(
        run.setup.db_path, "SELECT outcome, error FROM job_runs WHERE job = 'poll' ORDER BY id"
    )
    logged = run.daemon.events("job_finished", job="poll")
    if scenario == "slow_poll_finishes":
        # The in-flight poll was allowed to finish: its summary line and its row say ok.
        assert len(logged) == run.polls_before + 1
        assert logged[-1]["outcome"] == "ok"
        stop_at = _parse_ts(run.daemon.events("stop_requested")[0]["ts"])
        assert _parse_ts(logged[-1]["ts"]) > stop_at, "SIGTERM did not land mid-poll"
        assert (polls[-1]["outcome"], polls[-1]["error"]) == ("ok", None)
    else:
        assert run.daemon.events("cancelling_at_shutdown")
        assert (polls[-1]["outcome"], polls[-1]["error"]) == ("failed", "cancelled at shutdown")
    assert len(polls) == run.polls_before + 1


@pytest.mark.e2e
def test_cancelled_poll_logs_job_finished(slow_poll_cancelled: SlowPollStop) -> None:
    """A poll cut short at shutdown still logs its one job_finished line, outcome failed."""
    run = slow_poll_cancelled
    logged = run.daemon.events("job_finished", job="poll")
    assert len(logged) == run.polls_before + 1
    assert logged[-1]["outcome"] == "failed"
    assert logged[-1]["error"] == "cancelled at shutdown"


def _signals_at(path: Path, version: int) -> dict[str, Any] | None:
    payload: dict[str, Any] = read_json(path)
    return payload if payload.get("config_version") == version else None


@pytest.mark.e2e
def test_sighup_reload(
    sim: SimProcess, setup_factory: SetupFactory, daemon_factory: DaemonFactory
) -> None:
    """SIGHUP applies a new threshold at a job boundary, rejects an invalid one, coalesces HUPs."""
    setup = setup_factory(sim.url, strategy={"threshold": 0.5})
    signals_path = setup.data_dir / "trades/current_signals.json"
    daemon = daemon_factory(setup)
    first = daemon.wait_for("job_finished", 30, job="poll", outcome="ok")
    v1 = first["config_version"]

    # 1. a valid change
    setup.write(strategy={"threshold": 0.7})
    daemon.send(signal.SIGHUP)
    reloaded = daemon.wait_for("config_reloaded", 15)
    v2 = reloaded["config_version"]
    assert v2 > v1
    assert reloaded["changed"] == {"strategy.threshold": ["0.5", "0.7"]}
    current = wait_until(lambda: _signals_at(signals_path, v2), 15, f"signals at config v{v2}")
    assert current["signals"], "no market above 0.7 in the simulator: the check would be empty"
    for s in current["signals"]:
        assert s["config_version"] == v2
        assert s["threshold"] == 0.7
        assert s["yes_price"] > 0.7, s
    poll = daemon.wait_for("job_finished", 15, job="poll", config_version=v2)
    assert poll["outcome"] == "ok"

    # 2. an invalid value is rejected, the old config stays
    setup.write(strategy={"threshold": 7})
    daemon.send(signal.SIGHUP)
    rejected = daemon.wait_for("config_reload_rejected", 15)
    assert rejected["key"] == "strategy.threshold"
    assert rejected["config_version"] == v2
    assert daemon.alive()
    rejected_at = _parse_ts(rejected["ts"])
    n_polls = len(daemon.events("job_finished", job="poll"))
    later = daemon.wait_for("job_finished", 15, job="poll", count=n_polls + 1)
    assert later["config_version"] == v2 and later["outcome"] == "ok"

    def signals_after_rejection() -> dict[str, Any] | None:
        payload: dict[str, Any] = read_json(signals_path)
        at = payload.get("evaluated_at")
        return payload if at and _parse_ts(at) > rejected_at else None

    after = wait_until(signals_after_rejection, 15, "an evaluation after the rejected reload")
    assert after["config_version"] == v2
    assert all(s["threshold"] == 0.7 for s in after["signals"])

    # 3. a burst of HUPs for one change makes one new version; the others find nothing to do
    setup.write(strategy={"threshold": 0.6})
    for _ in range(5):
        daemon.send(signal.SIGHUP)
        time.sleep(0.01)
    third = daemon.wait_for("config_reloaded", 15, count=2)
    v3 = third["config_version"]
    assert v3 > v2
    n_polls = len(daemon.events("job_finished", job="poll"))
    daemon.wait_for("job_finished", 15, job="poll", count=n_polls + 1)
    assert daemon.alive()
    assert len(daemon.events("config_reloaded")) == 2
    assert len(daemon.events("config_reload_unchanged")) <= 4
    assert {line["config_version"] for line in daemon.events("job_finished", job="poll")} <= {
        v1,
        v2,
        v3,
    }
    wait_until(lambda: _signals_at(signals_path, v3), 15, f"signals at config v{v3}")

    code, _ = daemon.terminate_and_wait()
    assert code == 0
    assert integrity_check(setup.db_path) == "ok"
