"""Gamma item validation against the recorded fixtures and against malformed items."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from prescientd.polymarket.gamma import ItemError, parse_event, parse_market
from prescientd.polymarket.jsonsafe import parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


def load(name: str) -> Any:
    """A fixture decoded the way the HTTP edge decodes bodies."""
    return parse_json((FIXTURES / name).read_bytes())


def raw_json(text: str) -> Any:
    """Decode hand-written JSON text (may hold NaN/Infinity literals) like the HTTP edge does."""
    return parse_json(text.encode())


@dataclass(frozen=True)
class Expected:
    """What a recorded market must parse to (values copied from the fixture text)."""

    market_id: str
    event_id: str
    outcomes: tuple[str, ...]
    token_ids: tuple[str, ...]
    prices: tuple[str, ...]
    active: bool
    closed: bool
    accepting_orders: bool
    enable_order_book: bool
    neg_risk: bool
    fee_rate: str | None
    end_date: datetime
    uma_status: str | None
    uma_statuses: tuple[str, ...]
    tick_size: str | None
    liquidity: str
    volume: str
    volume_24h: str


MARKET_CASES: list[tuple[str, int | None, Expected]] = [
    (
        "gamma_market_open_crypto_updown_5m.json",
        None,
        Expected(
            market_id="1557558",
            event_id="260654",
            outcomes=("Up", "Down"),
            token_ids=(
                "104239898038807136052399800151408521467737075933964991162589336683346093173875",
                "71183960810705820955071415844881728181970340514894896943812046065452395013351",
            ),
            prices=("0.505", "0.495"),
            active=True,
            closed=False,
            accepting_orders=True,
            enable_order_book=True,
            neg_risk=False,
            fee_rate=None,  # feesEnabled true but no feeSchedule in this capture
            end_date=datetime(2026, 3, 12, 9, 25, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size="0.01",
            liquidity="20328.3747",
            volume="9.999997",
            volume_24h="9.999997",
        ),
    ),
    (
        "gamma_market_sports_moneyline.json",
        None,
        Expected(
            market_id="1878152",
            event_id="346898",
            outcomes=("FaZe", "illwill"),
            token_ids=(
                "89972346417086440659189114668296975440208562769200022591480064439842896371398",
                "90510951248295963583566830308208121966213462932425555585207203442852394431867",
            ),
            prices=("1", "0"),
            active=True,
            closed=True,
            accepting_orders=False,
            enable_order_book=True,
            neg_risk=False,
            fee_rate="0.03",
            end_date=datetime(2026, 4, 5, 21, 10, tzinfo=UTC),
            uma_status="resolved",
            uma_statuses=("proposed",),
            tick_size="0.001",
            liquidity="0",  # liquidity fields absent on this closed market
            volume="26458.188064999995",
            volume_24h="25072.141289999992",
        ),
    ),
    (
        "gamma_market_closed_resolved_no_won.json",
        None,
        Expected(
            market_id="1460332",
            event_id="",
            outcomes=("Yes", "No"),
            token_ids=(
                "108872296183993054938831082799825620165440189659433018108548854929333464287226",
                "89711174926330519158043401581181146613785179104141808554061413232025882707365",
            ),
            prices=("0", "1"),
            active=True,
            closed=True,
            accepting_orders=False,
            enable_order_book=True,
            neg_risk=False,
            fee_rate=None,
            end_date=datetime(2028, 1, 1, 5, 0, tzinfo=UTC),
            uma_status="resolved",
            uma_statuses=("proposed",),
            tick_size="0.001",
            liquidity="0",
            volume="0",  # volume, volumeNum and volume24hr all omitted
            volume_24h="0",
        ),
    ),
    (
        "gamma_market_resolved_after_dispute.json",
        None,
        Expected(
            market_id="1021160",
            event_id="",
            outcomes=("Yes", "No"),
            token_ids=(
                "3369655605564375825768687657783534396810145760763561810325243353146076952968",
                "95056462605093698797081109817707411557100952691419846262504375233856423067112",
            ),
            prices=("0", "1"),
            active=True,
            closed=True,
            accepting_orders=False,
            enable_order_book=True,
            neg_risk=True,
            fee_rate="0.04",
            end_date=datetime(2027, 12, 31, tzinfo=UTC),
            uma_status="resolved",
            uma_statuses=("proposed", "disputed", "proposed", "resolved"),
            tick_size="0.001",
            liquidity="0",
            volume="141662.457825",
            volume_24h="0",
        ),
    ),
    (
        "gamma_market_closed_but_accepting_orders.json",
        None,
        Expected(
            market_id="1812085",
            event_id="",
            outcomes=("Yes", "No"),
            token_ids=(
                "22978793223071892222859460592277435458011604214087068523744633723809814935807",
                "108268928354766371660560153450121076545199284531791348447523752861907448942629",
            ),
            prices=("1", "0"),
            active=True,
            closed=True,
            accepting_orders=True,
            enable_order_book=True,
            neg_risk=False,
            fee_rate=None,
            end_date=datetime(2027, 12, 31, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size="0.01",
            liquidity="0",
            volume="192817.4904490008",
            volume_24h="0",
        ),
    ),
    (
        "gamma_market_closed_legacy_amm_prices_0_0.json",
        None,
        Expected(
            market_id="12",
            event_id="",
            outcomes=("Yes", "No"),
            token_ids=(
                "53135072462907880191400140706440867753044989936304433583131786753949599718775",
                "60869871469376321574904667328762911501870754872924453995477779862968218702336",
            ),
            prices=("0", "0"),
            active=True,
            closed=True,
            accepting_orders=False,  # acceptingOrders / enableOrderBook absent on 2020 AMM markets
            enable_order_book=False,
            neg_risk=False,
            fee_rate=None,
            end_date=datetime(2020, 11, 4, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size=None,
            liquidity="0",
            volume="32257.45",  # volumeNum (number) wins over volume (string "32257.445115")
            volume_24h="0",
        ),
    ),
    (
        "gamma_market_closed_legacy_scalar_long_short.json",
        None,
        Expected(
            market_id="43",
            event_id="",
            outcomes=("Long", "Short"),
            token_ids=(
                "39300000801750313506415881962475878529141489415482379908932315503554876854698",
                "1993578487229597591293755303341708890459187725728713215820133740213314514940",
            ),
            prices=("0.5843311669077693146635445446077281", "0.4156688330922306853364554553922719"),
            active=True,
            closed=True,
            accepting_orders=False,
            enable_order_book=False,
            neg_risk=False,
            fee_rate=None,
            end_date=datetime(2021, 1, 2, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size=None,
            liquidity="4.6",
            volume="46944.58",
            volume_24h="0",
        ),
    ),
    (
        "gamma_markets_keyset_page_2026-10.json",
        0,
        Expected(
            market_id="559651",
            event_id="30828",
            outcomes=("Yes", "No"),
            token_ids=(
                "32338220190071351435772801779725302244575775216413325951443816017994629993401",
                "25659310674993675562345759665114759892400026242514633218387667107987341231962",
            ),
            prices=("0.0245", "0.9755"),
            active=True,
            closed=False,
            accepting_orders=True,
            enable_order_book=True,
            neg_risk=False,
            fee_rate="0.04",
            end_date=datetime(2027, 1, 1, 4, 59, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size="0.001",
            liquidity="583899.75949",
            volume="14405063.424337989",
            volume_24h="37872.476501",
        ),
    ),
    (
        "gamma_markets_keyset_page_2026-10.json",
        1,
        Expected(
            market_id="559652",
            event_id="30829",
            outcomes=("Yes", "No"),
            token_ids=(
                "54533043819946592547517511176940999955633860128497669742211153063842200957669",
                "87854174148074652060467921081181402357467303721471806610111179101805869578687",
            ),
            prices=("0.156", "0.844"),
            active=True,
            closed=False,
            accepting_orders=True,
            enable_order_book=True,
            neg_risk=True,
            fee_rate="0.04",
            end_date=datetime(2028, 11, 8, 4, 59, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size="0.001",
            liquidity="480495.60258",
            volume="27889695.78953499",
            volume_24h="6009.69431",
        ),
    ),
    (
        "gamma_markets_keyset_page_2026-10.json",
        2,
        Expected(
            market_id="559653",
            event_id="30829",
            outcomes=("Yes", "No"),
            token_ids=(
                "107064985435494333113391038470401719113272800530429703182710416066774068907304",
                "65176072261324737856085688071627118509549293922582857186996392180609764586527",
            ),
            prices=("0.1795", "0.8205"),
            active=True,
            closed=False,
            accepting_orders=True,
            enable_order_book=True,
            neg_risk=True,
            fee_rate="0.04",
            end_date=datetime(2028, 11, 8, 4, 59, tzinfo=UTC),
            uma_status=None,
            uma_statuses=(),
            tick_size="0.001",
            liquidity="381690.01008",
            volume="15437934.063368002",
            volume_24h="12769.123819999997",
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    MARKET_CASES,
    ids=[f"{name}[{index}]" for name, index, _ in MARKET_CASES],
)
def test_recorded_market_parses(name: str, index: int | None, expected: Expected) -> None:
    """Every recorded Gamma market parses to the values written in its fixture."""
    payload = load(name)
    raw = payload["markets"][index] if index is not None else payload
    market = parse_market(raw, None)
    assert market.market_id == expected.market_id
    assert market.event_id == expected.event_id
    assert market.outcomes == expected.outcomes
    assert market.token_ids == expected.token_ids
    assert all(type(token) is str for token in market.token_ids)
    assert market.outcome_prices == tuple(Decimal(p) for p in expected.prices)
    assert market.active is expected.active
    assert market.closed is expected.closed
    assert market.accepting_orders is expected.accepting_orders
    assert market.enable_order_book is expected.enable_order_book
    assert market.neg_risk is expected.neg_risk
    if expected.fee_rate is None:
        assert market.fee_schedule is None
    else:
        assert market.fee_schedule is not None
        assert market.fee_schedule.rate == Decimal(expected.fee_rate)
        assert market.fee_schedule.exponent == Decimal(1)
        assert market.fee_schedule.taker_only is True
    assert market.end_date == expected.end_date
    assert market.end_date is not None and market.end_date.utcoffset() is not None
    assert market.uma_resolution_status == expected.uma_status
    assert market.uma_resolution_statuses == expected.uma_statuses
    expected_tick = None if expected.tick_size is None else Decimal(expected.tick_size)
    assert market.tick_size == expected_tick
    assert market.liquidity_usd == Decimal(expected.liquidity)
    assert market.volume_usd == Decimal(expected.volume)
    assert market.volume_24h_usd == Decimal(expected.volume_24h)
    assert market.condition_id == raw["conditionId"]
    assert market.yes_token_id == expected.token_ids[0]


def test_every_recorded_market_fixture_is_covered() -> None:
    """The table above names every gamma_market_*.json fixture, so a new recording is not missed."""
    on_disk = {path.name for path in FIXTURES.glob("gamma_market_*.json")}
    assert on_disk == {name for name, index, _ in MARKET_CASES if index is None}


def test_negrisk_event_with_two_markets() -> None:
    """The negRisk event list parses: flags, tags, numbers, both child markets tied to the event."""
    (raw,) = load("gamma_events_list_negrisk_2_markets.json")
    event, skipped = parse_event(raw)
    assert skipped == {}
    assert event.event_id == "30829"
    assert event.slug == "democratic-presidential-nominee-2028"
    assert event.title == "Democratic Presidential Nominee 2028"
    assert event.active is True and event.closed is False and event.neg_risk is True
    assert event.end_date == datetime(2028, 11, 7, tzinfo=UTC)
    assert event.liquidity_usd == Decimal("43042905.16152")
    assert event.volume_usd == Decimal("799823812.487094")
    assert event.volume_24h_usd == Decimal("5669354.219446001")
    assert {"politics", "elections", "us-presidential-election"} <= set(event.tags)
    assert [m.market_id for m in event.markets] == ["559657", "559659"]
    assert {m.event_id for m in event.markets} == {"30829"}
    first = event.markets[0]
    assert first.token_ids == (
        "60590045489347122735554346200880179420435533609307820342798544098823516727807",
        "76005700027045000587004110133818166617024719626220722682005164003117993034812",
    )
    assert first.outcome_prices == (Decimal("0.0105"), Decimal("0.9895"))
    assert first.fee_schedule is None  # feesEnabled false, feeSchedule absent
    assert first.neg_risk is True and first.neg_risk_other is False
    assert first.liquidity_usd == Decimal("400500.66675")
    assert first.min_order_size == Decimal(5)


def test_resolved_yes_won_event() -> None:
    """The resolved event: closed, YES priced exactly 1, resolved status, missing liquidity is 0."""
    (raw,) = load("gamma_events_list_resolved_yes_won.json")
    event, skipped = parse_event(raw)
    assert skipped == {}
    assert event.closed is True
    assert event.liquidity_usd == Decimal(0)
    assert event.volume_usd == Decimal("53500373.740494")
    assert event.tags == ("politics", "congress", "biden", "gov-shutdown")
    (market,) = event.markets
    assert market.market_id == "506202"
    assert market.event_id == event.event_id
    assert market.outcome_prices == (Decimal(1), Decimal(0))
    assert market.closed is True and market.accepting_orders is False
    assert market.uma_resolution_status == "resolved"
    assert market.uma_resolution_statuses == ()
    assert market.end_date == datetime(2024, 12, 31, 12, tzinfo=UTC)


def test_non_yes_no_single_event_object() -> None:
    """A single event object (not a list) with team outcomes, tick 0.0025 and a 0.05 fee."""
    raw = load("gamma_event_resolved_non_yes_no_outcomes.json")
    event, skipped = parse_event(raw)
    assert skipped == {}
    assert event.event_id == "708641"
    assert event.tags == ("sports", "games", "soccer", "fifa-world-cup")
    (market,) = event.markets
    assert market.outcomes == ("Spain", "Argentina")
    assert market.outcome_prices == (Decimal(0), Decimal(1))
    assert market.tick_size == Decimal("0.0025")
    assert market.fee_schedule is not None and market.fee_schedule.rate == Decimal("0.05")
    assert market.token_ids[0] == (
        "98699639556495089435803820424633193482385080794955683699757392440226749572387"
    )


# -- malformed items ------------------------------------------------------------------------------


def good_market() -> dict[str, Any]:
    """A fresh copy of a valid recorded market to break one field at a time."""
    market: dict[str, Any] = load("gamma_markets_keyset_page_2026-10.json")["markets"][0]
    return market


def with_literal(field: str, literal: str) -> dict[str, Any]:
    """The good market with one field set to a raw JSON literal (NaN, Infinity, 1e400...)."""
    market = good_market()
    market[field] = "__LITERAL__"
    text = json.dumps(market).replace('"__LITERAL__"', literal)
    decoded: dict[str, Any] = raw_json(text)
    return decoded


def with_field(field: str, value: object) -> dict[str, Any]:
    """The good market with one field replaced (or removed when value is ...)."""
    market = good_market()
    if value is ...:
        del market[field]
    else:
        market[field] = value
    return market


MALFORMED_MARKETS: list[tuple[str, dict[str, Any], str]] = [
    ("nan_liquidity", with_literal("liquidityNum", "NaN"), "non_finite_number"),
    ("infinity_volume", with_literal("volumeNum", "Infinity"), "non_finite_number"),
    ("minus_infinity_24h", with_literal("volume24hr", "-Infinity"), "non_finite_number"),
    ("overflowing_1e400", with_literal("liquidityNum", "1e400"), "non_finite_number"),
    ("nan_inside_prices", with_field("outcomePrices", '["NaN", "0.5"]'), "non_finite_number"),
    ("negative_price", with_field("outcomePrices", '["-0.1", "1.1"]'), "price_out_of_range"),
    ("price_above_one", with_field("outcomePrices", '["1.5", "0"]'), "price_out_of_range"),
    ("missing_token_ids", with_field("clobTokenIds", ...), "missing_token_ids"),
    ("null_token_ids", with_field("clobTokenIds", None), "missing_token_ids"),
    ("empty_token_ids", with_field("clobTokenIds", "[]"), "missing_token_ids"),
    ("outcomes_not_json", with_field("outcomes", "Yes, No"), "bad_outcomes"),
    ("outcomes_single", with_field("outcomes", '["Yes"]'), "bad_outcomes"),
    ("outcomes_missing", with_field("outcomes", ...), "bad_outcomes"),
    (
        "token_ids_as_numbers",
        with_field(
            "clobTokenIds",
            "[32338220190071351435772801779725302244575775216413325951443816017994629993401, "
            "25659310674993675562345759665114759892400026242514633218387667107987341231962]",
        ),
        "bad_token_ids",
    ),
    ("token_ids_float", with_field("clobTokenIds", "[3.2338e76, 2.5659e76]"), "bad_token_ids"),
    ("token_id_not_digits", with_field("clobTokenIds", '["0xabc", "123"]'), "bad_token_ids"),
    ("token_ids_not_json", with_field("clobTokenIds", "[123"), "bad_token_ids"),
    ("three_outcomes", with_field("outcomes", '["Yes", "No", "Maybe"]'), "length_mismatch"),
    ("three_prices", with_field("outcomePrices", '["0.1", "0.2", "0.7"]'), "length_mismatch"),
    ("negative_liquidity", with_field("liquidityNum", -5), "bad_field:liquidityNum"),
    ("liquidity_not_number", with_field("liquidityNum", "lots"), "bad_field:liquidityNum"),
    ("bool_as_number", with_field("volumeNum", True), "bad_field:volumeNum"),
    ("bad_end_date", with_field("endDate", "next tuesday"), "bad_field:endDate"),
    ("flag_not_bool", with_field("active", "true"), "bad_field:active"),
    ("missing_id", with_field("id", ...), "bad_field:id"),
    ("fee_rate_nan", with_field("feeSchedule", {"rate": "NaN"}), "non_finite_number"),
    ("fee_rate_above_one", with_field("feeSchedule", {"rate": 2}), "bad_field:feeSchedule.rate"),
    ("fee_schedule_list", with_field("feeSchedule", [0.04]), "bad_field:feeSchedule"),
    (
        "statuses_not_list",
        with_field("umaResolutionStatuses", "proposed"),
        "bad_field:umaResolutionStatuses",
    ),
    ("zero_tick", with_field("orderPriceMinTickSize", 0), "bad_field:orderPriceMinTickSize"),
]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason in MALFORMED_MARKETS],
    ids=[case_id for case_id, _, _ in MALFORMED_MARKETS],
)
def test_malformed_market_rejected_with_reason(raw: dict[str, Any], reason: str) -> None:
    """Each malformed market raises ItemError carrying the expected reason code."""
    with pytest.raises(ItemError) as caught:
        parse_market(raw, "1")
    assert caught.value.reason == reason


@pytest.mark.parametrize("raw", ["[]", 7, None, ["a"]], ids=["str", "int", "null", "list"])
def test_non_object_market_rejected(raw: object) -> None:
    """A market that is not a JSON object is rejected, not crashed on."""
    with pytest.raises(ItemError) as caught:
        parse_market(raw, None)
    assert caught.value.reason == "not_an_object"


def test_literals_never_become_float_nan_or_inf() -> None:
    """NaN/Infinity/1e400 decode to their source text, so the raw page can be dumped strictly."""
    page = raw_json('{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": 0.25, "f": 5}')
    assert page == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "1e400", "e": 0.25, "f": 5}
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in page.values())
    json.dumps(page, allow_nan=False)


def test_huge_integer_literal_does_not_abort_page() -> None:
    """An integer literal beyond Python's digit limit stays text instead of failing the page."""
    page = raw_json('{"items": [{"id": "1", "n": ' + "9" * 5000 + '}, {"id": "2", "n": 3}]}')
    assert page["items"][0]["n"] == "9" * 5000
    assert page["items"][1]["n"] == 3


