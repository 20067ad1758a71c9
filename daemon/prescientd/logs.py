"""Structured logging: JSON lines on stdout and in logs/trading_log_YYYY-MM-DD.txt.

On a TTY stdout gets readable console lines instead; the file always gets the JSON. The file rolls
over at local midnight in the configured timezone. Jobs bind `job` and `run_id` with contextvars so
every line of a run carries them.

Logging is bounded: a problem repeated item by item is logged for the first few items and then
summarized in one line (`ItemProblems`), and one job writes at most `MAX_LINES_PER_JOB` lines (the
rest are counted on its `job_finished` line). A line reaches the daily file whole or not at all,
credentials in URLs are masked in every line, and the files are 0640.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import threading
from collections import Counter, OrderedDict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog
from structlog.typing import EventDict, WrappedLogger

from prescientd.permissions import make_dirs, open_private
from prescientd.redact import redact_text

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
MAX_LINES_PER_JOB = 2000  # beyond this a job's lines are dropped and counted
DETAIL_LINES = 5  # per-item problems logged one by one before the summary takes over
SAMPLE_IDS = 5
_MAX_REASONS = 20


class DailyLogFile:
    """Appends lines to logs_dir/trading_log_YYYY-MM-DD.txt, switching files at local midnight.

    Each line is one write(2) on an O_APPEND descriptor; a short write (disk full) is cut back
    off, so the file only ever holds whole lines.
    """

    def __init__(self, logs_dir: Path, tz: ZoneInfo) -> None:
        self.logs_dir = logs_dir
        self.tz = tz
        self._date: date | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._failing = False

    def path_for(self, day: date) -> Path:
        """The log file of a local date."""
        return self.logs_dir / f"trading_log_{day.isoformat()}.txt"

    def write(self, line: str, now: datetime | None = None) -> None:
        """Append one line (newline added) to the file of now's local date, whole or not at all."""
        day = (now or datetime.now(UTC)).astimezone(self.tz).date()
        data = (line + "\n").encode("utf-8")
        with self._lock:
            try:
                if day != self._date or self._fd is None:
                    self._close()
                    make_dirs(self.logs_dir)
                    self._fd = open_private(self.path_for(day), os.O_WRONLY | os.O_APPEND)
                    self._date = day
                self._append(self._fd, data)
                self._failing = False
            except OSError as exc:
                # A full disk must not stop the daemon; stdout (the journal) still has the line.
                if not self._failing:
                    sys.stderr.write(f"prescientd: cannot write log file: {exc}\n")
                self._failing = True
                self._close()

    @staticmethod
    def _append(fd: int, data: bytes) -> None:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, start)  # some filesystems keep the bytes of a failed write
            raise
        if written != len(data):
            os.ftruncate(fd, start)  # never leave half a line for the next one to be glued to
            raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)}); line dropped")

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._date = None

    def close(self) -> None:
        """Close the current file."""
        with self._lock:
            self._close()


