"""Growing a JSON array mirror without encoding its history again.

`paper_trades.json` and the monthly `signals_archive_YYYY-MM.json` only grow at their end, so a
new version is the old file's bytes up to some entry, then the new entries, then the closing
bracket: the old part is copied (a kernel copy where the filesystem offers one), never parsed or
encoded again. The result goes through the same temporary file, fsync and rename as every mirror,
so a reader still sees the old file or the new one, never a partial one; and it is byte for byte
what `files.dumps_json` writes for the whole list (a test checks it).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from prescientd.mirrors.files import atomic_path, dumps_json

ARRAY_OPEN = b"["  # what the file keeps when no entry is kept
ARRAY_CLOSE = b"\n]\n"
# How an entry of an archive starts in dumps_json's layout (one-space indent, `date` first). JSON
# strings cannot hold a raw newline, so this only ever matches the start of an entry.
DATED_ENTRY = b'\n {\n  "date": "'
_DATE_LEN = len("YYYY-MM-DD")
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArrayFile:
    """What a JSON array mirror held right after this process wrote it."""

    key: tuple[int, int, int]  # (inode, size, mtime_ns): the file is still exactly ours
    entries: int
    body_end: int  # offset just past the last entry (1 = just past "[" when empty)


def file_key(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of path; None when it does not exist."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def encode_entries(entries: Sequence[Any]) -> bytes:
    """The entries as they sit inside a mirror's array: dumps_json's layout without brackets."""
    if not entries:
        return b""
    return dumps_json(list(entries))[len(b"[\n") : -len(ARRAY_CLOSE)]


def _copy_prefix(src: BinaryIO, dst: BinaryIO, count: int) -> None:
    remaining = count
    try:
        while remaining:  # in the kernel, without passing through Python
            copied = os.copy_file_range(src.fileno(), dst.fileno(), remaining)
            if copied == 0:
                raise ValueError("the file is shorter than expected")
            remaining -= copied
    except OSError:  # not offered by this filesystem: copy through a buffer
        src.seek(count - remaining)
        dst.seek(count - remaining)
        while remaining:
            chunk = src.read(min(remaining, _COPY_CHUNK))
            if not chunk:
                raise ValueError("the file is shorter than expected") from None
            dst.write(chunk)
            remaining -= len(chunk)


def splice(path: Path, keep_bytes: int, entries: Sequence[Any]) -> int:
    """Replace path atomically with its first keep_bytes bytes, then entries, then "]".

    keep_bytes ends just after an entry (or is 1: only the opening bracket). Returns the new size.
    """
    body = encode_entries(entries)
    with atomic_path(path) as tmp, path.open("rb") as src, tmp.open("r+b") as dst:
        _copy_prefix(src, dst, keep_bytes)
        dst.seek(keep_bytes)
        if body:
            dst.write(b",\n" if keep_bytes > len(ARRAY_OPEN) else b"\n")
            dst.write(body)
            dst.write(ARRAY_CLOSE)
        else:
            dst.write(b"]\n" if keep_bytes == len(ARRAY_OPEN) else ARRAY_CLOSE)
        dst.truncate()
        size = dst.tell()
    return size


def write_array(path: Path, entries: Sequence[Any]) -> ArrayFile:
    """Write the whole array (dumps_json, atomically) and describe what was written."""
    data = dumps_json(list(entries))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return described(path, len(entries))


def append(path: Path, known: ArrayFile, entries: Sequence[Any]) -> ArrayFile | None:
    """Add entries at the end of an array this process wrote; None when the file is not as known.

    The caller then writes the whole array instead (and checks it holds no fewer entries).
    """
    if file_key(path) != known.key:
        return None
    if not entries:
        return known
    splice(path, known.body_end, entries)
    return described(path, known.entries + len(entries))


def described(path: Path, entries: int) -> ArrayFile:
    """What path (an array of `entries` entries this process just wrote) holds now."""
    key = file_key(path)
    if key is None:
        raise FileNotFoundError(path)
    body_end = len(ARRAY_OPEN) if entries == 0 else key[1] - len(ARRAY_CLOSE)
    return ArrayFile(key, entries, body_end)


def last_day(path: Path) -> tuple[str, int] | None:
    """(last date, where its entries begin) of a date-ordered archive this daemon wrote.

    The offset is the keep_bytes for `splice` that drops that date's entries and keeps the earlier
    ones. None when the file is absent, empty or not in the layout dumps_json writes.
    """
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size < len(b"[]\n"):
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _last_day(data)
    except (FileNotFoundError, ValueError):
        return None


def _date_at(data: mmap.mmap, entry: int) -> bytes:
    start = entry + len(DATED_ENTRY)
    return data[start : start + _DATE_LEN]


def _last_day(data: mmap.mmap) -> tuple[str, int] | None:
    if data[:2] != b"[\n" or data[-len(ARRAY_CLOSE) :] != ARRAY_CLOSE:
        return None
    first = data.rfind(DATED_ENTRY)
    if first < 0:
        return None
    day = _date_at(data, first)
    # walk back over that date's entries (one day's worth, not the month)
    while (previous := data.rfind(DATED_ENTRY, 0, first)) >= 0:
        if _date_at(data, previous) != day:
            break
        first = previous
    if first == len(ARRAY_OPEN):
        keep = len(ARRAY_OPEN)
    elif data[first - 1 : first] == b",":
        keep = first - 1
    else:
        return None
    try:
        return day.decode("ascii"), keep
    except UnicodeDecodeError:
        return None
