"""`prescientd status` on real SQLite files: the document, the daemon's liveness from its lock
(a real process holding it, or a stale file naming a dead pid), `--check` exit codes through the
CLI, the screen at 80 and 120 columns and the missing-database message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from conftest import make_book, make_intent
from prescientd import liveness
from prescientd.cli import main
from prescientd.config import Config, PricesConfig, load_config
from prescientd.core.prices import quote_from_book
from prescientd.models import JobOutcome, PortfolioSnapshot, SettlementIntent
from prescientd.runtime import LOCK_NAME
from prescientd.status import collect_status
from prescientd.store.db import Store
from prescientd.terminal import cells

POLL_S = 300.0  # the config below: prices are stale after 2 x 300 s
STALE_S = 2 * POLL_S
QUESTIONS = [
    "Will X win the 2026 United States Senate race in Ohio?",
    "Will X win the 2026 United States Senate race in Iowa?",
    "Will Bitcoin be above $100,000 on December 31, 2026 according to Coinbase?",
]
BIDS = ["0.30", "0.45", "0.50"]  # entries at 0.40: P&L -10, +5, +10 per 100 shares


@dataclass
class Setup:
    """A config file and its data directory."""

    config_path: Path
    config: Config

    @property
    def data_dir(self) -> Path:
        """The data directory."""
        return self.config.paths.data_dir

    @property
    def db_path(self) -> Path:
        """The database."""
        return self.config.paths.db_path


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """A config whose paths all lie under tmp_path."""
    path = tmp_path / "prescientd.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            timezone = "America/New_York"
            [paths]
            data_dir = "{tmp_path / "data"}"
            logs_dir = "{tmp_path / "logs"}"
            db_path = "{tmp_path / "data" / "prescient.db"}"
            [schedule]
            poll_interval_s = {POLL_S}
            """
        ),
        encoding="utf-8",
    )
    return Setup(path, load_config(path))


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """cli.main configures logging for the process; put it back for the next test."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


async def _build(
    db_path: Path, now: datetime, jobs: dict[str, tuple[float, str | None]], poll_age_s: float
) -> None:
    """Three open positions, one settled win, five daily snapshots and the given job runs
    (job -> (seconds since it finished, error or None))."""
    store = await Store.open(db_path, starting_balance_usd=Decimal(10000))
    try:
        opened = now - timedelta(days=3)
        intents = [
            replace(make_intent(f"k{i}", market_id=str(i), token_id=f"t{i}"), question=q)
            for i, q in enumerate([*QUESTIONS, "Settled market?"])
        ]
        await store.record_trades(intents, opened)
        settle = SettlementIntent(
            "s3",
            "3",
            "t3",
            "No",
            Decimal(100),
            Decimal(1),
            Decimal(100),
            Decimal(40),
            Decimal(60),
            "No won",
        )
        await store.record_settlements([settle], opened + timedelta(days=1))
        fetched = now - timedelta(seconds=poll_age_s)
        books = {
            f"t{i}": make_book(f"t{i}", [(b, "500")], [("0.60", "500")]) for i, b in enumerate(BIDS)
        }
        await store.record_poll(
            run_id="p1",
            fetched_at=fetched,
            local_date=fetched.date().isoformat(),
            quotes={t: quote_from_book(b, fetched, PricesConfig()) for t, b in books.items()},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=3,
        )
        for days_ago, equity in zip(
            range(6, 1, -1), [10000, 10100, 9595, 9900, 10050], strict=True
        ):
            taken = now - timedelta(days=days_ago)
            await store.append_portfolio_snapshot(
                PortfolioSnapshot(
                    taken.date().isoformat(),
                    taken,
                    Decimal(equity),
                    Decimal(0),
                    Decimal(equity),
                    Decimal(0),
                    Decimal(0),
                    Decimal(0),
                    0,
                    0,
                    0,
                    0,
                )
            )
        for job, (age_s, error) in jobs.items():
            done = now - timedelta(seconds=age_s)
            await store.record_job_run(
                JobOutcome(
                    str(uuid.uuid4()),
                    job,
                    done.date().isoformat(),
                    done - timedelta(seconds=2),
                    done,
                    error is None,
                    1,
                    {},
                    error,
                )
            )
    finally:
        await store.close()


Runs = dict[str, tuple[float, str | None]]  # job -> (seconds since it finished, error)
ALL_OK: Runs = {"morning": (3600.0, None), "poll": (30.0, None), "evening": (20 * 3600.0, None)}


def build(
    setup: Setup,
    jobs: Runs = ALL_OK,
    poll_age_s: float = 30.0,
) -> None:
    """Write the database (relative to the wall clock, which the CLI reads)."""
    asyncio.run(_build(setup.db_path, datetime.now(UTC), jobs, poll_age_s))


HOLD = """
import os, sys, time
from pathlib import Path
from prescientd.runtime import data_dir_lock
with data_dir_lock(Path(sys.argv[1])):
    print("held", flush=True)
    if sys.argv[2] == "hold":
        sys.stdin.read()  # until the test closes stdin
    elif sys.argv[2] == "crash":
        os._exit(0)  # no clean-up: the lock file stays behind, as after a crash
