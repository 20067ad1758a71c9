"""Structured logging: JSON lines on stdout and in logs/trading_log_YYYY-MM-DD.txt.

On a TTY stdout gets readable console lines instead; the file always gets the JSON. The file rolls
over at local midnight in the configured timezone. Jobs bind `job` and `run_id` with contextvars so
every line of a run carries them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog
from structlog.typing import EventDict, WrappedLogger

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class DailyLogFile:
    """Appends lines to logs_dir/trading_log_YYYY-MM-DD.txt, switching files at local midnight."""

    def __init__(self, logs_dir: Path, tz: ZoneInfo) -> None:
        self.logs_dir = logs_dir
        self.tz = tz
        self._date: date | None = None
        self._handle: TextIO | None = None
        self._lock = threading.Lock()

    def path_for(self, day: date) -> Path:
        """The log file of a local date."""
        return self.logs_dir / f"trading_log_{day.isoformat()}.txt"

    def write(self, line: str, now: datetime | None = None) -> None:
        """Append one line (newline added) to the file of now's local date."""
        day = (now or datetime.now(UTC)).astimezone(self.tz).date()
        with self._lock:
            try:
                if day != self._date or self._handle is None:
                    self._close()
                    self.logs_dir.mkdir(parents=True, exist_ok=True)
                    self._handle = self.path_for(day).open("a", encoding="utf-8")
                    self._date = day
                self._handle.write(line + "\n")
                self._handle.flush()
            except OSError as exc:
                # A full disk must not stop the daemon; stdout (the journal) still has the line.
                sys.stderr.write(f"prescientd: cannot write log file: {exc}\n")
                self._close()

    def _close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
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
    return json.dumps(event_dict, default=_json_default, ensure_ascii=False)


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
