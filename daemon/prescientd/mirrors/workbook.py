"""data/exports/prescientd.xlsx: the exports as one typed workbook with an equity chart.

Written with XlsxWriter (write-only, native charts, a constant-memory mode for big sheets): ids are
text cells, times real date-times in UTC, money/percent/price cells numbers with a number format,
outside text a string cell (never a formula, so it needs no escaping here). The file is replaced
atomically like every other mirror.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from prescientd.mirrors.columns import Cell, Column, Export, Kind, coerce, resolve_columns
from prescientd.mirrors.files import FILE_MODE, atomic_path

EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, header included
EXCEL_MAX_TEXT = 32_767  # characters per cell
WIDTH_MIN, WIDTH_MAX = 6, 60  # characters; fitted widths stay in this range
WIDTH_SAMPLE_ROWS = 2_000  # rows looked at to fit widths (the rest are assumed alike)
CONSTANT_MEMORY_CELLS = 500_000  # above this many data cells, rows are streamed to disk
CHART_MARKERS_MAX_POINTS = 31  # markers on the equity line up to a month of points

# Number formats, by kind (also what the tests read back).
NUMBER_FORMATS: dict[Kind, str] = {
    Kind.DATETIME: "yyyy-mm-dd hh:mm:ss",
    Kind.DATE: "yyyy-mm-dd",
    Kind.USD: "$#,##0.00;[Red]-$#,##0.00",
    Kind.PERCENT: "0.00%",
    Kind.PRICE: "0.000",
    Kind.SHARES: "#,##0.00",
    Kind.INT: "0",
    Kind.RATE: "0.0000%",
    Kind.BOOL: '"TRUE";"TRUE";"FALSE"',  # without it Calc shows booleans as 1 and 0
    Kind.ID: "@",  # text: a user editing the cell keeps it text
    Kind.TEXT: "@",
}

_NUMBER_KINDS = frozenset(
    {Kind.USD, Kind.PERCENT, Kind.PRICE, Kind.SHARES, Kind.INT, Kind.NUMBER, Kind.RATE}
)
README_SHEET = "README"
EQUITY_SHEET = "equity"
EQUITY_COLUMNS = (
    Column("date", Kind.DATE),
    Column("equity_usd", Kind.USD),
    Column("drawdown", Kind.PERCENT),
)


@dataclass(frozen=True, slots=True)
class Sheet:
    """One data sheet: the export it mirrors and its rows (mappings keyed by column name)."""

    export: Export
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """One point of the equity curve: a local date, its equity and drawdown (a fraction <= 0)."""

    day: date
    equity_usd: Decimal | float
    drawdown: Decimal | float


@dataclass(frozen=True, slots=True)
class SheetSummary:
    """What was written to one sheet: rows written out of rows given."""

    name: str
    rows_written: int
    rows_total: int

    @property
    def truncated(self) -> bool:
        """True when the sheet could not hold every row."""
        return self.rows_written < self.rows_total


class _Formats:
    """The workbook's cell formats, created once per workbook."""

    def __init__(self, book: Any) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})
        self.link = book.get_default_url_format()
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self.by_kind = {
            kind: book.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()
        }

    def cell(self, kind: Kind) -> Any:
        """The format of a data cell of this kind (None = General)."""
        return self.by_kind.get(kind)


