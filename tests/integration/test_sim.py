"""The built-in Polymarket simulator: universe, Gamma keyset, CLOB books, lifecycle, faults."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from prescientd.sim import (
    MALFORMED_EVENT_COUNT,
    MarketKind,
    RunningSim,
    SimState,
    generate_universe,
    render_event,
    render_market,
    running_simulator,
)
from prescientd.sim.server import events_for_markets
from prescientd.sim.universe import TEMPLATES

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
STEP_S = 5.0
BOOK_KEYS = [
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
]
TRADABLE_KINDS = {
    MarketKind.OPEN,
    MarketKind.OTHER_OUTCOMES,
    MarketKind.NEG_RISK,
    MarketKind.EXPIRED,
}


@dataclass
class FakeClock:
    """A settable clock; starts mid-step so +1 s stays in the same price step."""

    t: float = NOW.timestamp() + 1.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[RunningSim]:
    async with running_simulator(seed=3, n_events=200, clock=clock, now=NOW) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="module")
def universe_2000() -> Iterator[Any]:
    yield generate_universe(7, 2000, NOW)


async def get_json(http: aiohttp.ClientSession, url: str, params: Any = None) -> tuple[int, Any]:
    async with http.get(url, params=params) as resp:
        return resp.status, json.loads(await resp.text())


async def post_json(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, data=json.dumps(body)) as resp:
        return resp.status, json.loads(await resp.text())


def markets_of(sim: RunningSim, kind: MarketKind) -> list[Any]:
    return [m for m in sim.state.universe.markets if m.kind == kind]


def first_moving_tradable(sim: RunningSim) -> Any:
    return next(
        m for m in sim.state.universe.markets if m.tradable and all(p.moves for p in m.prices)
    )


def type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Universe


def test_same_seed_renders_identical_json() -> None:
    """Two universes from the same seed, now and clock render byte-identical events."""

    def rendered(seed: int) -> str:
        state = SimState(generate_universe(seed, 150, NOW), clock=lambda: NOW.timestamp())
        return json.dumps([render_event(e, state.live_quotes) for e in state.universe.events])

    assert rendered(11) == rendered(11)
    assert rendered(11) != rendered(12)


def test_every_kind_appears_with_consistent_flags(universe_2000: Any) -> None:
    """Each kind is present, ~70% of markets are plain open ones, and flags match each kind."""
    kinds = Counter(m.kind for m in universe_2000.markets)
    assert set(kinds) == set(MarketKind)
    assert 0.6 < kinds[MarketKind.OPEN] / len(universe_2000.markets) < 0.8
    assert kinds[MarketKind.MULTI_OUTCOME] >= 3
    for m in universe_2000.markets:
        assert m.tradable == (m.kind in TRADABLE_KINDS), (m.id, m.kind)
        if m.kind == MarketKind.EXPIRED:
            assert m.end_date < NOW
        if m.kind == MarketKind.RESOLVED:
            assert m.closed and not m.accepting_orders and m.uma_resolution_status == "resolved"
            assert m.frozen_prices in (("1", "0"), ("0", "1")) and m.liquidity is None
        if m.kind == MarketKind.PROPOSED:
            assert not m.closed and not m.accepting_orders
            assert m.uma_resolution_status == "proposed"
        if m.kind == MarketKind.CLOSED_ACCEPTING:
            assert m.closed and m.accepting_orders and m.uma_resolution_status is None
            assert m.frozen_prices == ("1", "0")
        if m.kind == MarketKind.NEG_RISK_PLACEHOLDER:
            assert m.neg_risk_other and not m.accepting_orders and m.neg_risk
        if m.kind == MarketKind.MULTI_OUTCOME:
            assert len(m.outcomes) == len(m.token_ids) == 3
        if m.kind == MarketKind.OTHER_OUTCOMES:
            assert m.outcomes != ("Yes", "No")


def test_neg_risk_groups_share_an_id_and_hold_one_placeholder(universe_2000: Any) -> None:
    """Every negRisk event's children share its negRiskMarketID and include one placeholder."""
    groups = [e for e in universe_2000.events if e.neg_risk]
    assert groups
    for e in groups:
        assert {m.neg_risk_market_id for m in e.markets} == {e.neg_risk_market_id}
        assert sum(m.kind == MarketKind.NEG_RISK_PLACEHOLDER for m in e.markets) == 1
        assert len(e.markets) >= 4


