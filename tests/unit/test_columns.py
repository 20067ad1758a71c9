"""Column specs: kinds, ordering (ids last), data-derived columns and the proposed export specs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from conftest import load_fixture
from prescientd.core import performance
from prescientd.core.filters import event_row, market_row
from prescientd.mirrors.columns import (
    EVENTS_FILTERED,
    EXPORTS,
    MARKETS_EXTRACTED,
    PERFORMANCE_DAILY,
    PORTFOLIO_HISTORY,
    VOCABULARY_RENAMES,
    Column,
    Export,
    Kind,
    coerce,
    infer_column,
    order_columns,
    resolve_columns,
)
from prescientd.models import PortfolioSnapshot
from prescientd.polymarket.gamma import parse_event

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
    """The specs cover exactly the CSV exports DESIGN.md §3 and §10 name, each a valid sheet
    name."""
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
    assert not set(names) & set(VOCABULARY_RENAMES)
    assert export.columns[0].kind is not Kind.ID


def _snapshot() -> PortfolioSnapshot:
    return PortfolioSnapshot(
        local_date="2026-10-06",
        taken_at=datetime(2026, 10, 6, 22, 0, tzinfo=UTC),
        cash_usd=Decimal(9900),
        positions_value_usd=Decimal("101.5"),
        equity_usd=Decimal("10001.5"),
        realized_pnl_usd=Decimal(0),
        unrealized_pnl_usd=Decimal("1.5"),
        fees_usd=Decimal("0.2"),
        trade_count=1,
        open_positions=1,
        settled_positions=0,
        settled_wins=0,
    )


def _current_keys(export: Export) -> set[str]:
    """The keys today's row builders produce for one export (pure builders only)."""
    if export in (EVENTS_FILTERED, MARKETS_EXTRACTED):
        event, _ = parse_event(load_fixture("gamma_events_list_negrisk_2_markets.json")[0])
        rows = (
            [event_row(event)]
            if export is EVENTS_FILTERED
            else [market_row(event, event.markets[0])]
        )
    elif export is PORTFOLIO_HISTORY:
        rows = [performance.history_entry(_snapshot())]
    else:
        rows = performance.performance_rows([_snapshot()], Decimal(10000))
    return {VOCABULARY_RENAMES.get(k, k) for row in rows for k in row}


@pytest.mark.parametrize(
    "export",
    [EVENTS_FILTERED, MARKETS_EXTRACTED, PORTFOLIO_HISTORY, PERFORMANCE_DAILY],
    ids=lambda e: e.name,
)
def test_specs_cover_every_key_the_current_builders_produce(export: Export) -> None:
    """After the vocabulary renames, no key of today's rows is missing from the proposed spec."""
    assert _current_keys(export) <= {c.name for c in export.columns}
