"""Structured logging: JSON lines, the daily file, whole lines on a full disk, bounded volume."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from structlog.testing import capture_logs

from prescientd.clock import SystemClock
from prescientd.config import parse_config
from prescientd.jobs import JobContext, run_job
from prescientd.logs import DailyLogFile, close_logging, configure_logging


def test_daily_file_rolls_over_at_local_midnight(tmp_path: Path) -> None:
    """Lines go to the file of their local date: 23:59 and 00:01 New York land in two files."""
    daily = DailyLogFile(tmp_path, ZoneInfo("America/New_York"))
    daily.write("a", datetime(2026, 11, 2, 4, 59, tzinfo=UTC))  # 23:59 on Nov 1 in New York
    daily.write("b", datetime(2026, 11, 2, 5, 1, tzinfo=UTC))  # 00:01 on Nov 2
    daily.write("c", datetime(2026, 11, 2, 6, 0, tzinfo=UTC))
    daily.close()
    assert (tmp_path / "trading_log_2026-11-01.txt").read_text() == "a\n"
    assert (tmp_path / "trading_log_2026-11-02.txt").read_text() == "b\nc\n"


def test_json_lines_on_stdout_and_in_the_file_with_bound_job(tmp_path: Path) -> None:
    """A log call writes the same JSON line to stdout and the file, carrying bound job/run_id."""
    out = io.StringIO()
    configure_logging(
        level="info", logs_dir=tmp_path, tz=ZoneInfo("UTC"), stream=out, console=False
    )
    try:
        log = structlog.get_logger("t")
        with structlog.contextvars.bound_contextvars(job="poll", run_id="abc"):
            log.info("job_finished", trades=3)
        log.debug("hidden")
    finally:
        close_logging()
    line = json.loads(out.getvalue().strip())
    assert line["event"] == "job_finished" and line["job"] == "poll" and line["run_id"] == "abc"
    assert line["trades"] == 3 and line["level"] == "info" and line["ts"].endswith("Z")
    (log_file,) = tmp_path.glob("trading_log_*.txt")
    assert json.loads(log_file.read_text().strip()) == line


FULL_DISK_SCRIPT = """
import json, resource, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from prescientd.logs import DailyLogFile

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
daily = DailyLogFile(Path(sys.argv[1]), ZoneInfo("UTC"))
now = datetime(2026, 1, 1, 12, tzinfo=UTC)
def line(n):
    return json.dumps({"event": "x", "n": n, "pad": "y" * 550})  # about 570 bytes
daily.write(line(0), now)
# "the disk fills up" in the middle of the fourth line
resource.setrlimit(resource.RLIMIT_FSIZE, (len(line(0)) * 3 + 300, resource.RLIM_INFINITY))
for n in range(1, 8):
    daily.write(line(n), now)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
daily.write(json.dumps({"event": "space_freed"}), now)
daily.close()
"""


def test_a_full_disk_never_leaves_half_a_line(tmp_path: Path) -> None:
    """Lines that do not fit are dropped whole; the next line after space frees starts clean."""
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot write log file") == 1  # said once, not per line
    (log_file,) = tmp_path.glob("trading_log_*.txt")
    lines = [json.loads(text) for text in log_file.read_text().splitlines()]
    assert [entry.get("n") for entry in lines] == [0, 1, 2, None]
    assert lines[-1]["event"] == "space_freed"


def test_one_job_writes_a_bounded_number_of_lines() -> None:
    """5,000 lines inside one job: cut at the cap, one notice, job_finished counts the rest."""
    out = io.StringIO()
    configure_logging(level="info", logs_dir=None, stream=out, console=False)
    try:
        log = structlog.get_logger("t")
        with structlog.contextvars.bound_contextvars(job="poll", run_id="r1"):
            for n in range(5000):
                log.warning("item_problem", n=n)
            log.info("job_finished", outcome="ok")
        log.info("between_jobs")
    finally:
        close_logging()
    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    assert 1000 <= len(lines) <= 2003
    events = [entry["event"] for entry in lines]
    assert events.count("log_lines_capped") == 1
    (finished,) = [entry for entry in lines if entry["event"] == "job_finished"]
    kept = events.count("item_problem")
    assert finished["log_lines_dropped"] == 5000 - kept
    assert events[-1] == "between_jobs"


class _FullStore:
    """A store whose disk is full when the job run is recorded."""

    async def record_job_run(self, outcome: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")


async def test_a_job_run_that_cannot_be_recorded_is_one_line() -> None:
    """job_run_not_recorded carries the error on one line, without a traceback."""
    ctx = JobContext(
        config=parse_config(""),
        config_version=1,
        store=_FullStore(),  # type: ignore[arg-type]
        gamma=None,  # type: ignore[arg-type]
        clob=None,  # type: ignore[arg-type]
        clock=SystemClock(),
        publish=_no_mirrors,
    )

    async def body(_: JobContext) -> dict[str, Any]:
        return {}

    with capture_logs() as logs:
        outcome = await run_job("poll", ctx, body)
    assert outcome.ok
    (line,) = [entry for entry in logs if entry["event"] == "job_run_not_recorded"]
    assert "exc_info" not in line and line["error"].endswith("database or disk is full")


async def _no_mirrors(_: set[Any]) -> None:
    return None


def test_log_lines_mask_credentials_in_urls() -> None:
    """user:password@ and ?token=/&api_key= values are masked in every line; ids are kept."""
    out = io.StringIO()
    configure_logging(level="info", logs_dir=None, stream=out, console=False)
    try:
        structlog.get_logger("t").warning(
            "http_retry", error="GET https://bob:pw123@proxy.example/x?api_key=k1&token_id=42"
        )
    finally:
        close_logging()
    text = out.getvalue()
    assert "pw123" not in text and "k1" not in text and "token_id=42" in text
