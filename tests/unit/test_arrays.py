"""Growing JSON array mirrors: spliced files equal a full encode, dated tails, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prescientd.mirrors import arrays
from prescientd.mirrors.files import dumps_json


def _entries(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"seq": i, "question": f'Atlético "{i}",\n?', "levels": [{"p": 0.5}]}
        for i in range(start, start + n)
    ]


def _day(day: str, n: int) -> list[dict[str, Any]]:
    return [{"date": day, "market_id": str(i), "reason": 'a\n {\n  "date": "x'} for i in range(n)]


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 1), (0, 3), (1, 0), (1, 1), (4, 2)])
def test_append_equals_a_full_encode(tmp_path: Path, old: int, new: int) -> None:
    """Appending to a file this process wrote gives exactly dumps_json of all entries."""
    path = tmp_path / "paper_trades.json"
    known = arrays.write_array(path, _entries(old))
    grown = arrays.append(path, known, _entries(new, old))
    assert grown is not None and grown.entries == old + new
    assert path.read_bytes() == dumps_json(_entries(old + new))
    assert json.loads(path.read_bytes()) == _entries(old + new)
    again = arrays.append(path, grown, _entries(1, old + new))  # and again from the new state
    assert again is not None and path.read_bytes() == dumps_json(_entries(old + new + 1))


def test_append_refuses_a_file_changed_by_someone_else(tmp_path: Path) -> None:
    """A file not as this process left it is not appended to (the caller rewrites it in full)."""
    path = tmp_path / "paper_trades.json"
    known = arrays.write_array(path, _entries(2))
    path.write_bytes(dumps_json(_entries(3)))
    assert arrays.append(path, known, _entries(1, 3)) is None
    assert path.read_bytes() == dumps_json(_entries(3))


@pytest.mark.parametrize(
    ("days", "last", "kept"),
    [
        ([("2026-12-01", 3)], "2026-12-01", 0),
        ([("2026-12-01", 2), ("2026-12-02", 1)], "2026-12-02", 2),
        ([("2026-12-01", 1), ("2026-12-02", 3), ("2026-12-05", 2)], "2026-12-05", 4),
    ],
)
def test_last_day_and_splice_rewrite_only_the_last_day(
    tmp_path: Path, days: list[tuple[str, int]], last: str, kept: int
) -> None:
    """The last date's entries are found and replaced; the earlier days' bytes are kept."""
    path = tmp_path / "signals_archive_2026-12.json"
    entries = [e for day, n in days for e in _day(day, n)]
    path.write_bytes(dumps_json(entries))
    found = arrays.last_day(path)
    assert found is not None and found[0] == last
    grown = entries[:kept] + _day(last, 5) + _day("2026-12-09", 2)
    arrays.splice(path, found[1], grown[kept:])
    assert path.read_bytes() == dumps_json(grown)
    arrays.splice(path, arrays.last_day(path)[1], [])  # type: ignore[index]
    assert path.read_bytes() == dumps_json(grown[: len(grown) - 2])


@pytest.mark.parametrize(
    "content", [None, b"", b"[]\n", b"not json", b'[\n {\n  "seq": 1\n }\n]\n']
)
def test_last_day_is_none_for_files_not_in_the_archive_layout(
    tmp_path: Path, content: bytes | None
) -> None:
    """Absent, empty, entry-less or foreign files are rebuilt in full instead."""
    path = tmp_path / "signals_archive_2026-12.json"
    if content is not None:
        path.write_bytes(content)
    assert arrays.last_day(path) is None


def test_a_failed_splice_keeps_the_old_file(tmp_path: Path) -> None:
    """Entries that cannot be encoded leave the old file whole and no temporary file behind."""
    path = tmp_path / "signals_archive_2026-12.json"
    path.write_bytes(dumps_json(_day("2026-12-01", 2)))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        arrays.splice(path, 1, [{"date": "2026-12-01", "bad": object()}])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
