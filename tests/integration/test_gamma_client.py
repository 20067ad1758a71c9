"""GammaClient keyset paging and per-item skipping against a local aiohttp server."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import MultiMapping
from structlog.testing import capture_logs

from conftest import Handler, serve
from prescientd.polymarket.gamma import FetchError, GammaClient, ItemError, PagingError
from prescientd.polymarket.http import HostClient, make_session
from prescientd.polymarket.jsonsafe import parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
FILTERS: dict[str, Any] = {
    "closed": "false",
    "tag_slug": "politics",
    "end_date_min": "2026-12-01T00:00:00Z",
    "tag_id": ["2", "144"],
}


def load(name: str) -> Any:
    """A fixture decoded the way the HTTP edge decodes bodies."""
    return parse_json((FIXTURES / name).read_bytes())


def make_event(event_id: str) -> dict[str, Any]:
    """The recorded negRisk event (2 markets) under another id."""
    event: dict[str, Any] = copy.deepcopy(load("gamma_events_list_negrisk_2_markets.json")[0])
    event["id"] = event_id
    return event


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process-wide session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=10) as s:
        yield s


def gamma(
    session: aiohttp.ClientSession,
    url: str,
    *,
    page_limit: int = 2,
    max_pages: int = 50,
    max_item_bytes: int = 1_000_000,
) -> GammaClient:
    """A GammaClient over a fast-retrying HostClient."""
    http = HostClient(
        session,
        url,
        requests_per_10s=1000,
        max_concurrency=4,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        retry_after_max_s=5,
        max_response_bytes=64 * 1024 * 1024,
        connect_timeout_s=2,
        request_timeout_s=10,
    )
    return GammaClient(
        http, page_limit=page_limit, max_pages=max_pages, max_item_bytes=max_item_bytes
    )


def paged(
    pages: dict[str | None, tuple[list[Any], Any]],
    key: str,
    queries: list[MultiMapping[str]],
    *,
    omit_cursor_key: bool = False,
) -> Handler:
    """A keyset handler: after_cursor selects the page; records every query."""

    async def handler(request: web.Request) -> web.Response:
        queries.append(request.query)
        items, next_cursor = pages[request.query.get("after_cursor")]
        body: dict[str, Any] = {"$schema": "https://example/schema", key: items}
        if not omit_cursor_key:
            body["next_cursor"] = next_cursor
        return web.json_response(body)

    return handler


async def test_keyset_paging_resends_filters_and_uses_after_cursor(
    session: aiohttp.ClientSession,
) -> None:
    """Three pages: every request re-sends each filter and limit, pages 2+ carry after_cursor."""
    events = [make_event(str(100 + i)) for i in range(5)]
    queries: list[MultiMapping[str]] = []
    pages: dict[str | None, tuple[list[Any], Any]] = {
        None: (events[0:2], "c1"),
        "c1": (events[2:4], "c2"),
        "c2": (events[4:5], None),
    }
    async with serve(
        {"/events/keyset": paged(pages, "events", queries, omit_cursor_key=False)}
    ) as url:
        result = await gamma(session, url).fetch_events(FILTERS)

    assert result.pages == 3
    assert [e.event_id for e in result.events] == ["100", "101", "102", "103", "104"]
    assert all(len(e.markets) == 2 for e in result.events)
    assert [raw["id"] for raw in result.raw_events] == ["100", "101", "102", "103", "104"]
    assert (dict(result.skipped), result.skipped_total) == ({}, 0)
    assert [q.get("after_cursor") for q in queries] == [None, "c1", "c2"]
    for query in queries:
        assert query["closed"] == "false"
        assert query["tag_slug"] == "politics"
        assert query["end_date_min"] == "2026-12-01T00:00:00Z"
        assert query.getall("tag_id") == ["2", "144"]
        assert query["limit"] == "2"
        assert not {"cursor", "offset", "next_cursor"} & set(query)


@pytest.mark.parametrize("last", ["absent", "empty", "null"])
async def test_last_page_without_next_cursor_stops(
    session: aiohttp.ClientSession, last: str
) -> None:
    """Paging stops on a page whose next_cursor is omitted, empty or null."""
    queries: list[MultiMapping[str]] = []
    final_cursor = {"absent": None, "empty": "", "null": None}[last]

    async def handler(request: web.Request) -> web.Response:
        queries.append(request.query)
        if request.query.get("after_cursor") is None:
            return web.json_response({"events": [make_event("1")], "next_cursor": "c1"})
        body: dict[str, Any] = {"events": [make_event("2")]}
        if last != "absent":
            body["next_cursor"] = final_cursor
        return web.json_response(body)

    async with serve({"/events/keyset": handler}) as url:
        result = await gamma(session, url).fetch_events({})
    assert result.pages == 2 and len(queries) == 2
    assert [e.event_id for e in result.events] == ["1", "2"]


async def test_events_deduplicated_across_pages(session: aiohttp.ClientSession) -> None:
    """An event repeated on a later page is kept once (first copy)."""
    queries: list[MultiMapping[str]] = []
    pages: dict[str | None, tuple[list[Any], Any]] = {
        None: ([make_event("1"), make_event("2")], "c1"),
        "c1": ([make_event("2"), make_event("3")], None),
    }
    async with serve({"/events/keyset": paged(pages, "events", queries)}) as url:
        result = await gamma(session, url).fetch_events({})
    assert [e.event_id for e in result.events] == ["1", "2", "3"]
    assert len(result.raw_events) == 3


async def test_cursor_that_does_not_advance_raises(session: aiohttp.ClientSession) -> None:
    """A next_cursor equal to the cursor just sent raises PagingError instead of looping."""
    queries: list[MultiMapping[str]] = []
    pages: dict[str | None, tuple[list[Any], Any]] = {
        None: ([make_event("1")], "same"),
        "same": ([make_event("1")], "same"),
    }
    async with serve({"/events/keyset": paged(pages, "events", queries)}) as url:
        with pytest.raises(PagingError) as caught:
            await gamma(session, url).fetch_events({})
    assert len(queries) == 2
    assert "did not advance" in str(caught.value)
    assert isinstance(caught.value, FetchError)


async def test_cursor_cycle_raises(session: aiohttp.ClientSession) -> None:
    """A cursor seen before (c1 -> c2 -> c1) raises PagingError."""
    queries: list[MultiMapping[str]] = []
    pages: dict[str | None, tuple[list[Any], Any]] = {
        None: ([make_event("1")], "c1"),
        "c1": ([make_event("2")], "c2"),
        "c2": ([make_event("3")], "c1"),
    }
    async with serve({"/events/keyset": paged(pages, "events", queries)}) as url:
        with pytest.raises(PagingError):
            await gamma(session, url).fetch_events({})
    assert len(queries) == 3


async def test_max_pages_exceeded_raises(session: aiohttp.ClientSession) -> None:
    """An endless run of fresh cursors stops with PagingError after max_pages requests."""
    queries: list[MultiMapping[str]] = []

    async def endless(request: web.Request) -> web.Response:
        queries.append(request.query)
        page = len(queries)
        return web.json_response({"events": [make_event(str(page))], "next_cursor": f"c{page}"})

    async with serve({"/events/keyset": endless}) as url:
        with pytest.raises(PagingError) as caught:
            await gamma(session, url, max_pages=3).fetch_events({})
    assert len(queries) == 3
    assert "max_pages=3" in str(caught.value)


async def test_page_without_items_list_raises(session: aiohttp.ClientSession) -> None:
    """A page that is not {"events": [...]} is a PagingError, not silently empty."""

    async def legacy(request: web.Request) -> web.Response:
        return web.json_response([make_event("1")])

    async with serve({"/events/keyset": legacy}) as url:
        with pytest.raises(PagingError):
            await gamma(session, url).fetch_events({})


@pytest.mark.parametrize("param", ["offset", "cursor", "after_cursor", "limit"])
async def test_paging_params_are_reserved(session: aiohttp.ClientSession, param: str) -> None:
    """Callers cannot pass paging params themselves (offset/cursor would break keyset paging)."""
    with pytest.raises(ValueError, match=param):
        await gamma(session, "http://127.0.0.1:9").fetch_events({param: "1"})


async def test_page_fetch_failure_propagates(session: aiohttp.ClientSession) -> None:
    """A page that keeps failing raises FetchError after its retries (no partial result)."""
    hits: list[int] = []

    async def second_page_down(request: web.Request) -> web.Response:
        hits.append(1)
        if request.query.get("after_cursor") is None:
            return web.json_response({"events": [make_event("1")], "next_cursor": "c1"})
        return web.Response(status=503)

    async with serve({"/events/keyset": second_page_down}) as url:
        with pytest.raises(FetchError) as caught:
            await gamma(session, url).fetch_events({})
    assert caught.value.status == 503
    assert len(hits) == 3  # page 1 once, page 2 twice (max_attempts=2)


def malformed_page_text() -> str:
    """An events page mixing good events with every kind of bad item."""
    good = make_event("1")
    nan_price = make_event("2")
    nan_price["markets"][0]["outcomePrices"] = '["NaN", "0.5"]'
    no_tokens = make_event("3")
    del no_tokens["markets"][0]["clobTokenIds"]
    bad_outcomes = make_event("4")
    bad_outcomes["markets"][0]["outcomes"] = "Yes or No"
    huge_event = make_event("5")
    huge_event["description"] = "x" * 10_000_000
    huge_market = make_event("6")
    huge_market["markets"][1]["description"] = "y" * 10_000_000
    nan_liquidity = make_event("7")
    nan_liquidity["liquidity"] = "__NAN__"
    items = [good, nan_price, no_tokens, bad_outcomes, huge_event, huge_market, nan_liquidity, "x"]
    return json.dumps({"events": items}).replace('"__NAN__"', "NaN")


async def test_malformed_items_skipped_and_counted(session: aiohttp.ClientSession) -> None:
    """Bad events and markets are skipped and counted, the first 5 logged, then one summary."""
    text = malformed_page_text()
    assert "NaN," in text or "NaN}" in text

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    async with serve({"/events/keyset": page}) as url:
        with capture_logs() as logs:
            result = await gamma(session, url).fetch_events({})

    assert [e.event_id for e in result.events] == ["1", "2", "3", "4", "6"]
    assert [len(e.markets) for e in result.events] == [2, 1, 1, 1, 1]
    assert dict(result.skipped) == {
        "non_finite_number": 2,
        "missing_token_ids": 1,
        "bad_outcomes": 1,
        "oversized": 2,
        "not_an_object": 1,
    }
    assert result.skipped_total == 7
    # Oversized junk stays out of the raw backup; other received events are kept for it.
    assert [raw["id"] for raw in result.raw_events] == ["1", "2", "3", "4", "6", "7"]
    json.dumps(result.raw_events, allow_nan=False)
    skips = [entry for entry in logs if entry["event"] == "gamma_item_skipped"]
    assert len(skips) == 5
    assert {(entry["kind"], entry["reason"]) for entry in skips} >= {
        ("market", "oversized"),
        ("market", "missing_token_ids"),
    }
    (summary,) = [entry for entry in logs if entry["event"] == "gamma_item_skipped_summary"]
    assert summary["total"] == 7 and summary["not_logged"] == 2
    assert summary["reasons"] == dict(result.skipped)
    assert summary["first_ids"] == [entry["id"] for entry in skips if entry["id"] is not None]


async def test_fetch_markets_uses_the_same_paging(session: aiohttp.ClientSession) -> None:
    """/markets/keyset pages with after_cursor; a market with numeric token ids is skipped."""
    recorded = load("gamma_markets_keyset_page_2026-10.json")["markets"]
    broken = copy.deepcopy(recorded[0])
    broken["id"] = "900"
    broken["clobTokenIds"] = "[1234567890123456789012345678901234567890, 2]"
    queries: list[MultiMapping[str]] = []
    pages: dict[str | None, tuple[list[Any], Any]] = {
        None: (recorded[:2], "m1"),
        "m1": ([recorded[2], broken], None),
    }
    async with serve({"/markets/keyset": paged(pages, "markets", queries)}) as url:
        result = await gamma(session, url).fetch_markets({"closed": "false"})
    assert [m.market_id for m in result.markets] == ["559651", "559652", "559653"]
    assert [m.event_id for m in result.markets] == ["30828", "30829", "30829"]
    assert dict(result.skipped) == {"bad_token_ids": 1}
    assert result.pages == 2
    assert [q.get("after_cursor") for q in queries] == [None, "m1"]
    assert all(q["closed"] == "false" and q["limit"] == "2" for q in queries)
    assert len(result.raw_markets) == 4


async def test_fetch_market_by_id(session: aiohttp.ClientSession) -> None:
    """GET /markets/{id}: a recorded market parses, 404 gives None, a malformed one raises."""
    recorded = load("gamma_market_resolved_after_dispute.json")

    async def market(request: web.Request) -> web.Response:
        market_id = request.match_info["market_id"]
        if market_id == "1021160":
            return web.json_response(recorded)
        if market_id == "5":
            return web.json_response({"id": "5", "outcomes": "[nope"})
        return web.json_response({"error": "not found"}, status=404)

    async with serve({"/markets/{market_id}": market}) as url:
        client = gamma(session, url)
        found = await client.fetch_market("1021160")
        assert found is not None and found.market_id == "1021160"
        assert found.uma_resolution_statuses[-1] == "resolved"
        assert await client.fetch_market("42") is None
        with pytest.raises(ItemError) as caught:
            await client.fetch_market("5")
    assert caught.value.reason == "bad_outcomes"