def test_filter_relevant_values_are_spread(universe_2000: Any) -> None:
    """Liquidity, volume, end dates, ticks, fees, tags and ids span what filters care about."""
    markets = universe_2000.markets
    liquidity = [m.liquidity for m in markets if m.liquidity]
    assert min(liquidity) < 100 and max(liquidity) > 500_000
    assert sum(x < 1000 for x in liquidity) > len(liquidity) * 0.1
    volume_24h = [m.volume_24h for m in markets if m.volume_24h is not None]
    assert 0 in volume_24h and max(volume_24h) > 100_000
    ends = [m.end_date for m in markets]
    assert min(ends) < NOW and max(ends) > NOW + timedelta(days=365 * 2)
    assert {m.tick_size for m in markets} == {"0.01", "0.001", "0.0025"}
    rates = {m.fee_schedule.rate for m in markets if m.fee_schedule}
    assert rates >= {0.04, 0.05, 0.03, 0.07}
    assert any(not m.fees_enabled and m.fee_schedule is None for m in markets)
    tags = {t.slug for e in universe_2000.events for t in e.tags}
    assert tags == {
        "politics", "elections", "sports", "soccer", "crypto", "economics", "geopolitics",
        "culture",
    }  # fmt: skip
    assert any(e.closed for e in universe_2000.events)
    for m in markets:
        assert re.fullmatch(r"0x[0-9a-f]{64}", m.condition_id)
        assert all(re.fullmatch(r"[1-9][0-9]{75,77}", t) for t in m.token_ids)
    token_ids = [t for m in markets for t in m.token_ids]
    assert len(set(token_ids)) == len(token_ids)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


@pytest.mark.parametrize(
    ("template", "fixture", "pick"),
    [
        ("market", "gamma_markets_keyset_page_2026-10.json", lambda d: d["markets"][0]),
        ("market_negrisk", "gamma_markets_keyset_page_2026-10.json", lambda d: d["markets"][1]),
        (
            "market_resolved",
            "gamma_events_list_resolved_yes_won.json",
            lambda d: d[0]["markets"][0],
        ),
        ("event", "gamma_events_list_negrisk_2_markets.json", lambda d: d[0]),
        ("event_closed", "gamma_events_list_resolved_yes_won.json", lambda d: d[0]),
        ("book", "clob_book_rest_2026-10_many_levels.json", lambda d: d),
        ("clob_market", "clob_market_closed_with_winner.json", lambda d: d),
        ("market_keyset_schema", "gamma_markets_keyset_page_2026-10.json", lambda d: d["$schema"]),
    ],
)
def test_templates_are_verbatim_recorded_objects(
    template: str, fixture: str, pick: Callable[[Any], Any]
) -> None:
    """Each packaged template equals the recorded fixture object it was copied from."""
    recorded = json.loads((FIXTURES / fixture).read_text())
    assert TEMPLATES[template] == pick(recorded)


NULLABLE_KEYS = {"feeType", "feeSchedule"}


@pytest.mark.parametrize(
    ("template_name", "kind"),
    [
        ("market", MarketKind.OPEN),
        ("market_negrisk", MarketKind.NEG_RISK),
        ("market_resolved", MarketKind.RESOLVED),
    ],
)
def test_market_keys_have_template_types(
    universe_2000: Any, template_name: str, kind: MarketKind
) -> None:
    """Every generated market key shared with a recorded market has the same JSON type."""
    template = TEMPLATES[template_name]
    state = SimState(universe_2000, clock=lambda: NOW.timestamp())
    checked = 0
    for m in [m for m in universe_2000.markets if m.kind == kind][:40]:
        event = universe_2000.event_by_id[m.event_id]
        rendered = json.loads(
            json.dumps(render_market(m, event, state.live_quotes(m), include_events=True))
        )
        for key, value in rendered.items():
            nullable = key in NULLABLE_KEYS and None in (value, template.get(key))
            if key in template and not nullable:
                assert type_class(value) == type_class(template[key]), (key, value)
                checked += 1
        for key in ("outcomes", "outcomePrices", "clobTokenIds", "umaResolutionStatuses"):
            decoded = json.loads(rendered[key])
            assert isinstance(decoded, list) and all(isinstance(x, str) for x in decoded)
        assert isinstance(rendered["volume"], str)
        assert ("liquidityNum" in rendered) == (kind != MarketKind.RESOLVED)
        assert ("umaResolutionStatus" in rendered) == (kind == MarketKind.RESOLVED)
    assert checked > 1000


@pytest.mark.parametrize(("template_name", "closed"), [("event", False), ("event_closed", True)])
def test_event_keys_have_template_types(
    universe_2000: Any, template_name: str, closed: bool
) -> None:
    """Every generated event key shared with a recorded event has the same JSON type."""
    template = TEMPLATES[template_name]
    state = SimState(universe_2000, clock=lambda: NOW.timestamp())
    events = [e for e in universe_2000.events if e.closed == closed and e.active][:30]
    checked = 0
    for e in events:
        rendered = json.loads(json.dumps(render_event(e, state.live_quotes)))
        for key, value in rendered.items():
            if key in template:
                assert type_class(value) == type_class(template[key]), (key, value)
                checked += 1
        assert isinstance(rendered["volume"], int | float)
        assert ("liquidity" in rendered) == (not closed)
        assert all("events" not in child for child in rendered["markets"])
    assert checked > 500


# ---------------------------------------------------------------------------------------------
# Gamma keyset


