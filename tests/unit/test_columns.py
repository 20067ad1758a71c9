"""Column specs: kinds, ordering (ids last), data-derived columns and the proposed export specs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from prescientd.mirrors.columns import (
    EVENTS_FILTERED,
    EXPORTS,
    Column,
    Export,
    Kind,
    coerce,
    infer_column,
    order_columns,
    resolve_columns,
)

RETIRED_NAMES = {"fees_paid_usd", "trades", "price_stale", "fee_usd", "display"}  # see Changelog
TOKEN = "89972346417086440659189114668296975440208562769200022591480064439842896371398"


def _names(columns: list[Column]) -> list[str]:
    return [c.name for c in columns]


def test_order_puts_human_columns_first_then_short_ids_then_long_ids() -> None:
    """Ids move to the end, long ids (token, condition, key) after short ones; ties keep order."""
    given = [
        Column("token_id", Kind.ID),
        Column("market_id", Kind.ID),
        Column("question", Kind.TEXT),
        Column("condition_id", Kind.ID),
        Column("unrealized_pnl_usd", Kind.USD),
        Column("event_id", Kind.ID),
        Column("opened_at", Kind.DATETIME),
    ]
    assert _names(order_columns(given)) == [
        "question",
        "unrealized_pnl_usd",
        "opened_at",
        "market_id",
        "event_id",
        "token_id",
        "condition_id",
    ]


@pytest.mark.parametrize(
    ("name", "sample", "kind"),
    [
        ("yes_token_id", TOKEN, Kind.ID),
        ("trade_id", 7, Kind.ID),
        ("idempotency_key", "k", Kind.ID),
        ("bid_depth_usd", 1.5, Kind.USD),
        ("first_seen_at", "2026-10-06T14:00:00Z", Kind.DATETIME),
        ("when", datetime(2026, 1, 1, tzinfo=UTC), Kind.DATETIME),
        ("date", "2026-10-06", Kind.DATE),
        ("flag", True, Kind.BOOL),
        ("evaluations", 3, Kind.INT),
        ("ratio", 0.5, Kind.NUMBER),
        ("note", "hello", Kind.TEXT),
        ("unknown", None, Kind.TEXT),
    ],
)
def test_infer_column_from_vocabulary_suffixes(name: str, sample: Any, kind: Kind) -> None:
    """A key no spec lists gets a kind from its name's suffix, else from its value."""
    assert infer_column(name, sample).kind is kind


def test_resolve_columns_comes_from_the_data_and_keeps_unknown_keys() -> None:
    """Spec columns no row has are left out; an unlisted key is kept, typed, ids still last."""
    specs = (Column("question", Kind.TEXT), Column("strategy", Kind.TEXT), Column("x_id", Kind.ID))
    rows: list[dict[str, object]] = [
        {"x_id": "1", "question": "q"},
        {"x_id": "2", "question": "r", "paid_usd": 2.5},
    ]
    columns = resolve_columns(specs, rows)
    assert _names(columns) == ["question", "paid_usd", "x_id"]
    assert columns[1].kind is Kind.USD


def test_resolve_columns_without_rows_is_the_spec() -> None:
    """An empty file still has every spec column in the header."""
    assert resolve_columns(EVENTS_FILTERED.columns, []) == list(EVENTS_FILTERED.columns)


_UTC_PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Kind.ID, TOKEN, TOKEN),
        (Kind.ID, 12, "12"),
        (Kind.TEXT, ["sports", "soccer"], "sports;soccer"),
        (Kind.TEXT, "=1+1", "=1+1"),  # escaping is the CSV's job, not the value's
        (
            Kind.DATETIME,
            "2026-12-01T23:37:06.706187Z",
            datetime(2026, 12, 1, 23, 37, 6, 706187, tzinfo=UTC),
        ),
        (
            Kind.DATETIME,
            datetime(2026, 12, 2, 1, 0, tzinfo=_UTC_PLUS_2),
            datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        ),
        (Kind.DATETIME, "yesterday", "yesterday"),
        (Kind.DATE, "2026-10-06", date(2026, 10, 6)),
        (Kind.USD, 0.1, Decimal("0.1")),
        (Kind.USD, Decimal("12.345678"), Decimal("12.345678")),
        (Kind.USD, "n/a", "n/a"),
        (Kind.USD, float("nan"), None),
        (Kind.PERCENT, Decimal("Infinity"), None),
        (Kind.PRICE, 1, Decimal(1)),
        (Kind.INT, 3.0, 3),
        (Kind.INT, 2.5, "2.5"),
        (Kind.BOOL, False, False),
        (Kind.BOOL, "yes", "yes"),
        (Kind.USD, None, None),
    ],
)
def test_coerce_types_values_and_falls_back_to_text(kind: Kind, value: Any, expected: Any) -> None:
    """Values become their kind (times in UTC); what does not fit is shown as text, NaN as empty."""
    assert coerce(Column("c", kind), value) == expected


def test_workbook_header_says_utc_for_times() -> None:
    """Date-time headers carry (UTC); others are the vocabulary name unless overridden."""
    assert Column("opened_at", Kind.DATETIME).workbook_header() == "opened_at (UTC)"
    assert Column("equity_usd", Kind.USD).workbook_header() == "equity_usd"
    assert Column("x", Kind.TEXT, header="X").workbook_header() == "X"


def test_exports_are_the_csvs_of_the_design() -> None:
    """The specs cover exactly the CSV exports DESIGN.md §3, §10 and §11 name, each a valid
    sheet name."""
    assert sorted(e.filename for e in EXPORTS) == sorted(
        [
            "events_filtered.csv",
            "markets_extracted.csv",
            "markets_current.csv",
            "signals_current.csv",
            "trades_summary.csv",
            "portfolio_history.csv",
            "positions_current.csv",
            "performance_daily.csv",
            "strategies.csv",
            # DESIGN §11: the analytics report
            "report_calibration.csv",
            "report_brier.csv",
            "report_capital.csv",
            "report_events.csv",
            "report_versions.csv",
            "report_depth.csv",
            "report_depth_summary.csv",
            "report_depth_histogram.csv",
        ]
    )
    for export in EXPORTS:
        assert len(export.name) <= 31 and export.description


@pytest.mark.parametrize("export", EXPORTS, ids=lambda e: e.name)
def test_export_specs_are_ordered_unique_and_use_the_vocabulary(export: Export) -> None:
    """Each spec is in final order (ids last), names are unique and not the old spellings."""
    names = [c.name for c in export.columns]
    assert len(set(names)) == len(names)
    assert order_columns(export.columns) == list(export.columns)
    assert not set(names) & RETIRED_NAMES
    assert export.columns[0].kind is not Kind.ID
