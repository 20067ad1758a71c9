"""The workbook read back with openpyxl: typed cells, formats, frozen header, chart, README."""

from __future__ import annotations

import re
import tempfile
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from prescientd.clock import parse_iso_utc
from prescientd.mirrors.columns import (
    MARKETS_EXTRACTED,
    PERFORMANCE_DAILY,
    POSITIONS_CURRENT,
    TRADES_SUMMARY,
    Kind,
)
from prescientd.mirrors.workbook import (
    NUMBER_FORMATS,
    WIDTH_MAX,
    WIDTH_MIN,
    EquityPoint,
    Sheet,
    write_workbook,
)
from spreadsheet_rows import performance_rows, position_rows, real_condition_ids, real_token_ids

BUILT_AT = datetime(2026, 12, 2, 0, 40, 1, tzinfo=UTC)
POINTS = [
    EquityPoint(date(2026, 10, 6) + timedelta(days=i), Decimal(10_000) + 25 * i, -0.002 * (i % 3))
    for i in range(6)
]


def _market_rows() -> list[dict[str, Any]]:
    """markets_extracted-like rows: a condition id and both token ids per market."""
    tokens, conditions = real_token_ids(), real_condition_ids()
    return [
        {
            "event_id": "1000",
            "market_id": str(600 + i),
            "condition_id": conditions[i],
            "question": f"Market {i}",
            "yes_token_id": tokens[2 * i],
            "no_token_id": tokens[2 * i + 1],
            "end_date": "2026-12-31T00:00:00.000000Z",
            "liquidity_usd": 1234.5,
            "tags": ["sports", "soccer"],
        }
        for i in range(len(tokens) // 2)
    ]


def _headers(ws: Any) -> list[str]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def _column(ws: Any, header: str) -> list[Any]:
    """The cells of one column below the header."""
    index = _headers(ws).index(header)
    return [row[index] for row in ws.iter_rows(min_row=2)]


@pytest.fixture(params=[False, True], ids=["in-memory", "constant-memory"])
def book(request: pytest.FixtureRequest, tmp_path: Path) -> openpyxl.Workbook:
    """A workbook written in both XlsxWriter modes, opened with openpyxl."""
    path = tmp_path / "prescientd.xlsx"
    sheets = [
        Sheet(POSITIONS_CURRENT, position_rows()),
        Sheet(PERFORMANCE_DAILY, performance_rows()),
        Sheet(MARKETS_EXTRACTED, _market_rows()),
        Sheet(TRADES_SUMMARY, []),
    ]
    write_workbook(path, sheets, POINTS, BUILT_AT, constant_memory=request.param)
    return openpyxl.load_workbook(path)


def test_sheets_are_readme_equity_then_exports(book: openpyxl.Workbook) -> None:
    """README first, then the equity sheet, then one sheet per export in the given order."""
    assert book.sheetnames == [
        "README",
        "equity",
        "positions_current",
        "performance_daily",
        "markets_extracted",
        "trades_summary",
    ]


def test_id_cells_are_strings_equal_to_the_source(book: openpyxl.Workbook) -> None:
    """Every token, condition, market and event id is a text cell holding the source id exactly."""
    positions, markets = book["positions_current"], book["markets_extracted"]
    source = position_rows()
    for header in ("token_id", "market_id", "event_id"):
        cells = _column(positions, header)
        assert [c.value for c in cells] == [r[header] for r in source]
        assert all(c.data_type == "s" and c.number_format == "@" for c in cells)
    for header in ("yes_token_id", "no_token_id", "condition_id"):
        cells = _column(markets, header)
        assert [c.value for c in cells] == [r[header] for r in _market_rows()]
        assert all(c.data_type == "s" for c in cells)
    assert {c.value for c in _column(positions, "token_id")} <= set(real_token_ids())


def test_timestamps_are_utc_datetimes(book: openpyxl.Workbook) -> None:
    """ISO strings and aware datetimes become real date-time cells in UTC, header saying so."""
    cells = _column(book["positions_current"], "opened_at (UTC)")
    expected = [parse_iso_utc(r["opened_at"]).replace(tzinfo=None) for r in position_rows()]
    assert all(isinstance(c.value, datetime) for c in cells)
    # a spreadsheet keeps milliseconds
    assert all(
        abs(c.value - e) < timedelta(milliseconds=1) for c, e in zip(cells, expected, strict=True)
    )
    assert {c.number_format for c in cells} == {"yyyy-mm-dd hh:mm:ss"}
    as_of = _column(book["positions_current"], "as_of (UTC)")[0].value
    assert as_of == position_rows()[0]["as_of"].replace(tzinfo=None, microsecond=706000)


def test_money_percent_and_price_cells_are_numbers_with_formats(book: openpyxl.Workbook) -> None:
    """Money has the currency format, returns and win rate percent, prices 0.000."""
    positions, performance = book["positions_current"], book["performance_daily"]
    pnl = _column(positions, "unrealized_pnl_usd")
    assert [c.value for c in pnl] == [r["unrealized_pnl_usd"] for r in position_rows()]
    assert {c.number_format for c in pnl} == {NUMBER_FORMATS[Kind.USD]}
    price = _column(positions, "display_price")
    assert [c.value for c in price] == [r["display_price"] for r in position_rows()]
    assert {c.number_format for c in price} == {"0.000"}
    for header in ("daily_return", "drawdown", "win_rate", "cumulative_return"):
        cells = [c for c in _column(performance, header) if c.value is not None]
        assert cells and all(c.data_type == "n" for c in cells)
        assert {c.number_format for c in cells} == {"0.00%"}
    win_rates = [c.value for c in _column(performance, "win_rate")]
    assert win_rates == [r["win_rate"] for r in performance_rows()]


def test_booleans_are_boolean_cells_shown_as_true_false(book: openpyxl.Workbook) -> None:
    """Flags are boolean cells with a TRUE/FALSE format (Calc would show 1/0 without one)."""
    cells = _column(book["positions_current"], "stale")
    assert [c.value for c in cells] == [r["stale"] for r in position_rows()]
    assert {(c.data_type, c.number_format) for c in cells} == {("b", '"TRUE";"TRUE";"FALSE"')}


def test_outside_text_is_text_never_a_formula(book: openpyxl.Workbook) -> None:
    """Formula-like and accented questions are stored as typed, without an escaping apostrophe."""
    questions = [c for c in _column(book["positions_current"], "question")]
    assert [c.value for c in questions] == [r["question"] for r in position_rows()]
    assert all(c.data_type == "s" for c in questions)
    assert questions[0].value == "Atlético Madrid vs. Bayern München: who wins?"
    assert questions[1].value.startswith('=HYPERLINK("')


def test_header_frozen_filter_on_and_widths_fitted(book: openpyxl.Workbook) -> None:
    """Each data sheet freezes its header, filters over its data, and widths stay bounded."""
    for name in ("positions_current", "performance_daily", "markets_extracted", "trades_summary"):
        ws = book[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
        widths = [d.width for d in ws.column_dimensions.values()]
        assert widths and all(WIDTH_MIN <= w <= WIDTH_MAX + 1 for w in widths)
    positions = book["positions_current"]
    question_width = positions.column_dimensions["A"].width
    assert question_width > positions.column_dimensions["B"].width  # question vs outcome


def test_an_empty_export_has_its_header(book: openpyxl.Workbook) -> None:
    """A sheet with no rows still shows the spec's columns (optional ones come with rows)."""
    assert _headers(book["trades_summary"])[:3] == ["time (UTC)", "question", "outcome"]


def test_readme_says_when_built_and_lists_every_sheet(book: openpyxl.Workbook) -> None:
    """README has the build time as a UTC date-time and one linked line per sheet with its rows."""
    ws = book["README"]
    values = [row for row in ws.iter_rows(values_only=True)]
    assert values[1][:2] == ("built at (UTC)", BUILT_AT.replace(tzinfo=None))
    assert ws["B2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws.column_dimensions["B"].width >= len("2026-12-02 00:40:01")
    listed = {row[0]: row[1] for row in values[5:10]}
    assert listed == {
        "equity": len(POINTS),
        "positions_current": len(position_rows()),
        "performance_daily": len(performance_rows()),
        "markets_extracted": len(_market_rows()),
        "trades_summary": 0,
    }
    assert ws["A7"].hyperlink.location == "'positions_current'!A1"


def test_equity_sheet_has_points_and_a_two_series_line_chart(tmp_path: Path) -> None:
    """The equity sheet lists the points; chart1.xml plots equity and drawdown on two axes."""
    path = tmp_path / "prescientd.xlsx"
    write_workbook(path, [], POINTS, BUILT_AT)
    ws = openpyxl.load_workbook(path)["equity"]
    assert [r for r in ws.iter_rows(min_row=2, values_only=True)] == [
        (datetime(p.day.year, p.day.month, p.day.day), float(p.equity_usd), p.drawdown)
        for p in POINTS
    ]
    assert len(ws._charts) == 1
    with zipfile.ZipFile(path) as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    last = len(POINTS) + 1
    assert re.findall(r"<c:f>([^<]*)</c:f>", chart) == [
        f"equity!$A$2:$A${last}",
        f"equity!$B$2:$B${last}",
        f"equity!$A$2:$A${last}",
        f"equity!$C$2:$C${last}",
    ]
    assert chart.count("<c:lineChart>") == 2 and chart.count("<c:valAx>") == 2
    # the drawdown axis runs from 0 down to the next whole percent below the worst point (-0.4%)
    assert '<c:max val="0"/><c:min val="-0.01"/>' in chart


def test_no_equity_points_means_no_chart_and_a_note(tmp_path: Path) -> None:
    """Before the first evening snapshot the equity sheet says so instead of an empty chart."""
    path = tmp_path / "prescientd.xlsx"
    write_workbook(path, [], [], BUILT_AT)
    ws = openpyxl.load_workbook(path)["equity"]
    assert not ws._charts
    assert "No evening snapshot yet" in ws["A3"].value


def test_rows_beyond_the_limit_are_cut_and_the_readme_says_so(tmp_path: Path) -> None:
    """A sheet over the row limit keeps its first rows and the README notes the truncation."""
    path = tmp_path / "prescientd.xlsx"
    rows = position_rows(6)
    summaries = write_workbook(path, [Sheet(POSITIONS_CURRENT, rows)], POINTS, BUILT_AT, max_rows=4)
    assert [(s.rows_written, s.rows_total, s.truncated) for s in summaries] == [(4, 6, True)]
    book = openpyxl.load_workbook(path)
    ids = [c.value for c in _column(book["positions_current"], "market_id")]
    assert ids == [r["market_id"] for r in rows[:4]]
    note = book["README"]["D7"].value
    assert "first 4 of 6 rows" in note and "CSV" in note


def test_workbook_is_replaced_atomically_with_mirror_mode(tmp_path: Path) -> None:
    """The file is 0640, replaces the old one, and no temp file is left behind."""
    path = tmp_path / "exports" / "prescientd.xlsx"
    write_workbook(path, [], [], BUILT_AT)
    write_workbook(path, [Sheet(POSITIONS_CURRENT, position_rows())], POINTS, BUILT_AT)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["prescientd.xlsx"]
    assert "positions_current" in openpyxl.load_workbook(path).sheetnames


@pytest.mark.parametrize("constant_memory", [False, True])
def test_a_failed_write_keeps_the_old_workbook(tmp_path: Path, constant_memory: bool) -> None:
    """If writing fails midway the old workbook stays; no temp file or scratch directory is left."""
    scratch_before = set(Path(tempfile.gettempdir()).glob("prescientd-xlsx-*"))
    path = tmp_path / "prescientd.xlsx"
    write_workbook(path, [], POINTS, BUILT_AT)
    before = path.read_bytes()

    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        rows = [*position_rows(), Exploding(question="q")]
        sheets = [Sheet(POSITIONS_CURRENT, rows)]
        write_workbook(path, sheets, [], BUILT_AT, constant_memory=constant_memory)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["prescientd.xlsx"]
    assert set(Path(tempfile.gettempdir()).glob("prescientd-xlsx-*")) == scratch_before


def test_naive_built_at_is_refused(tmp_path: Path) -> None:
    """A build time without a timezone is a programming error, not a guess."""
    with pytest.raises(ValueError, match="timezone"):
        write_workbook(tmp_path / "x.xlsx", [], [], datetime(2026, 1, 1))
