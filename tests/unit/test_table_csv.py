"""Spreadsheet-friendly CSV (DESIGN.md §7): BOM, typed cells, UTC times, ids, escaping."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from prescientd.mirrors.columns import (
    EXPORTS,
    PERFORMANCE_DAILY,
    POSITIONS_CURRENT,
    Column,
    Kind,
)
from prescientd.mirrors.files import csv_cell, escape_cell, render_table_csv, write_table_csv
from spreadsheet_rows import QUESTIONS, performance_rows, position_rows, real_token_ids


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Kind.DATETIME, "2026-12-01T23:37:06.706187Z", "2026-12-01 23:37:06"),
        (
            Kind.DATETIME,
            datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC),
            "2026-12-01 23:59:59",
        ),
        (Kind.DATE, "2026-10-06", "2026-10-06"),
        (Kind.USD, 0.1 + 0.2, "0.3"),
        (Kind.USD, Decimal("100.012345"), "100.012345"),
        (Kind.USD, Decimal("100.00"), "100"),
        (Kind.USD, -0.0000001, "0"),
        (Kind.USD, 1234567.5, "1234567.5"),
        (Kind.PERCENT, 0.0523, "0.0523"),
        (Kind.PERCENT, 1 / 3, "0.333333"),
        (Kind.PRICE, 0.5449999999, "0.545"),
        (Kind.SHARES, 181.8181818, "181.818182"),
        (Kind.INT, 12, "12"),
        (Kind.BOOL, True, "true"),
        (Kind.USD, float("nan"), ""),
        (Kind.USD, None, ""),
        (Kind.ID, "=1+2", "'=1+2"),
        (Kind.TEXT, "@elonmusk", "'@elonmusk"),
        (Kind.TEXT, "Atlético", "Atlético"),
        (Kind.DATETIME, "+not a time", "'+not a time"),
    ],
)
def test_csv_cell_spelling(kind: Kind, value: Any, expected: str) -> None:
    """Times are YYYY-MM-DD HH:MM:SS UTC, numbers plain with at most 6 decimals, text escaped."""
    assert csv_cell(Column("c", kind), value) == expected


def test_csv_starts_with_a_bom_and_round_trips_ids_and_text(tmp_path: Path) -> None:
    """BOM first; DictReader(utf-8-sig) gives back ids, accented text and escaped formulas."""
    rows = position_rows()
    path = tmp_path / POSITIONS_CURRENT.filename
    write_table_csv(path, POSITIONS_CURRENT.columns, rows)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert path.read_bytes() == render_table_csv(POSITIONS_CURRENT.columns, rows)
    assert (path.stat().st_mode & 0o777) == 0o640
    parsed = _read(path)
    assert [r["token_id"] for r in parsed] == [r["token_id"] for r in rows]
    assert set(real_token_ids()) >= {r["token_id"] for r in parsed}
    assert [r["question"] for r in parsed] == [escape_cell(q) for q in QUESTIONS]
    assert parsed[0]["question"] == "Atlético Madrid vs. Bayern München: who wins?"
    assert parsed[1]["question"].startswith("'=HYPERLINK(")
    assert parsed[0]["opened_at"] == "2026-12-01 23:37:06"
    assert parsed[0]["as_of"] == "2026-12-02 00:37:06"
    assert parsed[0]["cost_usd"] == "100.012345"
    assert [r["stale"] for r in parsed[:2]] == ["true", "false"]


def test_csv_columns_follow_the_spec_with_ids_last() -> None:
    """The header is the spec's order restricted to the data's keys: human first, ids last."""
    rows = position_rows()
    header = render_table_csv(POSITIONS_CURRENT.columns, rows).decode("utf-8-sig").splitlines()[0]
    expected = [c.name for c in POSITIONS_CURRENT.columns if c.name in rows[0]]
    assert header.split(",") == expected
    assert header.split(",")[:3] == ["question", "outcome", "unrealized_pnl_usd"]
    assert header.split(",")[-3:] == ["market_id", "event_id", "token_id"]


def test_csv_percent_columns_are_fractions(tmp_path: Path) -> None:
    """Returns and win rate stay fractions (not percent numbers); an empty value stays empty."""
    rows = performance_rows()
    path = tmp_path / PERFORMANCE_DAILY.filename
    write_table_csv(path, PERFORMANCE_DAILY.columns, rows)
    parsed = _read(path)
    assert [r["cumulative_return"] for r in parsed[:2]] == ["", "0.0523"]
    assert [r["win_rate"] for r in parsed[:2]] == ["", "1"]
    assert parsed[3]["drawdown"] == "-0.004"
    assert [Decimal(r["equity_usd"]) for r in parsed] == [
        Decimal(str(r["equity_usd"])) for r in rows
    ]


@pytest.mark.parametrize("export", EXPORTS, ids=lambda e: e.name)
def test_empty_csv_has_the_spec_header_after_a_bom(export: Any) -> None:
    """With no rows a file still has its BOM and the spec's header, optional columns aside."""
    text = render_table_csv(export.columns, []).decode("utf-8")
    required = [c.name for c in export.columns if not c.optional]
    assert text == "\ufeff" + ",".join(required) + "\r\n"


def test_an_optional_column_takes_its_declared_place_once_rows_carry_it() -> None:
    """`strategy` is left out until rows name it; then it is the first column, as declared."""
    rows = position_rows(2)
    without = render_table_csv(POSITIONS_CURRENT.columns, rows).decode("utf-8-sig")
    assert "strategy" not in without.splitlines()[0].split(",")
    with_strategy = [{**r, "strategy": "default"} for r in rows]
    text = render_table_csv(POSITIONS_CURRENT.columns, with_strategy).decode("utf-8-sig")
    assert text.splitlines()[0].split(",")[0] == "strategy"


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        5.0,
        -5.0,
        100.0,
        0.5,
        0.515,
        1e-06,
        1.5e-07,
        123456.789012,
        -12.345678,
        1234567.123457,
        0.1 + 0.2,
        1e16,
        2.5e-05,
        99999999.5,
        float("inf"),
        -7.0000001,
    ],
)
@pytest.mark.parametrize("kind", [Kind.USD, Kind.PERCENT, Kind.PRICE, Kind.SHARES, Kind.NUMBER])
def test_float_cells_spell_as_their_decimal(kind: Kind, value: float) -> None:
    """The fast float spelling is the Decimal one: 6 decimals half-even, no exponent, no -0."""
    column = Column("c", kind)
    assert csv_cell(column, value) == csv_cell(column, Decimal(repr(value)))
    assert "e" not in csv_cell(column, value)


@pytest.mark.parametrize("kind", [Kind.USD, Kind.INT, Kind.SHARES])
def test_int_cells_are_plain_integers(kind: Kind) -> None:
    """Whole numbers stay whole in every numeric column, negative ones too."""
    assert [csv_cell(Column("c", kind), v) for v in (0, 7, -12, 10**20)] == [
        "0",
        "7",
        "-12",
        "100000000000000000000",
    ]
