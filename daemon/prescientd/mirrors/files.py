"""Atomic file replacement and spreadsheet-safe CSV.

A reader of a mirror sees the old file or the new one, never a partial one: the new content goes to
a temporary file in the same directory, is fsynced, renamed over the old name, and the directory is
fsynced so the rename itself survives a power cut. Files are 0640 and directories 0750 whatever
the umask. An append-only mirror (paper_trades.json, portfolio_history.json) is never replaced by
one with fewer entries than it holds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prescientd.clock import iso_utc
from prescientd.permissions import FILE_MODE, make_dirs

TEMP_PREFIX = ".prescientd-"
TEMP_SUFFIX = ".tmp"
__all__ = ["FILE_MODE", "AppendOnlyViolation", "write_atomic", "write_json_append_only"]

# What this process last wrote to each append-only mirror: (inode, size, mtime_ns) -> entries,
# so the file is parsed again only when something else changed it.
_append_only_written: dict[Path, tuple[tuple[int, int, int], int]] = {}


class AppendOnlyViolation(Exception):
    """A write would replace an append-only mirror with fewer entries than it holds."""


# OWASP CSV injection: a cell starting with one of these is read as a formula by spreadsheets.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def write_atomic(path: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Replace path with data atomically (temp file in the same directory, fsync, rename)."""
    make_dirs(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)  # mkstemp makes 0600 files
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename already happened
    finally:
        os.close(dir_fd)


def sweep_temp_files(root: Path) -> list[Path]:
    """Remove temporary files left by a crash mid-write under root; returns what was removed."""
    removed: list[Path] = []
    if not root.exists():
        return removed
    for tmp in root.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        as_float = float(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else as_float
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps_json(data: Any, *, compact: bool = False) -> bytes:
    """JSON text for a mirror: plain numbers (Decimal -> number), ISO UTC times, no NaN.

    Indented for people by default; compact for the big per-poll files, where indenting doubles
    the encoding time (Python's fast encoder only runs without indent).
    """
    text = json.dumps(
        data,
        default=_json_default,
        ensure_ascii=False,
        indent=None if compact else 1,
        separators=(",", ":") if compact else None,
        allow_nan=False,
    )
    return (text + "\n").encode("utf-8")


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write data as a JSON mirror, atomically."""
    write_atomic(path, dumps_json(data, compact=compact))


def _file_key(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def held_entries(path: Path) -> int | None:
    """How many entries the JSON array at path holds; None when absent or not an array."""
    key = _file_key(path)
    if key is None:
        return None
    known = _append_only_written.get(path)
    if known is not None and known[0] == key:
        return known[1]
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # unreadable: the database is the truth, the rebuild may replace it
    return len(data) if isinstance(data, list) else None


def write_json_append_only(path: Path, entries: Sequence[Any]) -> None:
    """Replace an append-only JSON array mirror, refusing to drop entries it holds.

    Such a file promises that each version begins with the entries of the previous one; a
    shorter list can only come from the wrong database (a fresh or older one), and writing it
    would destroy what may be the last copy of the history.
    """
    held = held_entries(path)
    if held is not None and len(entries) < held:
        raise AppendOnlyViolation(
            f"{path} holds {held} entries; refusing to replace it with {len(entries)}"
        )
    write_atomic(path, dumps_json(entries))
    key = _file_key(path)
    if key is not None:
        _append_only_written[path] = (key, len(entries))


def escape_cell(text: str) -> str:
    """Neutralise outside text for spreadsheets: prefix a quote when it starts like a formula."""
    if text.startswith(_FORMULA_LEADS):
        return "'" + text
    return text


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else ""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    return escape_cell(str(value))


def csv_columns(rows: Sequence[Mapping[str, Any]], key_columns: Sequence[str] = ()) -> list[str]:
    """Columns derived from the data: key columns first, then other keys in first-seen order."""
    columns: dict[str, None] = {c: None for c in key_columns if any(c in r for r in rows)}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    return list(columns)


def render_csv(
    rows: Sequence[Mapping[str, Any]],
    *,
    key_columns: Sequence[str] = (),
    fallback_columns: Sequence[str] = (),
) -> bytes:
    """CSV bytes with a header row; every text cell is formula-escaped.

    Text from outside (titles, questions, slugs, outcomes, even ids) is attacker-controllable, so
    every text cell goes through escape_cell (our own text never starts like a formula, so it is
    unchanged). Numbers stay numbers, so a negative P&L is still a number in Excel. With no rows,
    fallback_columns make the header so that an empty file still says what it would hold.
    """
    columns = csv_columns(rows, key_columns) if rows else list(fallback_columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(col)) for col in columns])
    # No BOM: scripts read these with csv.DictReader; Excel users import them as UTF-8.
    return buffer.getvalue().encode("utf-8")


def write_csv(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    key_columns: Sequence[str] = (),
    fallback_columns: Sequence[str] = (),
) -> None:
    """Write rows as a CSV mirror, atomically."""
    write_atomic(
        path,
        render_csv(
            rows,
            key_columns=key_columns,
            fallback_columns=fallback_columns,
        ),
    )