"""


@contextlib.contextmanager
def hold_lock(setup: Setup) -> Iterator[subprocess.Popen[str]]:
    """A real process holding the data directory's writer lock, as `prescientd run` does."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(setup.data_dir), "hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "held"
            yield proc
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)


@pytest.fixture
def holder(setup: Setup) -> Iterator[subprocess.Popen[str]]:
    """The lock held while the test runs (taken before the test writes its database)."""
    with hold_lock(setup) as proc:
        yield proc


def stale_lock(setup: Setup) -> int:
    """A process that took the lock and died: its pid stays in the lock file."""
    done = subprocess.run(
        [sys.executable, "-c", HOLD, str(setup.data_dir), "crash"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "held"
    return int((setup.data_dir / LOCK_NAME).read_text().strip())


def cli(setup: Setup, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `prescientd status --config ... ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(["status", "--config", str(setup.config_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------
def test_document_with_the_daemon_running(setup: Setup, holder: subprocess.Popen[str]) -> None:
    """The document: liveness from the held lock, §7 names, figures worked out by hand."""
    build(setup)
    now = datetime.now(UTC)
    doc = asyncio.run(collect_status(setup.config, now))
    daemon = doc["daemon"]
    assert daemon["running"] is True and daemon["pid"] == holder.pid
    assert daemon["pid_alive"] is True and daemon["stale_lock_pid"] is None
    # three open at 0.40 x 100 = 40 each; one settled for 100 (a win)
    assert doc["open_positions"] == 3 == len(doc["positions"])
    assert doc["capital_locked_usd"] == 120
    assert doc["cash_usd"] == 10000 - 160 + 100
    assert doc["equity_usd"] == 9940 + 30 + 45 + 50
    assert doc["total_return"] == pytest.approx(65 / 10000)
    assert doc["realized_pnl_usd"] == 60 and doc["unrealized_pnl_usd"] == 5
    assert doc["fees_usd"] == 0 and doc["trade_count"] == 4
    assert doc["settled_positions"] == 1 and doc["win_rate"] == 1
    # snapshots 10000, 10100, 9595, 9900, 10050 then 10065 now: 9595 / 10100 - 1
    assert doc["max_drawdown"] == pytest.approx(9595 / 10100 - 1, abs=1e-6)
    assert [p["equity_usd"] for p in doc["equity_series"]] == [10000, 10100, 9595, 9900, 10050]
    assert [p["question"] for p in doc["positions"]] == [QUESTIONS[0], QUESTIONS[1], QUESTIONS[2]]
    assert [p["unrealized_pnl_usd"] for p in doc["positions"]] == [-10, 5, 10]
    assert doc["check"] == "ok" and doc["warnings"] == []
    assert 29 <= doc["prices_age_s"] <= 60 and doc["max_price_age_s"] == STALE_S
    for job in ("morning", "poll", "evening"):
        assert doc["jobs"][job]["outcome"] == "ok"
        assert doc["jobs"][job]["next_run_at"] is not None
    next_poll = datetime.fromisoformat(doc["jobs"]["poll"]["next_run_at"])
    assert now <= next_poll <= now + timedelta(seconds=POLL_S)
    json.dumps(doc)  # JSON-ready as it is


def test_document_with_a_stale_lock(setup: Setup) -> None:
    """A lock file naming a dead pid: not running, the pid reported as stale, no next runs."""
    build(setup)
    pid = stale_lock(setup)
    doc = asyncio.run(collect_status(setup.config, datetime.now(UTC)))
    assert doc["daemon"]["running"] is False
    assert doc["daemon"]["stale_lock_pid"] == pid and doc["daemon"]["pid_alive"] is False
    assert all(run["next_run_at"] is None for run in doc["jobs"].values())
    assert [w["code"] for w in doc["warnings"]] == ["daemon_down"]
    assert f"stale lock from pid {pid}" in doc["warnings"][0]["message"]


def test_check_ok(
    setup: Setup, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Running, fresh prices, every job ok: exit 0 and one OK line."""
    build(setup)
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 0
    assert out == f"OK: daemon running (pid {holder.pid}); equity 10,065.00 USD\n"


def test_check_warning(
    setup: Setup, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed job while the daemon runs: exit 1, one line naming it and its retry."""
    build(setup, {**ALL_OK, "evening": (600.0, "database is locked")})
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(
        "WARNING job_failed: last evening run failed 10m ago: database is locked"
    )
    assert "next attempt" in line


def test_check_critical_when_stopped(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """The daemon stopped after recent work (stale lock): exit 2, critical line first."""
    build(setup)
    pid = stale_lock(setup)
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 2
    assert out.splitlines()[0].startswith("CRITICAL daemon_down: prescientd is not running")
    assert f"stale lock from pid {pid}" in out


def test_check_critical_prices(
    setup: Setup, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Running but the last poll is older than 3x the price age limit: exit 2."""
    build(setup, {**ALL_OK, "poll": (4 * STALE_S, None)}, poll_age_s=4 * STALE_S)
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 2
    assert out.startswith("CRITICAL prices_very_stale: prices are 40m")


def test_check_missing_database(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """No database: critical for --check; plain status says which command creates it."""
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 2 and out.startswith("CRITICAL database_missing: no database at")
    code, out, err = cli(setup, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert f"prescientd once cycle --config {setup.config_path}" in err
    assert f"prescientd run --config {setup.config_path}" in err
    code, out, _ = cli(setup, capsys, "--json", "--check")
    assert code == 2 and json.loads(out)["warnings"][0]["code"] == "database_missing"
    assert not setup.db_path.exists()  # status never creates it


def test_check_damaged_database(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a database: critical for --check, one error line for status."""
    setup.db_path.parent.mkdir(parents=True)
    setup.db_path.write_bytes(b"this is not a database" * 100)
    code, out, _ = cli(setup, capsys, "--check")
    assert code == 2 and out.startswith("CRITICAL database_unreadable:")
    code, out, err = cli(setup, capsys)
    assert code == 1 and err.count("\n") == 1 and str(setup.db_path) in err


def test_json_through_the_cli(
    setup: Setup, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the document; with --check the exit status follows the check."""
    build(setup, {**ALL_OK, "evening": (600.0, "database is locked")})
    code, out, _ = cli(setup, capsys, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["check"] == "warning" and doc["daemon"]["pid"] == holder.pid
    code, out, _ = cli(setup, capsys, "--json", "--check")
    assert code == 1 and json.loads(out)["warnings"][0]["code"] == "job_failed"


@pytest.mark.parametrize("width", [80, 120])
def test_screen_running(setup: Setup, capsys: pytest.CaptureFixture[str], width: int) -> None:
    """The screen through the CLI: fits, says running with the pid and when it polls next (one
    interval after the last poll's start), no colour when piped."""
    build(setup)
    with hold_lock(setup) as holder:
        # the daemon started ten minutes ago (the lock file's time is when it took the lock)
        started = time.time() - 600
        os.utime(setup.data_dir / LOCK_NAME, (started, started))
        code, out, _ = cli(setup, capsys, "--width", str(width))
    assert code == 0
    lines = out.splitlines()
    assert all(cells(line) <= width for line in lines)
    assert "\x1b" not in out
    # the last poll started 32 s ago: the next one in 4m 28s (less the seconds the test took)
    assert re.match(rf"daemon: running \(pid {holder.pid}\), next poll in 4m [12]\ds", lines[1])
    assert "10,065.00 USD" in out and "+0.65 %" in out and "-5.00 %" in out
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("question")) + 1
    rows = lines[first : first + 3]
    assert ["Ohio" in rows[0], "Iowa" in rows[1], "Bitcoin" in rows[2]] == [True] * 3


@pytest.mark.parametrize("width", [80, 120])
def test_screen_stopped(setup: Setup, capsys: pytest.CaptureFixture[str], width: int) -> None:
    """Stopped: NOT running with the stale pid, and the problem listed as critical."""
    build(setup)
    pid = stale_lock(setup)
    code, out, _ = cli(setup, capsys, "--width", str(width))
    assert code == 0
    assert all(cells(line) <= width for line in out.splitlines())
    flat = " ".join(out.split())
    assert "daemon: NOT running (last seen" in flat and f"stale lock from pid {pid})" in flat
    assert "CRITICAL prescientd is not running" in flat


def test_width_below_sixty_is_refused(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """--width under 60 is a usage error."""
    with pytest.raises(SystemExit) as exc:
        main(["status", "--config", str(setup.config_path), "--width", "40"])
    assert exc.value.code == 2
    assert "too narrow" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
def test_probe_without_a_lock_file(tmp_path: Path) -> None:
    """No lock file: not running, nothing created."""
    probe = liveness.probe_writer([tmp_path / "a.lock", tmp_path / "b.lock"])
    assert (probe.exists, probe.held, probe.pid) == (False, False, None)
    assert list(tmp_path.iterdir()) == []


def test_probe_prefers_the_held_lock(setup: Setup) -> None:
    """Of several lock files the held one answers, with its holder's pid and command."""
    setup.data_dir.mkdir(parents=True, exist_ok=True)
    other = setup.data_dir / "other.lock"
    other.write_text("999999\n")
    with hold_lock(setup) as holder:
        probe = liveness.probe_writer([other, setup.data_dir / LOCK_NAME])
        assert probe.held is True and probe.pid == holder.pid and probe.pid_alive is True
        assert probe.command is not None and "data_dir_lock" in probe.command
        assert probe.kind is None  # not a prescientd command line: neither daemon nor one-off
        # the probe took nothing: another writer can still be refused by the holder
        assert liveness.probe_lock(setup.data_dir / LOCK_NAME).held is True


def test_probe_reports_an_unreadable_lock(tmp_path: Path) -> None:
    """A lock path that cannot be opened (here a symlink, never followed) is reported, not
    guessed: liveness unknown."""
    link = tmp_path / "prescientd.lock"
    link.symlink_to(tmp_path / "elsewhere")
    probe = liveness.probe_writer([link])
    assert probe.held is None and probe.error is not None and str(link) in probe.error
