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
import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from prescientd.mirrors.columns import CSV_DECIMALS, Cell, Column, Kind, coerce, resolve_columns
from prescientd.permissions import FILE_MODE, make_dirs
from prescientd.vocabulary import plain

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


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int = FILE_MODE) -> Iterator[Path]:
    """A temporary path next to path; on a clean exit it is fsynced and renamed over path.

    For writers that need a file name rather than bytes (the workbook library writes its own
    file). On an exception the temporary file is removed and path is untouched.
    """
    make_dirs(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)  # mkstemp makes 0600 files
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int = FILE_MODE) -> int:
    """Replace path with data atomically (temp file in the same directory, fsync, rename).

    Returns the bytes written.
    """
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(data)
    return len(data)


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
    if isinstance(value, (Decimal, datetime, date, set, frozenset, tuple)):
        return plain(value)
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


def write_json(path: Path, data: Any, *, compact: bool = False) -> int:
    """Write data as a JSON mirror, atomically; returns the bytes written."""
    return write_atomic(path, dumps_json(data, compact=compact))


def write_json_streamed(
    path: Path,
    head: Mapping[str, Any],
    name: str,
    items: Iterable[tuple[str, Any]],
    *,
    chunk: int = 2000,
    compact: bool = True,
) -> int:
    """Write {**head, name: dict(items)} atomically; returns the bytes written.

    The same bytes as write_json(..., compact=compact), but items are taken and encoded `chunk` at
    a time, never all held at once: the C encoder (and freeing a huge structure) holds the GIL for
    a whole call, which would stop the event loop running beside this worker thread, and a
    160,000-token document held whole costs hundreds of MB.
    """
    document = dumps_json({**head, name: {}}, compact=compact)
    closing = b"}}\n" if compact else b"{}\n}\n"
    if not document.endswith(closing):
        raise ValueError(f"{name!r} must be the last key of the document")
    pending = iter(items)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        handle.write(document[: -len(closing)] + (b"" if compact else b"{"))
        separator = b""
        while part := dict(itertools.islice(pending, chunk)):
            text = dumps_json(part, compact=compact)
            if compact:
                handle.write(separator + text[1:-2])  # no "{", "}\n"
            else:  # the entries one level deeper: one more space of indent on every line
                handle.write(separator + text[1:-3].replace(b"\n", b"\n "))  # no "{", "\n}\n"
            separator = b","
        if compact:
            handle.write(closing)
        else:
            handle.write(b"\n }\n}\n" if separator else b"}\n}\n")
        size = handle.tell()
    return size


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


def write_json_append_only(path: Path, entries: Sequence[Any]) -> int:
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
    size = write_atomic(path, dumps_json(entries))
    key = _file_key(path)
    if key is not None:
        _append_only_written[path] = (key, len(entries))
    return size


def escape_cell(text: str) -> str:
    """Neutralise outside text for spreadsheets: prefix a quote when it starts like a formula."""
    if text.startswith(_FORMULA_LEADS):
        return "'" + text
    return text


# Spreadsheet-friendly CSV (DESIGN.md §7), driven by column specs -------------------------------

_TEXT_KINDS = frozenset({Kind.TEXT, Kind.ID})
_INT_KINDS = frozenset({Kind.INT, *CSV_DECIMALS})
BOM = "\ufeff"  # Excel reads a BOM-less CSV in the system codepage and garbles accented text
CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # UTC; Excel and Calc read it as a date-time


def _decimal_text(number: Decimal, places: int) -> str:
    # more digits than the context holds (InvalidOperation): keep the number as it is
    with contextlib.suppress(InvalidOperation):
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if number.is_zero():
        return "0"  # never "-0" or "0.000000"
    return format(number.normalize(), "f")


def _float_text(value: float, places: int) -> str | None:
    """A float's CSV spelling when its shortest repr already has at most `places` decimals.

    The same text as the Decimal path below, without it (most cells of a big export are such
    floats, already rounded by `vocabulary.number`); None = take the Decimal path.
    """
    text = repr(value)
    if "e" in text or "n" in text:  # exponent, nan, inf
        return None
    whole, _, fraction = text.partition(".")
    if len(fraction) > places:
        return None
    fraction = fraction.rstrip("0")
    if not fraction:
        return "0" if whole in ("0", "-0") else whole
    return f"{whole}.{fraction}"


def csv_cell(column: Column, value: Any) -> str:
    """One CSV cell: the value coerced to its column's kind and spelled for spreadsheets."""
    value_type = type(value)
    if value_type is str and column.kind in _TEXT_KINDS:
        return escape_cell(value)
    if value_type is float and column.kind in CSV_DECIMALS:
        text = _float_text(value, CSV_DECIMALS[column.kind])
        if text is not None:
            return text
    elif value_type is int and column.kind in _INT_KINDS:
        return str(value)
    cell: Cell = coerce(column, value)
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, datetime):  # coerce made it UTC
        return cell.strftime(CSV_DATETIME_FORMAT)
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, Decimal):
        return _decimal_text(cell, CSV_DECIMALS.get(column.kind, 6))
    if isinstance(cell, int):
        return str(cell)
    return escape_cell(cell)  # text, ids, and values that did not fit their kind


def render_table_csv(specs: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV bytes as DESIGN.md §7 says: UTF-8 with a BOM, header row, typed cells, ids last.

    Columns come from the data, typed and ordered by specs (`columns.resolve_columns`). Times are
    `YYYY-MM-DD HH:MM:SS` UTC; money, percentages (as fractions) and prices are plain numbers with
    up to 6 decimals; text and ids are formula-escaped (`escape_cell`).
    """
    buffer = io.StringIO()
    _write_table(buffer, specs, rows)
    return buffer.getvalue().encode("utf-8")


def _write_table(
    handle: TextIO, specs: Sequence[Column], rows: Sequence[Mapping[str, Any]]
) -> None:
    columns = resolve_columns(specs, rows)
    handle.write(BOM)
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow([csv_cell(c, row.get(c.name)) for c in columns])


def write_table_csv(path: Path, specs: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> int:
    """Write rows as a spreadsheet-friendly CSV mirror (render_table_csv), atomically.

    Streamed into the temporary file, so a big export never sits in memory as one string.
    Returns the bytes written.
    """
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            _write_table(handle, specs, rows)
        size = tmp.stat().st_size
    return size
