"""The assembled report and its renderings: vocabulary, rounding, CSV tables, strategy filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prescientd.core.calibration import ResolvedMarket
from prescientd.core.capital import ConfigVersion, TaggedTrade
from prescientd.core.report import Report, build_report, report_csv_tables, report_json
from prescientd.core.risk import EventMarkets, FillBook, HeldToken
from prescientd.models import FillLevel, Level, Side, Trade

D = Decimal
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _buy(seq: int, token: str, shares: str, notional: str, at: datetime) -> Trade:
    return Trade(
        trade_id=seq,
        seq=seq,
        idempotency_key=f"k{seq}",
        executed_at=at,
        market_id=f"m-{token}",
        event_id="e1",
        token_id=token,
        outcome="No",
        question=f"Will {token} happen?",
        side=Side.BUY,
        shares=D(shares),
        notional_usd=D(notional),
        fees_usd=D(0),
        reason="test",
    )


# default: buy 100 A for 40 at day 0, open, marked 0.45 at day 3 -> P&L +5, 120 dollar-days
#   per dollar-day 5 / 120 = 0.041666666.. -> 0.041666667 (9 dp); annualized x365 = 15.208333..
# contrarian60: buy 10 B for 7 at day 1, marked 0.5 -> P&L -2 over 7 x 2 = 14 dollar-days
TRADES: list[Trade | TaggedTrade] = [
    _buy(1, "A", "100", "40", T0),
    TaggedTrade(_buy(2, "B", "10", "7", T0 + DAY), "contrarian60"),
]
NOW = T0 + 3 * DAY


def _report(strategy: str | None = None) -> Report:
    return build_report(
        now=NOW,
        resolved_markets=[ResolvedMarket("m1", ("Politics",), D("0.62"), (D("0.7"),), D(1))],
        trades=TRADES,
        settlements=[],
        starting_balances_usd={"default": D(1000), "contrarian60": D(500)},
        marks={"A": D("0.45"), "B": D("0.5")},
        versions=[ConfigVersion(1, T0 - DAY, ("strategy.threshold", "stake_usd"))],
        held=[
            HeldToken("default", "e1", "m-A", False, D(100), D(40), D(45)),
            HeldToken("contrarian60", "e1", "m-B", False, D(10), D(7), D(5)),
        ],
        events={"e1": EventMarkets("e1", "=Who wins?", True, ("m-A", "m-B"))},
        fills=[
            FillBook(
                1,
                "default",
                "m-A",
                T0,
                Side.BUY,
                (FillLevel(D("0.4"), D(100), D(0)),),
                (Level(D("0.4"), D(300)),),
                D("0.02"),
            ),
            FillBook(2, "contrarian60", "m-B", T0 + DAY, Side.BUY, (), None, D("0.02")),
        ],
        strategy=strategy,
    )


def test_json_is_plain_and_uses_the_vocabulary() -> None:
    """Plain numbers and ISO-8601 UTC strings, rounded per unit, named as elsewhere."""
    doc = report_json(_report())
    json.dumps(doc, allow_nan=False)  # nothing needs a custom encoder
    assert doc["generated_at"] == "2026-03-04T12:00:00.000000Z"
    default = next(row for row in doc["capital"] if row["strategy"] == "default")
    assert default["pnl_usd"] == 5
    assert default["dollar_days"] == 120  # 40 x 3 days
    assert default["return_per_dollar_day"] == 0.041666667
    assert default["annualized_return"] == 15.208333  # 5 / 120 x 365
    assert default["return_on_balance"] == 0.005  # 5 / 1000
    assert default["fees_usd"] == 0 and default["trade_count"] == 1
    (bucket, evening) = doc["calibration"]["buckets"]
    assert (bucket["kind"], bucket["bucket_low"], bucket["bucket_high"]) == (
        "first_sighting",
        0.6,
        0.65,
    )
    assert evening["realized_frequency"] == 1 and evening["wilson_high"] == 1.0
    assert doc["calibration"]["brier"][0] == {
        "kind": "first_sighting",
        "scope": "all",
        "tag": None,
        "brier_score": 0.1444,  # 0.38^2
        "observation_count": 1,
    }
    version = doc["versions"][0]
    assert version["changed_keys"] == ["strategy.threshold", "stake_usd"]
    assert version["loaded_at"] == "2026-02-28T12:00:00.000000Z"


def test_json_sections_for_events_and_depth() -> None:
    """Events carry the worst outcome; depth carries its summary, histogram and fills."""
    doc = report_json(_report())
    # default holds NO on m-A: m-A winning pays 0 -> loss 40; contrarian60: m-B -> loss 7
    assert [(e["strategy"], e["worst_loss_usd"]) for e in doc["events"]] == [
        ("default", 40),
        ("contrarian60", 7),
    ]
    assert doc["events"][0]["worst_outcome"] == "m-A"  # no question known: the id
    depth = doc["depth"]
    assert (depth["fill_count"], depth["fills_without_book"], depth["depth_used_median"]) == (
        1,
        1,
        0.333333,  # 100 of 300 visible shares
    )
    assert [bar["fill_count"] for bar in depth["histogram"]] == [0, 0, 1, 0, 0]
    assert depth["fills"][0]["trade_id"] == 1


def test_csv_tables() -> None:
    """One table per export file; ids last, typed cells kept for the writer to format."""
    tables = report_csv_tables(_report())
    assert sorted(tables) == [
        "report_brier.csv",
        "report_calibration.csv",
        "report_capital.csv",
        "report_depth.csv",
        "report_depth_histogram.csv",
        "report_depth_summary.csv",
        "report_events.csv",
        "report_versions.csv",
    ]
    events = tables["report_events.csv"]
    assert events.columns[0] == "strategy" and events.columns[-1] == "event_id"
    assert events.rows[0]["title"] == "=Who wins?"  # escaping is the writer's job
    assert events.rows[0]["worst_loss_usd"] == D("40.000000")
    depth = tables["report_depth.csv"]
    assert depth.rows[0]["time"] == T0 and depth.columns[-1] == "trade_id"
    assert tables["report_versions.csv"].rows[0]["changed_keys"] == (
        "strategy.threshold",
        "stake_usd",
    )


def test_empty_tables_keep_their_header() -> None:
    """With nothing to report, each table still names its columns."""
    report = build_report(
        now=NOW,
        resolved_markets=[],
        trades=[],
        settlements=[],
        starting_balances_usd={},
        marks={},
        versions=[],
        held=[],
        events={},
        fills=[],
    )
    tables = report_csv_tables(report)
    empty = [name for name, t in tables.items() if not t.rows]
    assert "report_calibration.csv" in empty and "report_capital.csv" in empty
    assert all(tables[name].columns for name in empty)
    assert tables["report_calibration.csv"].columns[:3] == ("kind", "bucket_low", "bucket_high")


@pytest.mark.parametrize(
    ("strategy", "capital", "events", "fills"),
    [
        (None, ["default", "contrarian60"], 2, 1),
        ("default", ["default"], 1, 1),
        ("contrarian60", ["contrarian60"], 1, 0),
    ],
)
def test_strategy_filter(strategy: str | None, capital: list[str], events: int, fills: int) -> None:
    """--strategy keeps one strategy's money sections; calibration is about markets, kept."""
    report = _report(strategy)
    assert [c.strategy for c in report.capital] == capital
    assert len(report.events) == events
    assert len(report.depth.fills) == fills
    assert {v.strategy for v in report.versions} == set(capital)
    assert report.calibration.resolved_markets == 1