async def test_events_keyset_pages_every_active_event_once(http: aiohttp.ClientSession) -> None:
    """2,000 events page out in id order, each active event exactly once, no cursor at the end."""
    async with running_simulator(seed=5, n_events=2000, now=NOW) as big:
        expected = [e.id for e in big.state.universe.events if e.active]
        seen: list[str] = []
        pages = 0
        params: dict[str, str] = {"limit": "100"}
        while True:
            status, body = await get_json(http, big.url + "/events/keyset", params)
            assert status == 200
            pages += 1
            seen += [e["id"] for e in body["events"]]
            if "next_cursor" not in body:
                break
            assert len(body["events"]) == 100
            params = {"limit": "100", "after_cursor": body["next_cursor"]}
        assert seen == sorted(expected, key=int)
        assert pages == math.ceil(len(expected) / 100) and pages >= 20
        assert len(expected) < 2000  # inactive events exist and are not listed


async def test_keyset_paging_sees_a_resolution_between_pages(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """A market resolved while paging closed=false leaves the later pages (listings are cached)."""
    params = {"limit": "10", "closed": "false"}
    _, first = await get_json(http, sim.url + "/markets/keyset", params)
    first_ids = {m["id"] for m in first["markets"]}
    last_seen = max(int(i) for i in first_ids)
    later = next(m for m in sim.state.universe.markets if m.tradable and int(m.id) > last_seen)
    status, _ = await post_json(
        http, sim.url + "/_sim/resolve", {"market_id": later.id, "outcome": "yes"}
    )
    assert status == 200
    seen: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        _, page = await get_json(
            http, sim.url + "/markets/keyset", {**params, "after_cursor": cursor}
        )
        seen += [m["id"] for m in page["markets"]]
        cursor = page.get("next_cursor")
    assert later.id not in seen
    expected = sorted(
        (m.id for m in sim.state.universe.markets if m.active and not m.closed), key=int
    )
    assert [m["id"] for m in first["markets"]] + seen == expected


@pytest.mark.parametrize(("limit", "rows"), [(None, 20), ("7", 7), ("500", 100), ("100", 100)])
async def test_keyset_limit_default_and_clamp(
    sim: RunningSim, http: aiohttp.ClientSession, limit: str | None, rows: int
) -> None:
    """limit defaults to 20 and is silently clamped to 100."""
    params = {"limit": limit} if limit else None
    for path, key in (("/events/keyset", "events"), ("/markets/keyset", "markets")):
        status, body = await get_json(http, sim.url + path, params)
        assert status == 200 and len(body[key]) == rows
        assert "next_cursor" in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"offset": "0"}, "offset is not allowed on keyset endpoints"),
        ({"after_cursor": "!!not-base64!!"}, "invalid after_cursor"),
        ({"after_cursor": "WzEsMl0"}, "invalid after_cursor"),
        ({"order": "volume_num"}, "order fields are not valid"),
        ({"end_date_min": "tomorrow"}, "invalid date for end_date_min"),
    ],
)
async def test_keyset_rejects_bad_params_with_422(
    sim: RunningSim, http: aiohttp.ClientSession, params: dict[str, str], message: str
) -> None:
    """offset, undecodable cursors, snake_case order and bad filters answer 422."""
    for path in ("/events/keyset", "/markets/keyset"):
        status, body = await get_json(http, sim.url + path, params)
        assert status == 422
        assert body == {"type": "validation error", "error": message}


@pytest.mark.parametrize("path", ["/events/keyset", "/markets/keyset"])
async def test_full_last_page_has_no_cursor(
    sim: RunningSim, http: aiohttp.ClientSession, path: str
) -> None:
    """A page that is full but holds the last rows omits next_cursor."""
    rows = sim.state.universe.events if path == "/events/keyset" else sim.state.universe.markets
    ids = [r.id for r in rows if r.active][:3]
    params = [("id", i) for i in ids]
    _, exact = await get_json(http, sim.url + path, [*params, ("limit", "3")])
    _, short = await get_json(http, sim.url + path, [*params, ("limit", "2")])
    key = path.split("/")[1]
    assert [r["id"] for r in exact[key]] == ids and "next_cursor" not in exact
    assert [r["id"] for r in short[key]] == ids[:2] and "next_cursor" in short


@pytest.mark.parametrize("param", ["cursor", "next_cursor"])
async def test_wrong_cursor_param_returns_page_one(
    sim: RunningSim, http: aiohttp.ClientSession, param: str
) -> None:
    """cursor= and next_cursor= are silently ignored (page 1 again); after_cursor advances."""
    _, first = await get_json(http, sim.url + "/events/keyset")
    _, again = await get_json(http, sim.url + "/events/keyset", {param: first["next_cursor"]})
    _, second = await get_json(
        http, sim.url + "/events/keyset", {"after_cursor": first["next_cursor"]}
    )
    assert [e["id"] for e in again["events"]] == [e["id"] for e in first["events"]]
    assert int(second["events"][0]["id"]) > int(first["events"][-1]["id"])


