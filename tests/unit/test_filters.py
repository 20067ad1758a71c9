"""Tests for prescientd.core.filters: tradability, eligibility rules, the cap and mirror rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import FIXTURES
from prescientd.config import FiltersConfig
from prescientd.core.filters import (
    event_row,
    filter_events,
    is_binary,
    is_tradable,
    judge_market,
    market_row,
)
from prescientd.models import Event, FeeSchedule, Market
from prescientd.polymarket.gamma import parse_event, parse_market

NOW = datetime(2026, 10, 6, 12, 0, tzinfo=UTC)
PERMISSIVE = FiltersConfig(
    min_liquidity_usd=Decimal(0),
    min_volume_24h_usd=Decimal(0),
    min_hours_to_end=1,
    max_days_to_end=3650,
)


def _fixture_dir() -> Path:
    return FIXTURES


def make_market(market_id: str = "100", **overrides: Any) -> Market:
    """A tradable binary market ending in 30 days, with liquidity 5000 and 24 h volume 1000."""
    fields: dict[str, Any] = {
        "market_id": market_id,
        "event_id": "1",
        "condition_id": "0x" + "ab" * 32,
        "slug": f"market-{market_id}",
        "question": f"Question {market_id}?",
        "outcomes": ("Yes", "No"),
        "token_ids": (f"{market_id}1", f"{market_id}2"),
        "outcome_prices": (Decimal("0.4"), Decimal("0.6")),
        "active": True,
        "closed": False,
        "accepting_orders": True,
        "enable_order_book": True,
        "uma_resolution_status": None,
        "uma_resolution_statuses": (),
        "end_date": NOW + timedelta(days=30),
        "liquidity_usd": Decimal(5000),
        "volume_usd": Decimal(20000),
        "volume_24h_usd": Decimal(1000),
        "tick_size": Decimal("0.01"),
        "min_order_size": Decimal(5),
        "fee_schedule": None,
        "neg_risk": False,
    }
    fields.update(overrides)
    return Market(**fields)


def make_event(markets: tuple[Market, ...] = (), event_id: str = "1", **overrides: Any) -> Event:
    """An event holding the given markets, tagged politics."""
    fields: dict[str, Any] = {
        "event_id": event_id,
        "slug": f"event-{event_id}",
        "title": f"Event {event_id}",
        "tags": ("politics", "elections"),
        "active": True,
        "closed": False,
        "end_date": NOW + timedelta(days=30),
        "liquidity_usd": Decimal(5000),
        "volume_usd": Decimal(20000),
        "volume_24h_usd": Decimal(1000),
        "neg_risk": False,
        "markets": markets,
    }
    fields.update(overrides)
    return Event(**fields)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"active": False}, False),
        ({"closed": True}, False),
        ({"accepting_orders": False}, False),
        ({"enable_order_book": False}, False),
        ({"uma_resolution_status": "proposed"}, False),
        ({"uma_resolution_status": "resolved"}, False),
        ({"uma_resolution_status": ""}, True),
        ({"closed": True, "accepting_orders": True}, False),
    ],
)
def test_is_tradable(overrides: dict[str, Any], expected: bool) -> None:
    """A market is tradable only when active, open, accepting, with a book and no UMA status."""
    assert is_tradable(make_market(**overrides)) is expected


@pytest.mark.parametrize(
    ("outcomes", "token_ids", "expected"),
    [
        (("Yes", "No"), ("1", "2"), True),
        (("Up", "Down"), ("1", "2"), True),
        (("A", "B", "C"), ("1", "2", "3"), False),
        (("Yes",), ("1",), False),
        (("Yes", "No"), ("1",), False),
        (("Yes", "No"), (), False),
        (("Yes", "No"), ("1", ""), False),
    ],
)
def test_is_binary(outcomes: tuple[str, ...], token_ids: tuple[str, ...], expected: bool) -> None:
    """Binary means two outcomes and two non-empty token ids, whatever the outcome names."""
    market = make_market(outcomes=outcomes, token_ids=token_ids)
    assert is_binary(market) is expected


@pytest.mark.parametrize(
    ("market_overrides", "cfg_overrides", "tags", "expected"),
    [
        ({}, {}, ("politics",), None),
        ({"closed": True}, {}, ("politics",), "not_tradable"),
        ({"uma_resolution_status": "proposed"}, {}, ("politics",), "not_tradable"),
        ({"outcomes": ("A", "B", "C"), "token_ids": ("1", "2", "3")}, {}, (), "not_binary"),
        ({"token_ids": ("1",)}, {}, (), "missing_tokens"),
        ({"token_ids": ()}, {}, (), "missing_tokens"),
        ({"neg_risk_other": True}, {}, (), "neg_risk_other"),
        ({"end_date": None}, {}, (), "no_end_date"),
        ({"end_date": NOW - timedelta(days=1)}, {}, (), "expired"),
        ({"end_date": NOW}, {}, (), "expired"),
        ({"end_date": NOW + timedelta(minutes=59)}, {"min_hours_to_end": 1}, (), "ends_too_soon"),
        ({"end_date": NOW + timedelta(hours=1)}, {"min_hours_to_end": 1}, (), None),
        ({"end_date": NOW + timedelta(hours=5)}, {"min_hours_to_end": 6}, (), "ends_too_soon"),
        ({"end_date": NOW + timedelta(days=10)}, {"max_days_to_end": 10}, (), None),
        ({"end_date": NOW + timedelta(days=10, seconds=1)}, {"max_days_to_end": 10}, (),
         "ends_too_far"),
        ({"liquidity_usd": Decimal("999.99")}, {"min_liquidity_usd": 1000}, (), "low_liquidity"),
        ({"liquidity_usd": Decimal(1000)}, {"min_liquidity_usd": 1000}, (), None),
        ({"volume_24h_usd": Decimal(49)}, {"min_volume_24h_usd": 50}, (), "low_volume"),
        ({"volume_24h_usd": Decimal(50)}, {"min_volume_24h_usd": 50}, (), None),
        ({}, {"exclude_tags": ("crypto",)}, ("politics", "crypto"), "excluded_tag"),
        ({}, {"exclude_tags": ("Crypto",)}, ("crypto",), "excluded_tag"),
        ({}, {"exclude_tags": ("crypto",)}, ("politics",), None),
        ({}, {"include_tags": ("sports",)}, ("politics",), "missing_tag"),
        ({}, {"include_tags": ("sports",)}, (), "missing_tag"),
        ({}, {"include_tags": ("sports", "politics")}, ("politics",), None),
        ({}, {"include_tags": ("politics",), "exclude_tags": ("crypto",)}, ("politics", "crypto"),
         "excluded_tag"),
    ],
)  # fmt: skip
def test_judge_market_rules(
    market_overrides: dict[str, Any],
    cfg_overrides: dict[str, Any],
    tags: tuple[str, ...],
    expected: str | None,
) -> None:
    """Each eligibility rule gives its reason code, with the window and thresholds inclusive."""
    base = {"min_liquidity_usd": 0, "min_volume_24h_usd": 0, "min_hours_to_end": 1}
    cfg = FiltersConfig(**{**base, **cfg_overrides})
    market = make_market(**market_overrides)
    assert judge_market(market, make_event((market,), tags=tags), cfg, NOW) == expected


def test_judge_market_uses_market_not_event_numbers() -> None:
    """Liquidity and volume come from the market itself, not its (richer) parent event."""
    cfg = FiltersConfig(min_liquidity_usd=Decimal(1000), min_volume_24h_usd=Decimal(100))
    market = make_market(liquidity_usd=Decimal(10), volume_24h_usd=Decimal(10**6))
    event = make_event((market,), liquidity_usd=Decimal(10**9), volume_24h_usd=Decimal(10**9))
    assert judge_market(market, event, cfg, NOW) == "low_liquidity"


def test_filter_events_keeps_eligible_markets_in_order() -> None:
    """Events keep only eligible markets, in input order; events left empty are dropped."""
    e1 = make_event(
        (
            make_market("11", event_id="1"),
            make_market("12", event_id="1", closed=True),
            make_market("13", event_id="1"),
        ),
        event_id="1",
    )
    e2 = make_event((make_market("21", event_id="2", end_date=None),), event_id="2")
    e3 = make_event(
        (make_market("31", event_id="3"), make_market("32", event_id="3", active=False)),
        event_id="3",
    )
    result = filter_events([e1, e2, e3], PERMISSIVE, NOW)
    assert [e.event_id for e in result.events] == ["1", "3"]
    assert [m.market_id for m in result.events[0].markets] == ["11", "13"]
    assert [m.market_id for m in result.events[1].markets] == ["31"]
    assert [(e.event_id, m.market_id) for e, m in result.markets] == [
        ("1", "11"),
        ("1", "13"),
        ("3", "31"),
    ]
    assert dict(result.rejections) == {"not_tradable": 2, "no_end_date": 1}
    # The pairs carry the trimmed event, so a mirror row's market_count matches what was kept.
    assert result.markets[0][0] is result.events[0]
    assert result.markets[2][0] is result.events[1]
    assert result.events[0].title == e1.title


def test_filter_events_cap_keeps_highest_volume() -> None:
    """Over max_markets, the highest 24 h volumes stay (ties by numeric market id), order kept."""
    markets = (
        make_market("5", volume_24h_usd=Decimal(10)),
        make_market("40", volume_24h_usd=Decimal(300)),
        make_market("100", volume_24h_usd=Decimal(200)),
        make_market("9", volume_24h_usd=Decimal(200)),
        make_market("7", volume_24h_usd=Decimal(50)),
    )
    cfg = PERMISSIVE.model_copy(update={"max_markets": 3})
    result = filter_events([make_event(markets)], cfg, NOW)
    # volumes 300 (40), 200 (9 before 100 numerically), 200 (100) -> 3 kept; 5 and 7 overflow
    assert [m.market_id for _, m in result.markets] == ["40", "100", "9"]
    assert result.rejections == {"over_max_markets": 2}

    cfg2 = PERMISSIVE.model_copy(update={"max_markets": 2})
    result2 = filter_events([make_event(markets)], cfg2, NOW)
    assert [m.market_id for _, m in result2.markets] == ["40", "9"]
    assert result2.rejections == {"over_max_markets": 3}


def test_filter_events_cap_drops_emptied_events() -> None:
    """An event whose eligible markets all fall over the cap is dropped."""
    big = make_event((make_market("1", volume_24h_usd=Decimal(900)),), event_id="a")
    small = make_event((make_market("2", volume_24h_usd=Decimal(1)),), event_id="b")
    cfg = PERMISSIVE.model_copy(update={"max_markets": 1})
    result = filter_events([small, big], cfg, NOW)
    assert [e.event_id for e in result.events] == ["a"]


def test_filter_events_counts_duplicates_once() -> None:
    """A market seen twice (overlapping pages) is kept once and the repeat counted as duplicate."""
    market = make_market("1")
    result = filter_events([make_event((market,)), make_event((market,))], PERMISSIVE, NOW)
    assert [m.market_id for _, m in result.markets] == ["1"]
    assert len(result.events) == 1
    assert result.rejections == {"duplicate": 1}


def test_filter_events_empty() -> None:
    """No events in, nothing out."""
    result = filter_events([], PERMISSIVE, NOW)
    assert (result.events, result.markets, dict(result.rejections)) == ((), (), {})


MARKET_ROW_KEYS = [
    "event_id",
    "market_id",
    "condition_id",
    "slug",
    "question",
    "event_title",
    "outcome_yes",
    "outcome_no",
    "yes_token_id",
    "no_token_id",
    "tick_size",
    "min_order_size",
    "fee_rate",
    "fee_exponent",
    "fees_enabled",
    "end_date",
    "liquidity_usd",
    "volume_usd",
    "volume_24h_usd",
    "neg_risk",
    "tags",
]


def test_market_row_shape_and_values() -> None:
    """market_row has the documented keys in order, plain numbers, ISO UTC date and joined tags."""
    market = make_market(
        "559651",
        outcomes=("Up", "Down"),
        token_ids=("111", "222"),
        tick_size=Decimal("0.001"),
        min_order_size=Decimal(5),
        fee_schedule=FeeSchedule(rate=Decimal("0.04"), exponent=Decimal(1)),
        fees_enabled=True,
        end_date=datetime(2027, 1, 1, 4, 59, tzinfo=UTC),
        liquidity_usd=Decimal("583899.75949"),
        volume_24h_usd=Decimal("37872.476501"),
        neg_risk=True,
    )
    event = make_event((market,), event_id="77", title="Xi", tags=("politics", "china"))
    row = market_row(event, market)
    assert list(row) == MARKET_ROW_KEYS
    assert row["event_id"] == "77"
    assert row["event_title"] == "Xi"
    assert (row["outcome_yes"], row["outcome_no"]) == ("Up", "Down")
    assert (row["yes_token_id"], row["no_token_id"]) == ("111", "222")
    assert row["tick_size"] == 0.001
    assert row["min_order_size"] == 5
    assert isinstance(row["min_order_size"], int)
    assert (row["fee_rate"], row["fee_exponent"], row["fees_enabled"]) == (0.04, 1, True)
    assert row["end_date"] == "2027-01-01T04:59:00.000000Z"
    assert row["liquidity_usd"] == 583899.75949
    assert row["volume_24h_usd"] == 37872.476501
    assert row["neg_risk"] is True
    assert row["tags"] == "politics;china"
    assert not any(isinstance(v, Decimal) for v in row.values())
    assert json.loads(json.dumps(row)) == row


def test_market_row_unknowns_are_none() -> None:
    """Missing tick size, fees and end date become None, and fees_enabled is False."""
    market = make_market(tick_size=None, min_order_size=None, fee_schedule=None, end_date=None)
    row = market_row(make_event((market,), tags=()), market)
    assert row["tick_size"] is None
    assert row["min_order_size"] is None
    assert (row["fee_rate"], row["fee_exponent"], row["fees_enabled"]) == (None, None, False)
    assert row["end_date"] is None
    assert row["tags"] == ""


def test_market_row_end_date_converted_to_utc() -> None:
    """An end date in another zone is written as the same instant in UTC."""
    east = datetime(2027, 1, 1, 0, 0, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    row = market_row(make_event(), make_market(end_date=east))
    assert row["end_date"] == "2027-01-01T00:00:00.000000Z"


def test_event_row_shape_and_values() -> None:
    """event_row has the documented keys in order and counts the markets the event keeps."""
    event = make_event(
        (make_market("1"), make_market("2")),
        event_id="30829",
        slug="dem-2028",
        title="Democratic Nominee 2028",
        end_date=datetime(2028, 11, 7, tzinfo=UTC),
        liquidity_usd=Decimal("43042905.16152"),
        volume_24h_usd=Decimal("5669354.219446001"),
        neg_risk=True,
    )
    row = event_row(event)
    assert list(row) == [
        "event_id",
        "slug",
        "title",
        "tags",
        "end_date",
        "liquidity_usd",
        "volume_usd",
        "volume_24h_usd",
        "neg_risk",
        "market_count",
    ]
    assert row["event_id"] == "30829"
    assert row["tags"] == "politics;elections"
    assert row["end_date"] == "2028-11-07T00:00:00.000000Z"
    assert row["liquidity_usd"] == 43042905.16152
    assert row["volume_usd"] == 20000
    assert row["market_count"] == 2
    assert json.loads(json.dumps(row)) == row


# --- recorded Gamma fixtures -------------------------------------------------------------------


def _market_from_raw(raw: dict[str, Any], event_id: str) -> Market:
    """A recorded market through the production Gamma parser."""
    return parse_market(raw, event_id)


def _event_from_raw(raw: dict[str, Any]) -> Event:
    """A recorded event through the production Gamma parser (no child may be skipped)."""
    event, skipped = parse_event(raw)
    assert not skipped, skipped
    return event


def _loose_markets_event(raws: list[dict[str, Any]], name: str) -> Event:
    """Wrap markets fetched without their event in a tagless stand-in event."""
    return make_event(
        tuple(_market_from_raw(m, f"standalone:{name}") for m in raws),
        event_id=f"standalone:{name}",
        tags=(),
    )


def _fixture_events(path: Path) -> list[Event]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        return [_event_from_raw(e) for e in data]
    if "markets" in data and ("next_cursor" in data or "title" not in data):
        return [_loose_markets_event(data["markets"], path.stem)]
    if "markets" in data:
        return [_event_from_raw(data)]
    return [_loose_markets_event([data], path.stem)]


def _all_fixture_markets() -> dict[str, tuple[Event, Market]]:
    out: dict[str, tuple[Event, Market]] = {}
    for path in sorted(_fixture_dir().glob("gamma_*.json")):
        for event in _fixture_events(path):
            for market in event.markets:
                out[market.market_id] = (event, market)
    return out


# market id -> (tradable, reason at NOW with PERMISSIVE filters), read off each fixture by hand
FIXTURE_EXPECTATIONS: dict[str, tuple[bool, str | None]] = {
    # gamma_events_list_negrisk_2_markets.json: open negRisk children, end 2028-11-07
    "559657": (True, None),
    "559659": (True, None),
    # gamma_markets_keyset_page_2026-10.json: 3 open markets, end 2027-01-01 / 2028-11-08
    "559651": (True, None),
    "559652": (True, None),
    "559653": (True, None),
    # gamma_events_list_resolved_yes_won.json: closed, umaResolutionStatus resolved
    "506202": (False, "not_tradable"),
    # gamma_event_resolved_non_yes_no_outcomes.json: Spain/Argentina, closed and resolved
    "2942064": (False, "not_tradable"),
    # gamma_market_closed_but_accepting_orders.json: closed although acceptingOrders is true
    "1812085": (False, "not_tradable"),
    # gamma_market_closed_legacy_*: 2020 markets without acceptingOrders/enableOrderBook
    "12": (False, "not_tradable"),
    "43": (False, "not_tradable"),
    # gamma_market_closed_resolved_no_won.json / gamma_market_resolved_after_dispute.json
    "1460332": (False, "not_tradable"),
    "1021160": (False, "not_tradable"),
    # gamma_market_sports_moneyline.json: resolved esports market
    "1878152": (False, "not_tradable"),
    # gamma_market_open_crypto_updown_5m.json: tradable flags, but ended 2026-03-12T09:25Z
    "1557558": (True, "expired"),
}


def test_fixture_set_is_the_expected_one() -> None:
    """Every recorded Gamma market is classified below, so a new fixture is not silently ignored."""
    assert set(_all_fixture_markets()) == set(FIXTURE_EXPECTATIONS)


@pytest.mark.parametrize("market_id", sorted(FIXTURE_EXPECTATIONS))
def test_fixture_market_classified(market_id: str) -> None:
    """Each recorded Gamma market is tradable (or not) and eligible (or not) as read by hand."""
    event, market = _all_fixture_markets()[market_id]
    tradable, reason = FIXTURE_EXPECTATIONS[market_id]
    assert is_tradable(market) is tradable
    assert is_binary(market)
    assert judge_market(market, event, PERMISSIVE, NOW) == reason


def test_fixture_crypto_market_was_eligible_before_its_end() -> None:
    """The 5-minute BTC market is eligible an hour before its end with a short min_hours_to_end."""
    event, market = _all_fixture_markets()["1557558"]
    cfg = PERMISSIVE.model_copy(update={"min_hours_to_end": 0.05})
    assert judge_market(market, event, cfg, datetime(2026, 3, 12, 9, 0, tzinfo=UTC)) is None
    cfg_long = PERMISSIVE.model_copy(update={"min_hours_to_end": 1})
    at = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    assert judge_market(market, event, cfg_long, at) == "ends_too_soon"


def test_fixture_events_filtered() -> None:
    """Filtering all recorded events keeps exactly the five open markets, by their own flags."""
    events = [e for p in sorted(_fixture_dir().glob("gamma_*.json")) for e in _fixture_events(p)]
    result = filter_events(events, PERMISSIVE, NOW)
    kept = sorted(m.market_id for _, m in result.markets)
    assert kept == ["559651", "559652", "559653", "559657", "559659"]
    assert result.rejections == {"expired": 1, "not_tradable": 8}


@pytest.mark.parametrize(
    ("cfg_overrides", "expected"),
    [
        ({"include_tags": ("politics",)}, None),
        ({"include_tags": ("sports",)}, "missing_tag"),
        ({"exclude_tags": ("primaries",)}, "excluded_tag"),
        ({"min_liquidity_usd": Decimal(500000)}, "low_liquidity"),  # 559657 has 400500.66675
        ({"min_volume_24h_usd": Decimal(200000)}, "low_volume"),  # 559657 has 129642.785175
        ({"max_days_to_end": 365}, "ends_too_far"),  # ends 2028-11-07, > a year after NOW
    ],
)
def test_fixture_negrisk_event_rules(cfg_overrides: dict[str, Any], expected: str | None) -> None:
    """The recorded negRisk event's tags and its market's own numbers drive the rules."""
    event, market = _all_fixture_markets()["559657"]
    cfg = PERMISSIVE.model_copy(update=cfg_overrides)
    assert judge_market(market, event, cfg, NOW) == expected


def test_fixture_market_row_is_plain() -> None:
    """A recorded market's row survives a JSON round trip and reports its fee schedule."""
    event, market = _all_fixture_markets()["559651"]
    row = market_row(event, market)
    assert json.loads(json.dumps(row)) == row
    assert (row["fee_rate"], row["fees_enabled"], row["tick_size"]) == (0.04, True, 0.001)
    assert row["end_date"] == "2027-01-01T04:59:00.000000Z"