class TeeLogger:
    """structlog logger writing each rendered JSON line to stdout and to the daily file."""

    def __init__(
        self,
        stream: TextIO,
        daily: DailyLogFile | None,
        console: structlog.dev.ConsoleRenderer | None,
    ) -> None:
        self._stream = stream
        self._daily = daily
        self._console = console

    def msg(self, message: str) -> None:
        """Emit one rendered line."""
        if self._daily is not None:
            self._daily.write(message)
        try:
            if self._console is not None:
                event = json.loads(message)
                self._stream.write(str(self._console(None, "", event)) + "\n")
            else:
                self._stream.write(message + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # stdout closed or broken: the file still has the line

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class TeeLoggerFactory:
    """Builds the one TeeLogger all bound loggers share."""

    def __init__(self, logger: TeeLogger) -> None:
        self._logger = logger

    def __call__(self, *args: Any) -> TeeLogger:
        """Return the shared logger."""
        return self._logger


def _json_default(value: Any) -> Any:
    return str(value)


def _render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    # one line, whatever the fields hold (json escapes newlines); secrets in URLs masked
    return redact_text(json.dumps(event_dict, default=_json_default, ensure_ascii=False))


class JobLineCap:
    """structlog processor: at most `limit` lines per job run; the rest are dropped and counted.

    The first dropped line is replaced by one `log_lines_capped` warning; the job's
    `job_finished` line always passes and carries `log_lines_dropped`.
    """

    def __init__(self, limit: int = MAX_LINES_PER_JOB) -> None:
        self.limit = limit
        self._counts: OrderedDict[str, int] = OrderedDict()

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        """Count, pass, replace or drop one line."""
        run_id = event_dict.get("run_id")
        if not isinstance(run_id, str):
            return event_dict
        seen = self._counts.pop(run_id, 0) + 1
        if event_dict.get("event") == "job_finished":
            if seen - 1 > self.limit:
                event_dict["log_lines_dropped"] = seen - 1 - self.limit
            return event_dict
        self._counts[run_id] = seen
        while len(self._counts) > 64:  # runs that never finished (cancelled): forget the oldest
            self._counts.popitem(last=False)
        if seen <= self.limit:
            return event_dict
        if seen == self.limit + 1:
            return {
                **{k: v for k, v in event_dict.items() if k in ("job", "run_id")},
                "event": "log_lines_capped",
                "level": "warning",
                "limit": self.limit,
                "first_dropped": event_dict.get("event"),
            }
        raise structlog.DropEvent


class ItemProblems:
    """Problems with single items of one fetch: the first few logged one by one, then a summary.

    A reply of two million bad items must not write two million lines: `add` logs the first
    DETAIL_LINES items and counts the rest; `summarize` writes one `<event>_summary` line with
    the count by reason and the first ids.
    """

    def __init__(
        self, event: str, *, level: str = "warning", detail_lines: int = DETAIL_LINES
    ) -> None:
        self.event = event
        self.level = level
        self.detail_lines = detail_lines
        self.total = 0
        self.reasons: Counter[str] = Counter()
        self.first_ids: list[str] = []
        self._lines = 0
        self._log = structlog.get_logger("prescientd.items")

    def add(self, item_id: str | None, reason: str, *, count: int = 1, **fields: Any) -> None:
        """Count bad items (one, or count of one kind); log while under the detail limit."""
        self.total += count
        self.reasons[reason] += count
        if item_id is not None and len(self.first_ids) < SAMPLE_IDS:
            self.first_ids.append(item_id[:100])
        self._lines += 1
        if self._lines <= self.detail_lines:
            getattr(self._log, self.level)(self.event, id=item_id, reason=reason, **fields)

    def summarize(self, **fields: Any) -> None:
        """One summary line when items went unlogged (nothing otherwise)."""
        if self._lines <= self.detail_lines and self.total == self._lines:
            return
        getattr(self._log, self.level)(
            f"{self.event}_summary",
            total=self.total,
            not_logged=self.total - min(self._lines, self.detail_lines),
            reasons=dict(self.reasons.most_common(_MAX_REASONS)),
            first_ids=self.first_ids,
            **fields,
        )


class _StdlibToStructlog(logging.Handler):
    """Route warnings from aiohttp/asyncio through the same JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        level = record.levelname.lower()
        method = getattr(logger, level if level in LEVELS else "warning")
        method(record.getMessage(), logger_name=record.name)


_daily_file: DailyLogFile | None = None


def configure_logging(
    *,
    level: str = "info",
    logs_dir: Path | None = None,
    tz: ZoneInfo | None = None,
    stream: TextIO | None = None,
    console: bool | None = None,
) -> None:
    """Configure structlog for the process (call again to change level or destination)."""
    global _daily_file
    out = stream if stream is not None else sys.stdout
    use_console = out.isatty() if console is None else console
    if _daily_file is not None:
        _daily_file.close()
    _daily_file = DailyLogFile(logs_dir, tz or ZoneInfo("UTC")) if logs_dir is not None else None
    renderer = structlog.dev.ConsoleRenderer(colors=False) if use_console else None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            JobLineCap(),
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _render_json,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=TeeLoggerFactory(TeeLogger(out, _daily_file, renderer)),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [_StdlibToStructlog()]
    root.setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.ERROR)


def close_logging() -> None:
    """Close the daily log file."""
    if _daily_file is not None:
        _daily_file.close()
