"""Structured logging: JSON lines, the daily file rolling over at local midnight."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

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