@pytest.mark.parametrize(
    ("fields", "liquidity", "volume", "volume_24h"),
    [
        ({"liquidityNum": 12, "liquidity": "99"}, "12", None, None),
        ({"liquidity": "12.5"}, "12.5", None, None),
        ({"volumeNum": "7.25", "volume": "1"}, None, "7.25", None),
        ({"volume": "3"}, None, "3", None),
        ({"volume24hr": 4}, None, None, "4"),
        ({}, "0", "0", "0"),
    ],
    ids=["num_wins", "string_fallback", "num_as_str", "vol_fallback", "int_24h", "all_absent"],
)
def test_number_fields_prefer_numeric_and_fall_back(
    fields: dict[str, Any], liquidity: str | None, volume: str | None, volume_24h: str | None
) -> None:
    """liquidityNum/volumeNum win over liquidity/volume strings; absent numbers are 0."""
    market = good_market()
    for name in ("liquidityNum", "liquidity", "volumeNum", "volume", "volume24hr"):
        market.pop(name, None)
    market.update(fields)
    parsed = parse_market(market, None)
    if liquidity is not None:
        assert parsed.liquidity_usd == Decimal(liquidity)
    if volume is not None:
        assert parsed.volume_usd == Decimal(volume)
    if volume_24h is not None:
        assert parsed.volume_24h_usd == Decimal(volume_24h)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-12T09:25:00Z", datetime(2026, 3, 12, 9, 25, tzinfo=UTC)),
        ("2025-07-11T18:41:17.827458Z", datetime(2025, 7, 11, 18, 41, 17, 827458, tzinfo=UTC)),
        ("2026-03-12T11:25:00+02:00", datetime(2026, 3, 12, 9, 25, tzinfo=UTC)),
        ("2024-12-25 00:28:03+00", datetime(2024, 12, 25, 0, 28, 3, tzinfo=UTC)),
        ("2026-03-12T09:25:00", datetime(2026, 3, 12, 9, 25, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_end_date_forms(text: str | None, expected: datetime | None) -> None:
    """endDate with or without microseconds/Z/offset becomes an aware UTC datetime (or None)."""
    parsed = parse_market(with_field("endDate", text), None)
    assert parsed.end_date == expected
    if parsed.end_date is not None:
        assert parsed.end_date.utcoffset() is not None and parsed.end_date.tzinfo == UTC


@pytest.mark.parametrize("prices", [None, "", "[]"], ids=["null", "empty_str", "empty_list"])
def test_new_market_without_prices_is_kept(prices: str | None) -> None:
    """A new market with absent or empty outcomePrices is valid and has no prices."""
    assert parse_market(with_field("outcomePrices", prices), None).outcome_prices == ()


def test_fees_disabled_overrides_schedule() -> None:
    """feesEnabled false means no fee even when a feeSchedule object is present."""
    market = with_field("feesEnabled", False)
    assert market["feeSchedule"] is not None
    assert parse_market(market, None).fee_schedule is None


@pytest.mark.parametrize(
    ("parent", "embedded", "expected"),
    [("77", "30828", "77"), (None, "30828", "30828"), (None, ..., "")],
    ids=["parent_wins", "embedded_event", "none"],
)
def test_event_id_resolution(parent: str | None, embedded: object, expected: str) -> None:
    """event_id is the parent passed in, else events[0].id, else the empty string."""
    market = good_market() if embedded is not ... else with_field("events", ...)
    assert parse_market(market, parent).event_id == expected


def test_bad_child_market_skipped_event_kept() -> None:
    """A malformed child market is skipped and counted while the event and good siblings stay."""
    (raw,) = load("gamma_events_list_negrisk_2_markets.json")
    raw["markets"][0]["outcomePrices"] = '["NaN", "0.5"]'
    raw["markets"].append({"id": "999", "outcomes": "not json"})
    raw["markets"].append("not an object")
    event, skipped = parse_event(raw)
    assert [m.market_id for m in event.markets] == ["559659"]
    assert skipped == {"non_finite_number": 1, "bad_outcomes": 1, "not_an_object": 1}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", ..., "bad_field:id"),
        ("id", 1.5, "bad_field:id"),
        ("tags", [{"label": "no slug"}], "bad_field:tags"),
        ("tags", "politics", "bad_field:tags"),
        ("closed", "no", "bad_field:closed"),
        ("endDate", "soon", "bad_field:endDate"),
        ("liquidity", "NaN", "non_finite_number"),
        ("volume", -1, "bad_field:volume"),
        ("markets", {"id": "1"}, "bad_field:markets"),
    ],
)
def test_malformed_event_rejected(field: str, value: object, reason: str) -> None:
    """A malformed event itself raises ItemError with the reason code."""
    (raw,) = load("gamma_events_list_negrisk_2_markets.json")
    if value is ...:
        del raw[field]
    else:
        raw[field] = value
    with pytest.raises(ItemError) as caught:
        parse_event(raw)
    assert caught.value.reason == reason