async def test_events_keyset_filters_match_ground_truth(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """closed, end_date_min, liquidity_min and volume_min select exactly the matching events."""
    params = {
        "closed": "false",
        "end_date_min": (NOW + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
        "liquidity_min": "5000",
        "volume_min": "20000",
        "limit": "100",
    }
    got: list[str] = []
    while True:
        _, body = await get_json(http, sim.url + "/events/keyset", params)
        got += [e["id"] for e in body["events"]]
        if "next_cursor" not in body:
            break
        params["after_cursor"] = body["next_cursor"]
    expected = [
        e.id
        for e in sim.state.universe.events
        if e.active
        and not e.closed
        and e.end_date >= NOW + timedelta(days=30)
        and (e.liquidity or 0) >= 5000
        and e.volume >= 20000
    ]
    assert got == expected and 0 < len(expected) < len(sim.state.universe.events) / 2
    _, closed = await get_json(http, sim.url + "/events/keyset", {"closed": "true"})
    assert closed["events"] and all(e["closed"] for e in closed["events"])


async def test_events_embed_all_children_including_closed_and_placeholders(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """A negRisk event embeds every child, placeholder included, without nested `events`."""
    event = next(e for e in sim.state.universe.events if e.neg_risk)
    _, body = await get_json(http, sim.url + "/events/keyset", {"id": event.id})
    (rendered,) = body["events"]
    assert [m["id"] for m in rendered["markets"]] == [m.id for m in event.markets]
    assert any(m["negRiskOther"] and not m["acceptingOrders"] for m in rendered["markets"])
    assert all("events" not in m for m in rendered["markets"])
    assert rendered["negRisk"] is True
    assert all(m["negRiskMarketID"] == rendered["negRiskMarketID"] for m in rendered["markets"])


async def test_markets_keyset_filters_and_embeds_parent_event(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """id/condition_ids/closed filters work and each market carries its parent `events`."""
    picks = [m for m in sim.state.universe.markets if m.active][:5]
    params = [("id", m.id) for m in picks[:3]] + [("condition_ids", picks[0].condition_id)]
    _, body = await get_json(http, sim.url + "/markets/keyset", params)
    assert [m["id"] for m in body["markets"]] == [picks[0].id]
    assert "next_cursor" not in body
    assert body["markets"][0]["events"][0]["id"] == picks[0].event_id
    _, open_only = await get_json(
        http, sim.url + "/markets/keyset", {"closed": "false", "limit": "100"}
    )
    assert all(not m["closed"] and m["active"] for m in open_only["markets"])


async def test_single_objects_and_404s(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    """GET /markets/{id}, /events/{id} and CLOB /markets/{conditionId} serve any state; 404 else."""
    resolved = markets_of(sim, MarketKind.RESOLVED)[0]
    status, market = await get_json(http, f"{sim.url}/markets/{resolved.id}")
    assert status == 200 and market["$schema"].endswith("/Market.json")
    assert market["events"][0]["id"] == resolved.event_id
    assert json.loads(market["outcomePrices"]) in (["1", "0"], ["0", "1"])
    status, event = await get_json(http, f"{sim.url}/events/{resolved.event_id}")
    assert status == 200 and resolved.id in [m["id"] for m in event["markets"]]
    status, clob = await get_json(http, f"{sim.url}/markets/{resolved.condition_id}")
    assert status == 200 and clob["condition_id"] == resolved.condition_id
    assert [t["winner"] for t in clob["tokens"]] == [
        resolved.winner_index == 0,
        resolved.winner_index == 1,
    ]
    for path in ("/markets/1", "/events/1", "/markets/0x" + "0" * 64):
        status, _ = await get_json(http, sim.url + path)
        assert status == 404


# ---------------------------------------------------------------------------------------------
# CLOB books


async def test_post_books_rejects_oversized_and_invalid_payloads(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """501 items -> 400 'Payload exceeds the limit'; malformed bodies -> 400 'Invalid payload'."""
    token = sim.state.universe.markets[0].token_ids[0]
    status, body = await post_json(http, sim.url + "/books", [{"token_id": token}] * 501)
    assert (status, body) == (400, {"error": "Payload exceeds the limit"})
    for bad in ({"token_id": token}, [token], [{"id": token}], [{"token_id": 5}]):
        status, body = await post_json(http, sim.url + "/books", bad)
        assert (status, body) == (400, {"error": "Invalid payload"})
    async with http.post(sim.url + "/books", data=b"[{") as resp:
        assert resp.status == 400 and await resp.json() == {"error": "Invalid payload"}
    status, body = await post_json(http, sim.url + "/books", [{"token_id": token}] * 500)
    assert status == 200


async def test_post_books_omits_unknown_and_closed_and_shuffles(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """Unknown and closed/resolved/proposed tokens vanish; the order is the server's own."""
    live = [t for m in sim.state.universe.markets if m.has_book for t in m.token_ids][:60]
    dead = [
        markets_of(sim, kind)[0].token_ids[0]
        for kind in (MarketKind.RESOLVED, MarketKind.PROPOSED, MarketKind.CLOSED_ACCEPTING)
    ]
    request = [{"token_id": t} for t in [*live, *dead, "123", "not-a-token"]]
    status, books = await post_json(http, sim.url + "/books", request)
    assert status == 200
    returned = [b["asset_id"] for b in books]
    assert sorted(returned) == sorted(live)
    assert returned != live
    _, again = await post_json(http, sim.url + "/books", request[::-1])
    assert [b["asset_id"] for b in again] == returned


async def test_no_book_mirrors_yes_book(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    """NO bids = 1 - YES asks and NO asks = 1 - YES bids, same sizes; last trade is shared."""
    for m in [m for m in sim.state.universe.markets if m.tradable][:25]:
        _, books = await post_json(http, sim.url + "/books", [{"token_id": t} for t in m.token_ids])
        by_id = {b["asset_id"]: b for b in books}
        yes, no = by_id[m.token_ids[0]], by_id[m.token_ids[1]]
        assert [(1 - Decimal(x["price"]), x["size"]) for x in yes["asks"]] == [
            (Decimal(x["price"]), x["size"]) for x in no["bids"]
        ]
        assert [(1 - Decimal(x["price"]), x["size"]) for x in yes["bids"]] == [
            (Decimal(x["price"]), x["size"]) for x in no["asks"]
        ]
        assert yes["last_trade_price"] == no["last_trade_price"]
        assert yes["hash"] != no["hash"]


async def test_get_book_shape_and_errors(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    """GET /book matches the recorded shape; 400 without token_id; 404 unknown or resolved."""
    market = first_moving_tradable(sim)
    status, book = await get_json(http, sim.url + "/book", {"token_id": market.token_ids[0]})
    assert status == 200 and list(book) == BOOK_KEYS == list(TEMPLATES["book"])
    assert re.fullmatch(r"[0-9a-f]{40}", book["hash"]) and book["timestamp"].isdigit()
    assert book["market"] == market.condition_id and book["min_order_size"] == "5"
    assert book["tick_size"] == market.tick_size and book["neg_risk"] is market.neg_risk
    bids = [Decimal(x["price"]) for x in book["bids"]]
    asks = [Decimal(x["price"]) for x in book["asks"]]
    assert bids == sorted(bids) and asks == sorted(asks, reverse=True)
    assert bids[-1] < asks[-1] and 5 <= max(len(bids), len(asks)) <= 15
    assert all(isinstance(x["size"], str) and Decimal(x["size"]) > 0 for x in book["bids"])
    tick = Decimal(market.tick_size)
    assert all(p % tick == 0 for p in bids + asks)
    status, body = await get_json(http, sim.url + "/book")
    assert (status, body) == (400, {"error": "Invalid token id"})
    for token in ("12345", markets_of(sim, MarketKind.RESOLVED)[0].token_ids[0]):
        status, body = await get_json(http, sim.url + "/book", {"token_id": token})
        assert (status, body) == (404, {"error": "No orderbook exists for the requested token id"})


async def test_prices_move_only_across_steps(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Within a step the book is identical; a new step brings a new hash and step timestamp."""
    market = first_moving_tradable(sim)
    static = next(
        m for m in sim.state.universe.markets if m.tradable and not any(p.moves for p in m.prices)
    )
    tokens = [{"token_id": market.token_ids[0]}, {"token_id": static.token_ids[0]}]

    async def poll() -> dict[str, Any]:
        _, books = await post_json(http, sim.url + "/books", tokens)
        return {b["asset_id"]: b for b in books}

    first = await poll()
    clock.t += 1.0
    same = await poll()
    assert same == first
    hashes, mids = set(), set()
    for _ in range(30):
        clock.t += STEP_S
        book = (await poll())[market.token_ids[0]]
        step_start_ms = math.floor(clock.t / STEP_S) * int(STEP_S * 1000)
        assert book["timestamp"] == str(step_start_ms)
        hashes.add(book["hash"])
        mids.add(Decimal(book["bids"][-1]["price"]) + Decimal(book["asks"][-1]["price"]))
        assert (await poll())[static.token_ids[0]] == first[static.token_ids[0]]
    assert len(hashes) == 30 and len(mids) > 3


async def test_ground_truth_matches_served_prices(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """/_sim/markets best bid/ask equal the book tops and yes_display equals Gamma's price."""
    _, truth = await get_json(http, sim.url + "/_sim/markets")
    rows = {row["id"]: row for row in truth["markets"]}
    assert len(rows) == len(sim.state.universe.markets)
    wide_seen = False
    for m in [m for m in sim.state.universe.markets if m.tradable][:40]:
        row = rows[m.id]
        _, book = await get_json(http, sim.url + "/book", {"token_id": m.token_ids[0]})
        assert row["yes_best_bid"] == book["bids"][-1]["price"]
        assert row["yes_best_ask"] == book["asks"][-1]["price"]
        _, gamma = await get_json(http, f"{sim.url}/markets/{m.id}")
        assert Decimal(json.loads(gamma["outcomePrices"])[0]) == Decimal(row["yes_display"])
        spread = Decimal(row["yes_best_ask"]) - Decimal(row["yes_best_bid"])
        expected = row["yes_last_trade"] if spread > Decimal("0.1") else row["yes_mid"]
        wide_seen |= spread > Decimal("0.1")
        assert Decimal(row["yes_display"]) == Decimal(expected)
    assert wide_seen


def test_ten_thousand_books_are_cheap_to_serve(universe_2000: Any) -> None:
    """Building every book of a step once, then again from cache, stays well under budget."""
    import time

    state = SimState(universe_2000, clock=lambda: NOW.timestamp())
    tokens = [t for m in universe_2000.markets for t in m.token_ids][:10_000]
    cpu = time.process_time()
    cold = state.books_bytes(tokens)
    cold_s = time.process_time() - cpu
    cpu = time.process_time()
    warm = state.books_bytes(tokens)
    warm_s = time.process_time() - cpu
    assert warm == cold and len(cold) > 5000
    assert cold_s < 2.0 and warm_s < 0.5


# ---------------------------------------------------------------------------------------------
# Lifecycle control


@pytest.mark.parametrize(
    ("outcome", "prices", "winners"),
    [
        ("yes", ["1", "0"], [True, False]),
        ("no", ["0", "1"], [False, True]),
        ("50-50", ["0.5", "0.5"], [False, False]),
    ],
)
async def test_resolve_closes_market_everywhere(
    sim: RunningSim,
    http: aiohttp.ClientSession,
    outcome: str,
    prices: list[str],
    winners: list[bool],
) -> None:
    """Resolution: Gamma 1/0 prices and 'resolved', CLOB winner, books gone."""
    m = first_moving_tradable(sim)
    status, body = await post_json(
        http, sim.url + "/_sim/resolve", {"market_id": m.id, "outcome": outcome}
    )
    assert status == 200 and body["market"]["resolved"] and not body["market"]["tradable"]
    _, gamma = await get_json(http, f"{sim.url}/markets/{m.id}")
    assert json.loads(gamma["outcomePrices"]) == prices
    assert gamma["closed"] is True and gamma["acceptingOrders"] is False
    assert gamma["umaResolutionStatus"] == "resolved"
    assert json.loads(gamma["umaResolutionStatuses"])[-1] == "resolved"
    assert "liquidityNum" not in gamma and gamma["active"] is True
    _, clob = await get_json(http, f"{sim.url}/markets/{m.condition_id}")
    assert [t["winner"] for t in clob["tokens"]] == winners
    assert clob["enable_order_book"] is False and clob["closed"] is True
    assert clob["is_50_50_outcome"] is (outcome == "50-50")
    status, _ = await get_json(http, sim.url + "/book", {"token_id": m.token_ids[0]})
    assert status == 404
    _, books = await post_json(http, sim.url + "/books", [{"token_id": m.token_ids[1]}])
    assert books == []
    status, body = await post_json(
        http, sim.url + "/_sim/resolve", {"market_id": m.id, "outcome": "yes"}
    )
    assert status == 409


async def test_propose_stops_orders_and_book(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    """A proposal keeps the market open but stops orders and removes its book."""
    m = first_moving_tradable(sim)
    status, _ = await post_json(http, sim.url + "/_sim/propose", {"market_id": m.id})
    assert status == 200
    _, gamma = await get_json(http, f"{sim.url}/markets/{m.id}")
    assert gamma["umaResolutionStatus"] == "proposed" and gamma["closed"] is False
    assert gamma["acceptingOrders"] is False
    status, _ = await get_json(http, sim.url + "/book", {"token_id": m.token_ids[0]})
    assert status == 404
    status, body = await post_json(
        http, sim.url + "/_sim/resolve", {"market_id": "nope", "outcome": "yes"}
    )
    assert status == 404 and "error" in body
    status, _ = await post_json(
        http, sim.url + "/_sim/resolve", {"market_id": m.id, "outcome": "maybe"}
    )
    assert status == 400


def test_auto_resolution_is_deterministic_and_uses_price() -> None:
    """Each interval proposes a batch, the next resolves it; same seed and clock, same outcome."""

    def run() -> list[tuple[str, str | None]]:
        clock = FakeClock()
        state = SimState(
            generate_universe(9, 300, NOW), clock=clock, resolve_interval_s=10, resolve_batch=40
        )
        clock.t += 10
        state.run_due_resolutions()
        proposed = [m for m in state.universe.markets if m.uma_resolution_status == "proposed"]
        assert len([m for m in proposed if m.kind in TRADABLE_KINDS]) == 40
        clock.t += 10
        state.run_due_resolutions()
        rows = [state.market_truth(m) for m in proposed if m.kind in TRADABLE_KINDS]
        assert all(row["resolved"] for row in rows)
        return [(row["id"], row["winner"]) for row in rows]

    first = run()
    assert first == run()
    assert {w for _, w in first} == {"yes", "no"}


# ---------------------------------------------------------------------------------------------
# Faults and request log


async def test_request_log_records_every_request(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """Method, path, query, status and POST /books token count are logged; clear empties it."""
    token = sim.state.universe.markets[0].token_ids[0]
    await get_json(http, sim.url + "/events/keyset", {"limit": "3"})
    await post_json(http, sim.url + "/books", [{"token_id": token}, {"token_id": "1"}])
    await get_json(http, sim.url + "/book")
    _, log = await get_json(http, sim.url + "/_sim/requests")
    rows = [
        (r["method"], r["path"], r["query"], r["status"], r["n_token_ids"]) for r in log["requests"]
    ]
    assert rows == [
        ("GET", "/events/keyset", "limit=3", 200, None),
        ("POST", "/books", "", 200, 2),
        ("GET", "/book", "", 400, None),
    ]
    times = [r["t_monotonic"] for r in log["requests"]]
    assert times == sorted(times)
    await post_json(http, sim.url + "/_sim/requests/clear", {})
    _, log = await get_json(http, sim.url + "/_sim/requests")
    assert log["requests"] == []


@pytest.mark.parametrize("http_date", [False, True])
async def test_rate_limit_fault_counts_down(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock, http_date: bool
) -> None:
    """Next N requests get 429 with Retry-After in seconds or as an HTTP-date, then normal."""
    spec = {"count": 2, "retry_after_s": 7, "http_date": http_date}
    await post_json(http, sim.url + "/_sim/faults", {"rate_limit": spec})
    for _ in range(2):
        async with http.get(sim.url + "/events/keyset") as resp:
            assert resp.status == 429
            retry_after = resp.headers["Retry-After"]
    if http_date:
        when = email.utils.parsedate_to_datetime(retry_after).timestamp()
        assert 7 <= when - clock.t <= 8
    else:
        assert retry_after == "7"
    async with http.get(sim.url + "/events/keyset") as resp:
        assert resp.status == 200


async def test_server_error_fault_cycles_statuses_and_targets_route(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """server_error returns its statuses in turn, only on the targeted route group."""
    await post_json(http, sim.url + "/_sim/faults", {"server_error": {"count": 3, "route": "clob"}})
    status, _ = await get_json(http, sim.url + "/events/keyset")
    assert status == 200
    seen = []
    for _ in range(4):
        status, body = await get_json(http, sim.url + "/book", {"token_id": "1"})
        seen.append(status)
        if status >= 500:
            assert set(body) == {"error"}
    assert seen == [500, 502, 503, 404]


async def test_error_body_and_books_down_faults(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """error_body answers 200 + error JSON once; books_down makes CLOB routes 503 until cleared."""
    await post_json(http, sim.url + "/_sim/faults", {"error_body": 1, "books_down": True})
    status, body = await get_json(http, sim.url + "/events/keyset")
    assert (status, body) == (200, {"error": "Too Many Requests"})
    for _ in range(3):
        status, _ = await post_json(http, sim.url + "/books", [])
        assert status == 503
    status, body = await get_json(http, sim.url + "/events/keyset")
    assert status == 200 and "events" in body
    async with http.delete(sim.url + "/_sim/faults") as resp:
        assert resp.status == 200
    status, _ = await post_json(http, sim.url + "/books", [])
    assert status == 200
    _, log = await get_json(http, sim.url + "/_sim/requests")
    assert [r["fault"] for r in log["requests"]] == [
        "error_body", "books_down", "books_down", "books_down", None, None,
    ]  # fmt: skip


async def test_reset_fault_closes_connection(sim: RunningSim) -> None:
    """reset drops the connection without a response, then requests succeed again.

    aiohttp retries an idempotent request once after a disconnect, so one failed GET uses 2 counts.
    """
    sim.state.set_faults({"reset": 3})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get_json(session, sim.url + "/events/keyset")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post_json(session, sim.url + "/books", [])
        status, _ = await get_json(session, sim.url + "/events/keyset")
    assert status == 200
    assert [(r.path, r.status) for r in sim.state.requests] == [
        ("/events/keyset", 0),
        ("/events/keyset", 0),
        ("/books", 0),
        ("/events/keyset", 200),
    ]


async def test_slow_body_fault_trips_sock_read_timeout(sim: RunningSim) -> None:
    """slow_body streams chunks with a delay: a short sock_read times out, a patient one waits."""
    token = first_moving_tradable(sim).token_ids[0]
    sim.state.set_faults({"slow_body": {"count": 2, "delay_s": 0.3, "chunk_bytes": 200}})
    impatient = aiohttp.ClientTimeout(total=5, sock_read=0.1)
    async with aiohttp.ClientSession(timeout=impatient) as session:
        with pytest.raises(asyncio.TimeoutError):
            await get_json(session, sim.url + "/book", {"token_id": token})
    sim.state.faults.slow_body.delay_s = 0.01  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        status, book = await get_json(session, sim.url + "/book", {"token_id": token})
        assert status == 200 and book["asset_id"] == token
        status, _ = await get_json(session, sim.url + "/book", {"token_id": token})
    assert sim.state.faults.slow_body is not None and sim.state.faults.slow_body.count == 0


async def test_stuck_cursor_fault_repeats_the_page(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """stuck_cursor returns the received cursor again (same page) for N responses."""
    _, first = await get_json(http, sim.url + "/events/keyset")
    cursor = first["next_cursor"]
    sim.state.set_faults({"stuck_cursor": 2})
    pages = []
    for _ in range(2):
        _, body = await get_json(http, sim.url + "/events/keyset", {"after_cursor": cursor})
        assert body["next_cursor"] == cursor
        pages.append([e["id"] for e in body["events"]])
    assert pages[0] == pages[1] and pages[0][0] != first["events"][0]["id"]
    _, body = await get_json(http, sim.url + "/events/keyset", {"after_cursor": cursor})
    assert body["next_cursor"] != cursor


@pytest.mark.parametrize("include_huge", [False, True])
async def test_malformed_items_fault_adds_known_bad_events(
    sim: RunningSim, http: aiohttp.ClientSession, include_huge: bool
) -> None:
    """malformed_items adds a known number of broken events and leaves paging untouched."""
    _, clean = await get_json(http, sim.url + "/events/keyset")
    sim.state.set_faults({"malformed_items": {"count": 1, "include_huge": include_huge}})
    async with http.get(sim.url + "/events/keyset") as resp:
        text = await resp.text()
    for literal in (":NaN", ":Infinity", ":1e400"):
        assert literal in text
    dirty = json.loads(text)
    assert dirty["next_cursor"] == clean["next_cursor"]
    expected_bad = MALFORMED_EVENT_COUNT - (0 if include_huge else 1)
    assert len(dirty["events"]) == len(clean["events"]) + expected_bad
    real_ids = {e["id"] for e in clean["events"]}

    def is_real(event: dict[str, Any]) -> bool:
        return isinstance(event["id"], str) and event["id"] in real_ids

    assert [e for e in dirty["events"] if is_real(e)] == clean["events"]
    bad_markets = [e["markets"][0] for e in dirty["events"] if not is_real(e)]
    assert sum("clobTokenIds" not in m for m in bad_markets) == 1
    assert len(text) > 10_000_000 if include_huge else len(text) < 1_000_000
    _, after = await get_json(http, sim.url + "/events/keyset")
    assert after == clean


async def test_malformed_books_fault_corrupts_three_books(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """malformed_books puts NaN, a negative price and a price above 1 into three books."""
    tokens = [
        {"token_id": t} for m in sim.state.universe.markets if m.tradable for t in m.token_ids
    ]
    sim.state.set_faults({"malformed_books": 1})
    _, books = await post_json(http, sim.url + "/books", tokens[:20])
    corrupted = sim.state.requests[-1].malformed_asset_ids
    assert len(corrupted) == 3
    prices = [
        Decimal(level["price"])
        for b in books
        if b["asset_id"] in corrupted
        for level in b["bids"] + b["asks"]
    ]
    assert any(p.is_nan() for p in prices)
    assert any(p < 0 for p in prices if not p.is_nan())
    assert any(p > 1 for p in prices if not p.is_nan())
    _, clean = await post_json(http, sim.url + "/books", tokens[:20])
    assert all(0 < Decimal(lvl["price"]) < 1 for b in clean for lvl in b["bids"] + b["asks"])


async def test_fault_spec_errors_are_400(sim: RunningSim, http: aiohttp.ClientSession) -> None:
    """Unknown switches and unknown switch keys are rejected without changing state."""
    for spec in ({"meteor": 1}, {"rate_limit": {"cnt": 1}}, {"reset": "yes"}):
        status, body = await post_json(http, sim.url + "/_sim/faults", spec)
        assert status == 400 and "error" in body
    _, body = await get_json(http, sim.url + "/_sim/faults")
    assert body == {"faults": {}}


# ---------------------------------------------------------------------------------------------
# Server and CLI


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
async def test_refuses_non_loopback_hosts(host: str) -> None:
    """The simulator only binds loopback addresses."""
    with pytest.raises(ValueError, match="loopback"):
        async with running_simulator(host=host, n_events=1):
            pass


@pytest.mark.parametrize("n_markets", [500, 5000])
def test_universe_sized_by_markets(n_markets: int) -> None:
    """events_for_markets gives a universe within 5% of the asked number of markets."""
    n_events = events_for_markets(4, n_markets, NOW)
    markets = len(generate_universe(4, n_events, NOW).markets)
    assert abs(markets - n_markets) <= 0.05 * n_markets


def test_cli_prints_url_serves_and_exits_zero_on_sigterm() -> None:
    """`python -m prescientd.sim` prints SIM_URL=..., serves, and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "prescientd.sim", "--seed", "2", "--events", "30", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"SIM_URL=http://127\.0\.0\.1:\d+", line)
        url = line.split("=", 1)[1]

        async def fetch() -> int:
            async with aiohttp.ClientSession() as session:
                status, body = await get_json(session, url + "/events/keyset")
                assert body["events"]
                return status

        assert asyncio.run(fetch()) == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
