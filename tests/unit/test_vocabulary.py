"""One number converter, one timestamp spelling, and each CSV's columns declared once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from conftest import T0, make_market
from prescientd.core.accounts import StrategyFigures, figures
from prescientd.core.calibration import ResolvedMarket
from prescientd.core.capital import ConfigVersion
from prescientd.core.filters import event_row, market_row
from prescientd.core.ledger import replay, value
from prescientd.core.performance import history_entry, performance_rows
from prescientd.core.report import build_report, report_csv_tables
from prescientd.core.risk import EventMarkets, FillBook, HeldToken
from prescientd.mirrors.columns import EXPORT_BY_FILENAME, REPORT_EXPORTS
from prescientd.mirrors.rows import (
    market_current_row,
    position_row,
    signal_row,
    strategy_row,
    trade_summary_rows,
    with_as_of,
)
from prescientd.models import (
    Action,
    Event,
    FillLevel,
    Level,
    MarkedPosition,
    PortfolioSnapshot,
    Position,
    PriceSource,
    Side,
    Signal,
    SignalStatus,
    Trade,
)
from prescientd.store.db import SignalRow
from prescientd.vocabulary import number, plain, timestamp

D = Decimal


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        (None, None, type(None)),
        (D("100"), 100, int),
        (D("100.000000"), 100, int),
        (D("0.45"), 0.45, float),
        (D("-12.5"), -12.5, float),
        (D("12.3456785"), 12.345678, float),  # half-even at the 6th decimal
        (D("12.3456795"), 12.34568, float),
        (D("0.0000004"), 0, int),
        (D("-0.0000004"), 0, int),  # never a negative zero
        (D("-0"), 0, int),
        (D("5669354.219446001"), 5669354.219446, float),
        (D(2**53), float(2**53), float),  # beyond exact integers a float, as JSON readers see it
    ],
)
def test_number(value: Decimal | None, expected: float | None, kind: type) -> None:
    """A Decimal becomes a plain number rounded half-even to 6 decimals, an int when whole."""
    got = number(value)
    assert got == expected and type(got) is kind
    assert str(got) != "-0.0"


def test_timestamp_is_clock_iso_utc() -> None:
    """Every timestamp is ISO-8601 UTC with microseconds and Z, whatever the zone given."""
    eastern = timezone(timedelta(hours=-5))
    assert timestamp(datetime(2026, 3, 1, 18, 0, tzinfo=eastern)) == "2026-03-01T23:00:00.000000Z"
    assert timestamp(datetime(2026, 3, 1, 23, 0, 0, 29758, tzinfo=UTC)) == (
        "2026-03-01T23:00:00.029758Z"
    )
    assert timestamp(None) is None
    with pytest.raises(ValueError, match="naive"):
        timestamp(datetime(2026, 3, 1))


def test_plain_converts_nested_values_for_json() -> None:
    """plain() spells Decimals, datetimes and dates inside mappings and sequences."""
    data = {"a": [D("1.50"), (T0, T0.date())], "b": {"c": D(3)}, "d": "x", "e": True}
    assert plain(data) == {
        "a": [1.5, ["2026-10-06T14:00:00.000000Z", "2026-10-06"]],
        "b": {"c": 3},
        "d": "x",
        "e": True,
    }
    assert json.loads(json.dumps(plain(data))) == plain(data)


def _event() -> Event:
    market = make_market("1")
    return Event("10", "e", "E", ("x",), True, False, T0, D(1), D(2), D(3), False, (market,))


def _signal_row() -> SignalRow:
    signal = Signal(
        "1",
        "10",
        "Q?",
        Action.BUY_NO,
        "t1",
        "No",
        PriceSource.DISPLAY,
        D("0.6"),
        D("0.5"),
        D("0.1"),
        D(100),
        SignalStatus.ACTIONABLE,
        "why",
        None,
        "k",
    )
    return SignalRow(1, 1, T0, "2026-10-06", 1, signal, T0, 1, D("0.6"), D("0.6"), D("0.6"))


def _position() -> MarkedPosition:
    position = Position("1", "10", "t1", "No", "Q?", D(10), D(4), D("0.1"), T0)
    return MarkedPosition(position, D("0.5"), D("0.52"), D("0.5"), D(5), D(1), False, False)


def _trade() -> Trade:
    return Trade(
        *(1, 1, "k", T0, "1", "10", "t1", "No", "Q?", Side.BUY, D(10), D(4), D("0.1"), "r")
    )


def _snapshot() -> PortfolioSnapshot:
    return PortfolioSnapshot("2026-10-06", T0, D(1), D(2), D(3), D(0), D(0), D(0), 1, 1, 0, 0)


def _figures() -> StrategyFigures:
    portfolio = replay(D(1000), [_trade()], [])
    valuation = value(portfolio, {}, {"t1": D("0.5")}, T0, 60)
    return figures(portfolio, valuation, [_snapshot()], "active")


def _as_of(row: dict[str, Any]) -> dict[str, Any]:
    """The CSV row of a snapshot file: the JSON row plus its as-of instant."""
    (csv_row,) = with_as_of([row], T0)
    return csv_row


def _report_row(filename: str) -> dict[str, Any]:
    """The first row of one report CSV, from a report whose every section has one."""
    report = build_report(
        now=T0 + timedelta(days=2),
        resolved_markets=[ResolvedMarket("1", ("politics",), D("0.6"), (D("0.7"),), D(1))],
        trades=[_trade()],
        settlements=[],
        starting_balances_usd={"default": D(1000)},
        marks={"t1": D("0.5")},
        versions=[ConfigVersion(1, T0 - timedelta(days=1), ("strategy.threshold",))],
        held=[HeldToken("default", "10", "1", False, D(10), D("4.1"), D(5))],
        events={"10": EventMarkets("10", "Event?", False, ("1",))},
        fills=[
            FillBook(
                1,
                "default",
                "1",
                T0,
                Side.BUY,
                (FillLevel(D("0.4"), D(10), D("0.1")),),
                (Level(D("0.4"), D(100)),),
                D("0.02"),
            )
        ],
    )
    return dict(report_csv_tables(report)[filename].rows[0])


# Each CSV's rows, built as the mirror builder builds them.
ROW_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    **{
        e.filename: (lambda name=e.filename: _report_row(name))  # type: ignore[misc]
        for e in REPORT_EXPORTS
    },
    "events_filtered.csv": lambda: _as_of(event_row(_event())),
    "markets_extracted.csv": lambda: _as_of(market_row(_event(), make_market("1"))),
    "markets_current.csv": lambda: _as_of(market_current_row(make_market("1"), {}, T0, 60)),
    "signals_current.csv": lambda: signal_row(_signal_row()),
    "positions_current.csv": lambda: _as_of(position_row(_position())),
    "trades_summary.csv": lambda: trade_summary_rows([_trade()], [])[0],
    "portfolio_history.csv": lambda: history_entry(_snapshot()),
    "performance_daily.csv": lambda: performance_rows([_snapshot()], D(1000))[0],
    "strategies.csv": lambda: strategy_row(_figures()),
}


def test_every_csv_has_a_row_builder() -> None:
    """Each declared CSV is checked below, and nothing else claims to be a CSV."""
    assert set(ROW_BUILDERS) == set(EXPORT_BY_FILENAME)


@pytest.mark.parametrize("name", sorted(EXPORT_BY_FILENAME))
def test_csv_rows_carry_exactly_the_declared_columns(name: str) -> None:
    """The rows a CSV is written from have its declared columns (optional ones aside), no more."""
    columns = EXPORT_BY_FILENAME[name].columns
    names = [c.name for c in columns]
    required = {c.name for c in columns if not c.optional}
    assert len(set(names)) == len(names)
    keys = set(ROW_BUILDERS[name]())
    assert required <= keys <= set(names), (sorted(required - keys), sorted(keys - set(names)))


def test_a_position_is_stale_exactly_when_status_flags_it() -> None:
    """positions_current's `stale` is set by an old price or by a vanished book, as in status."""
    base = _position()
    for price_stale, book_missing in [(False, False), (True, False), (False, True), (True, True)]:
        marked = MarkedPosition(
            base.position, D("0.5"), D("0.52"), D("0.5"), D(5), D(1), price_stale, book_missing
        )
        assert position_row(marked)["stale"] is (price_stale or book_missing)