def write_workbook(
    path: Path,
    sheets: Sequence[Sheet],
    equity_points: Sequence[EquityPoint],
    built_at: datetime,
    *,
    max_rows: int = EXCEL_MAX_ROWS - 1,
    constant_memory: bool | None = None,
) -> list[SheetSummary]:
    """Write the workbook atomically (0640): README, equity chart, one sheet per export.

    A sheet with more rows than Excel holds keeps its first `max_rows` rows and the README sheet
    says so (the CSV has them all). `constant_memory` None = chosen by size: streaming rows to disk
    keeps memory flat for big workbooks, but then charts carry no cached values (Excel and Calc
    read the ranges anyway).
    """
    if built_at.tzinfo is None:
        raise ValueError("built_at must be timezone-aware")
    if constant_memory is None:
        cells = sum(len(s.rows) * len(s.export.columns) for s in sheets)
        constant_memory = cells > CONSTANT_MEMORY_CELLS
    summaries = [
        SheetSummary(s.export.name, min(len(s.rows), max_rows), len(s.rows)) for s in sheets
    ]
    # XlsxWriter streams rows to files of its own: keep them in a directory removed in any case
    with (
        tempfile.TemporaryDirectory(prefix="prescientd-xlsx-") as scratch,
        atomic_path(path, mode=FILE_MODE) as tmp,
    ):
        book = xlsxwriter.Workbook(
            str(tmp),
            {
                "constant_memory": constant_memory,
                "tmpdir": scratch,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        try:
            _fill(book, sheets, summaries, equity_points, built_at)
        except BaseException:
            with contextlib.suppress(Exception):
                book.close()  # closes its row files; the temporary workbook is then removed
            raise
        book.close()
    return summaries


def _fill(
    book: Any,
    sheets: Sequence[Sheet],
    summaries: Sequence[SheetSummary],
    equity_points: Sequence[EquityPoint],
    built_at: datetime,
) -> None:
    formats = _Formats(book)
    # Sheets are created in display order; each is filled top to bottom (constant memory).
    readme = book.add_worksheet(README_SHEET)
    equity = book.add_worksheet(EQUITY_SHEET)
    data_sheets = [book.add_worksheet(s.export.name) for s in sheets]
    _write_readme(readme, formats, sheets, summaries, equity_points, built_at)
    _write_equity(book, equity, formats, equity_points)
    for worksheet, sheet, summary in zip(data_sheets, sheets, summaries, strict=True):
        _write_data_sheet(worksheet, formats, sheet, summary.rows_written)


def _write_readme(
    ws: Any,
    formats: _Formats,
    sheets: Sequence[Sheet],
    summaries: Sequence[SheetSummary],
    equity_points: Sequence[EquityPoint],
    built_at: datetime,
) -> None:
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 20)  # fits the build time (19 characters)
    ws.set_column(2, 2, 70)
    ws.set_column(3, 3, 50)
    ws.write_string(0, 0, "prescientd paper-trading workbook", formats.title)
    ws.write_string(1, 0, "built at (UTC)", formats.bold)
    built_utc = built_at.astimezone(UTC).replace(tzinfo=None)
    ws.write_datetime(1, 1, built_utc, formats.cell(Kind.DATETIME))
    ws.write_string(
        2,
        0,
        "Rebuilt from the SQLite ledger together with the CSV files in this folder; "
        "do not edit it (the next rebuild replaces it): copy sheets elsewhere to work on them.",
    )
    for col, title in enumerate(("sheet", "rows", "what it is", "note")):
        ws.write_string(4, col, title, formats.header)
    entries = [
        (EQUITY_SHEET, len(equity_points), "Daily equity and drawdown with a chart.", ""),
        *(
            (s.export.name, m.rows_written, s.export.description, _truncation_note(m))
            for s, m in zip(sheets, summaries, strict=True)
        ),
    ]
    for offset, (name, rows, what, note) in enumerate(entries):
        row = 5 + offset
        ws.write_url(row, 0, f"internal:'{name}'!A1", formats.link, name)
        ws.write_number(row, 1, rows, formats.cell(Kind.INT))
        ws.write_string(row, 2, what, formats.wrap)
        if note:
            ws.write_string(row, 3, note, formats.wrap)
    row = 6 + len(entries)
    for line in _CONVENTIONS:
        ws.write_string(row, 0, line)
        row += 1


_CONVENTIONS = (
    "Conventions:",
    "Times are UTC (the column headers say so); dates are local dates of the configured timezone.",
    "Money is in US dollars; percent columns hold fractions (0.05 is shown as 5.00%).",
    "Prices are 0..1 (the probability the market gives the outcome), shown with 3 decimals.",
    "Ids (token, condition, market, event, trade) are text: copy them as they are.",
    "Column names are those of the CSV files, the JSON mirrors and `prescientd status --json`.",
)


def _truncation_note(summary: SheetSummary) -> str:
    if not summary.truncated:
        return ""
    return (
        f"Truncated: the first {summary.rows_written:,} of {summary.rows_total:,} rows "
        f"(a sheet holds {EXCEL_MAX_ROWS:,} rows); the CSV file has every row."
    )


def _write_data_sheet(ws: Any, formats: _Formats, sheet: Sheet, rows_written: int) -> None:
    rows = sheet.rows[:rows_written]
    columns = resolve_columns(sheet.export.columns, rows)
    for col, column in enumerate(columns):
        ws.set_column(col, col, _fitted_width(column, rows), formats.cell(column.kind))
        ws.write_string(0, col, column.workbook_header(), formats.header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(columns) - 1)
    writers = [_cell_writer(ws, column, formats.cell(column.kind)) for column in columns]
    names = [column.name for column in columns]
    for index, row in enumerate(rows, start=1):
        for col, (name, write) in enumerate(zip(names, writers, strict=True)):
            value = row.get(name)
            if value is not None:
                write(index, col, value)


def _cell_writer(ws: Any, column: Column, fmt: Any) -> Callable[[int, int, Any], None]:
    """A function writing one value of this column as a typed cell."""
    is_text = column.kind in (Kind.TEXT, Kind.ID)
    text_fmt = fmt if is_text else None
    is_number = column.kind in _NUMBER_KINDS

    def write(row: int, col: int, value: Any) -> None:
        # fast paths for the common shapes (a third of the run time on big sheets)
        value_type = type(value)
        if is_text and value_type is str:
            ws.write_string(row, col, value[:EXCEL_MAX_TEXT], text_fmt)
            return
        if is_number and (value_type is float or value_type is int) and math.isfinite(value):
            ws.write_number(row, col, value, fmt)
            return
        cell = coerce(column, value)
        if cell is None or cell == "":  # an empty list (no changed keys) is a blank cell, as in CSV
            return
        if isinstance(cell, str):  # text, ids, and values that did not fit their kind
            ws.write_string(row, col, cell[:EXCEL_MAX_TEXT], text_fmt)
        elif isinstance(cell, bool):
            ws.write_boolean(row, col, cell, fmt)
        elif isinstance(cell, datetime):
            ws.write_datetime(row, col, cell.replace(tzinfo=None), fmt)  # coerce made it UTC
        elif isinstance(cell, date):
            ws.write_datetime(row, col, cell, fmt)
        else:
            ws.write_number(row, col, float(cell), fmt)

    return write


def _display_width(column: Column, cell: Cell) -> int:
    """How many characters a cell shows (roughly, in its number format)."""
    if cell is None:
        return 0
    if isinstance(cell, str):
        return max((len(line) for line in cell.splitlines()), default=0)
    if isinstance(cell, bool):
        return 5
    if isinstance(cell, datetime):
        return 19
    if isinstance(cell, date):
        return 10
    number = float(cell)
    if column.kind is Kind.USD:
        return len(f"${number:,.2f}")
    if column.kind is Kind.PERCENT:
        return len(f"{number * 100:.2f}%")
    if column.kind is Kind.RATE:
        return len(f"{number * 100:.4f}%")
    if column.kind is Kind.PRICE:
        return len(f"{number:.3f}")
    if column.kind is Kind.SHARES:
        return len(f"{number:,.2f}")
    return min(len(str(cell)), 12)


def _fitted_width(column: Column, rows: Sequence[Mapping[str, Any]]) -> int:
    """A column width fitted to the header and the first rows, within WIDTH_MIN..WIDTH_MAX."""
    if column.width is not None:
        return column.width
    widest = len(column.workbook_header()) + 2  # room for the auto-filter button
    for row in rows[:WIDTH_SAMPLE_ROWS]:
        widest = max(widest, _display_width(column, coerce(column, row.get(column.name))) + 1)
    return max(WIDTH_MIN, min(widest, WIDTH_MAX))


def _write_equity(book: Any, ws: Any, formats: _Formats, points: Sequence[EquityPoint]) -> None:
    rows = [{"date": p.day, "equity_usd": p.equity_usd, "drawdown": p.drawdown} for p in points]
    _write_data_sheet(ws, formats, Sheet(Export(EQUITY_SHEET, "", EQUITY_COLUMNS), rows), len(rows))
    if not rows:
        ws.write_string(2, 0, "No evening snapshot yet: the curve starts with the first one.")
        return
    ws.insert_chart(1, len(EQUITY_COLUMNS) + 1, _equity_chart(book, points))


def _equity_chart(book: Any, points: Sequence[EquityPoint]) -> Any:
    """A line chart of the equity sheet: equity on the left axis, drawdown on the right."""
    last = len(points)
    chart = book.add_chart({"type": "line"})
    markers = (
        {"type": "circle", "size": 5} if last <= CHART_MARKERS_MAX_POINTS else {"type": "none"}
    )
    chart.add_series(
        {
            "name": "equity (USD)",
            "categories": [EQUITY_SHEET, 1, 0, last, 0],
            "values": [EQUITY_SHEET, 1, 1, last, 1],
            "line": {"color": "#1F4E79", "width": 2.25},
            "marker": markers,
        }
    )
    chart.add_series(
        {
            "name": "drawdown",
            "categories": [EQUITY_SHEET, 1, 0, last, 0],
            "values": [EQUITY_SHEET, 1, 2, last, 2],
            "y2_axis": True,
            "line": {"color": "#C00000", "width": 1.5},
            "marker": markers,
        }
    )
    chart.set_title({"name": "Daily equity and drawdown"})
    chart.set_x_axis({"date_axis": True, "num_format": "yyyy-mm-dd", "num_font": {"rotation": -45}})
    chart.set_y_axis(
        {"name": "equity (USD)", "num_format": "$#,##0", "major_gridlines": {"visible": True}}
    )
    # drawdown is <= 0: the axis runs from 0 down to the next whole percent below the worst point
    # (left to the spreadsheet, an all-zero series gets a 0..100% axis)
    worst = min(float(p.drawdown) for p in points)
    y2_min = -min(1.0, max(0.01, math.ceil(round(-worst * 100 * 1.1, 9)) / 100))
    chart.set_y2_axis({"name": "drawdown", "num_format": "0%", "max": 0, "min": y2_min})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 900, "height": 420})
    return chart
