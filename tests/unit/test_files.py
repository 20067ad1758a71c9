"""Mirror files: atomic replacement, temp-file sweeping and formula-safe CSV."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from prescientd.mirrors.files import (
    dumps_json,
    escape_cell,
    sweep_temp_files,
    write_atomic,
    write_json,
    write_json_streamed,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("Will X win?", "Will X win?"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_escape_cell_neutralises_formula_leads(text: str, expected: str) -> None:
    """Every OWASP leading character gets a quote prefix; ordinary text is unchanged."""
    assert escape_cell(text) == expected


def test_write_atomic_replaces_and_sets_group_readable_mode(tmp_path: Path) -> None:
    """The file is replaced as a whole, is 0640 and no temp file remains."""
    target = tmp_path / "sub" / "f.json"
    write_json(target, {"v": "old"})
    write_json(target, {"v": "new", "n": Decimal("0.5")})
    assert json.loads(target.read_text()) == {"v": "new", "n": 0.5}
    assert (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_failed_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If fsync fails (disk full), the old file is untouched and the temp file is removed."""
    target = tmp_path / "f.json"
    write_json(target, {"v": "old"})
    original = target.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"x" * 1000)
    assert target.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_sweep_removes_only_our_temp_files(tmp_path: Path) -> None:
    """Leftover .prescientd-*.tmp files are removed at start-up; other files are kept."""
    (tmp_path / "a").mkdir()
    leftover = tmp_path / "a" / ".prescientd-abc.tmp"
    leftover.write_text("partial")
    keep = tmp_path / "a" / "notes.tmp"
    keep.write_text("mine")
    assert sweep_temp_files(tmp_path) == [leftover]
    assert keep.exists() and not leftover.exists()


def test_json_mirror_rejects_nan() -> None:
    """A NaN never reaches a mirror: serialising one is an error."""
    with pytest.raises(ValueError):
        dumps_json({"x": float("nan")})


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize(("count", "chunk"), [(0, 3), (1, 3), (3, 3), (7, 3), (10, 100)])
def test_streamed_json_is_the_one_piece_encoding(
    tmp_path: Path, count: int, chunk: int, compact: bool
) -> None:
    """Encoding the big mapping in chunks writes exactly what one encode writes, compact or
    indented (daily_prices keeps its indented bytes)."""
    head = {"generated_at": "2026-12-01T00:00:00.000000Z", "columns": ["a", "b"]}
    items = {
        f"{i:077d}": {"v": [str(i), Decimal("0.5"), None, True, "Atlético\nline"], "n": {}}
        for i in range(count)
    }
    path = tmp_path / "market_cache.json"
    size = write_json_streamed(
        path, head, "tokens", iter(items.items()), chunk=chunk, compact=compact
    )
    assert path.read_bytes() == dumps_json({**head, "tokens": items}, compact=compact)
    assert size == path.stat().st_size and oct(path.stat().st_mode & 0o777) == "0o640"
