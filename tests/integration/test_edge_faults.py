"""The HTTP edge against hostile local servers: mismatched records, deep nesting, floods,
breaker budgets per route, secrets in URLs and multi-line library errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs
from test_clob_client import BOOK, book_for, token
from test_gamma_client import load, make_event

from conftest import serve
from prescientd.polymarket.clob import ClobClient
from prescientd.polymarket.gamma import GammaClient
from prescientd.polymarket.http import BreakerOpenError, FetchError, HostClient, make_session
from prescientd.polymarket.jsonsafe import ItemError

DEPTH = 5000  # far beyond the JSON decoder's recursion limit
SECRET = "hunter2secret"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process-wide session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=10) as s:
        yield s


def host(session: aiohttp.ClientSession, url: str, **overrides: Any) -> HostClient:
    """A HostClient with millisecond backoffs."""
    settings: dict[str, Any] = {
        "requests_per_10s": 1000,
        "max_concurrency": 8,
        "max_attempts": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        "retry_after_max_s": 5.0,
        "max_response_bytes": 64 * 1024 * 1024,
        "connect_timeout_s": 2.0,
        "request_timeout_s": 5.0,
    }
    settings.update(overrides)
    return HostClient(session, url, **settings)


def gamma(session: aiohttp.ClientSession, url: str) -> GammaClient:
    """A GammaClient with 100-item pages."""
    return GammaClient(host(session, url), page_limit=100, max_pages=5, max_item_bytes=1_000_000)


def json_reply(payload: Any) -> web.Response:
    """A 200 JSON reply of a value or of raw text."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return web.Response(text=text, content_type="application/json")


def with_deep_field(value: dict[str, Any], depth: int = DEPTH) -> str:
    """value as JSON text with one more field nested depth levels deep."""
    return json.dumps(value)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"


# -- every record is the one asked for ----------------------------------------------------------


async def test_gamma_market_by_id_must_be_that_market(session: aiohttp.ClientSession) -> None:
    """GET /markets/A answered with market B's record is rejected, never returned as A."""
    other = load("gamma_market_closed_resolved_no_won.json")

    async def market(request: web.Request) -> web.Response:
        return json_reply(other)

    async with serve({"/markets/{id}": market}) as url:
        client = gamma(session, url)
        with pytest.raises(ItemError) as caught:
            await client.fetch_market("1")
        assert caught.value.reason == "record_mismatch"
        own = await client.fetch_market(str(other["id"]))
        assert own is not None and own.market_id == str(other["id"])


async def test_gamma_market_must_carry_the_stored_condition_and_tokens(
    session: aiohttp.ClientSession,
) -> None:
    """Same id, but another condition id or reordered token ids: rejected."""
    record = load("gamma_market_closed_resolved_no_won.json")
    tokens = json.loads(record["clobTokenIds"])

    async def market(request: web.Request) -> web.Response:
        return json_reply(record)

    async with serve({"/markets/{id}": market}) as url:
        client = gamma(session, url)
        mid = str(record["id"])
        good = await client.fetch_market(mid, condition_id=record["conditionId"], token_ids=tokens)
        assert good is not None
        for condition, token_ids in ((record["conditionId"], tokens[::-1]), ("0xabc", tokens)):
            with pytest.raises(ItemError) as caught:
                await client.fetch_market(mid, condition_id=condition, token_ids=token_ids)
            assert caught.value.reason == "record_mismatch"


async def test_clob_records_must_be_the_ones_asked_for(session: aiohttp.ClientSession) -> None:
    """GET /book and GET /markets/{condition} answering for another token/condition are rejected."""
    record = load("clob_market_closed_with_winner.json")

    async def book(request: web.Request) -> web.Response:
        return json_reply(book_for(token(1)))

    async def market(request: web.Request) -> web.Response:
        return json_reply(record)

    async with serve({"/book": book, "/markets/{id}": market}) as url:
        client = ClobClient(host(session, url))
        assert (await client.fetch_book(token(1))) is not None
        with pytest.raises(ItemError) as caught:
            await client.fetch_book(token(2))
        assert caught.value.reason == "record_mismatch"
        with pytest.raises(ItemError) as caught:
            await client.fetch_market("0x" + "1" * 64)
        assert caught.value.reason == "record_mismatch"


async def test_books_for_tokens_not_asked_in_that_request_are_rejected(
    session: aiohttp.ClientSession,
) -> None:
    """A reply carrying a book of a token from another batch is counted, not used for it."""
    tokens = [token(i) for i in range(4)]
    forged = book_for(tokens[2])
    forged["hash"] = "f" * 40

    async def books(request: web.Request) -> web.Response:
        asked = [item["token_id"] for item in await request.json()]
        reply = [book_for(t) for t in asked]
        if tokens[0] in asked:
            reply.insert(0, forged)  # the first batch answers for a token of the second
        return json_reply(reply)

    async with serve({"/books": books}) as url:
        result = await ClobClient(host(session, url), books_per_request=2).fetch_books(tokens)
    assert set(result.books) == set(tokens)
    assert result.books[tokens[2]].hash == BOOK["hash"]
    assert dict(result.rejected) == {"unrequested_asset": 1}


# -- deep nesting is one bad item ----------------------------------------------------------------


async def test_deeply_nested_event_is_skipped_the_page_survives(
    session: aiohttp.ClientSession,
) -> None:
    """One event 5,000 levels deep in a page: skipped as too_deep, the others parsed."""
    text = (
        '{"events": ['
        + ", ".join([json.dumps(make_event("1")), with_deep_field(make_event("2"))])
        + "]}"
    )

    async def page(request: web.Request) -> web.Response:
        return json_reply(text)

    async with serve({"/events/keyset": page}) as url:
        result = await gamma(session, url).fetch_events({})
    assert [e.event_id for e in result.events] == ["1"]
    assert dict(result.skipped) == {"too_deep": 1}
    assert [raw["id"] for raw in result.raw_events] == ["1"]  # kept out of the raw backup


async def test_moderately_deep_item_is_rejected_too(session: aiohttp.ClientSession) -> None:
    """A value 200 levels deep decodes, but the item is still rejected as too_deep."""
    text = '{"events": [' + with_deep_field(make_event("2"), depth=200) + "]}"

    async def page(request: web.Request) -> web.Response:
        return json_reply(text)

    async with serve({"/events/keyset": page}) as url:
        result = await gamma(session, url).fetch_events({})
    assert result.events == () and dict(result.skipped) == {"too_deep": 1}


# -- floods are counted, not logged line by line ------------------------------------------------


async def test_a_flood_of_bad_books_is_summarized_and_capped(
    session: aiohttp.ClientSession,
) -> None:
    """20,000 empty objects in a 2-token reply: cut at the cap, at most 6 lines, books kept."""
    tokens = [token(1), token(2)]

    async def books(request: web.Request) -> web.Response:
        return json_reply([book_for(t) for t in tokens] + [{}] * 20_000)

    async with serve({"/books": books}) as url:
        with capture_logs() as logs:
            result = await ClobClient(host(session, url)).fetch_books(tokens)
    assert set(result.books) == set(tokens)
    assert result.rejected["excess_items"] == 20_002 - 14
    assert len(logs) <= 7, [e["event"] for e in logs]
    (summary,) = [e for e in logs if e["event"] == "clob_book_rejected_summary"]
    assert summary["total"] == sum(result.rejected.values())


async def test_bad_gamma_items_are_summarized(session: aiohttp.ClientSession) -> None:
    """50 malformed events: 5 lines one by one, then one summary with the count and first ids."""
    items = [{"id": str(i), "markets": "not a list"} for i in range(50)]

    async def page(request: web.Request) -> web.Response:
        return json_reply({"events": items})

    async with serve({"/events/keyset": page}) as url:
        with capture_logs() as logs:
            result = await gamma(session, url).fetch_events({})
    assert result.skipped_total == 50
    assert [e["event"] for e in logs] == ["gamma_item_skipped"] * 5 + ["gamma_item_skipped_summary"]
    assert logs[-1]["total"] == 50 and logs[-1]["first_ids"] == ["0", "1", "2", "3", "4"]


# -- breaker budgets ------------------------------------------------------------------------------


async def test_failing_market_lookups_cannot_open_the_books_breaker(
    session: aiohttp.ClientSession,
) -> None:
    """8 failing GET /markets/x open only their own breaker: POST /books still goes out."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    async def books(request: web.Request) -> web.Response:
        return json_reply([])

    async with serve({"/markets/{id}": broken, "/books": books}) as url:
        client = host(session, url, max_attempts=1)
        for _ in range(8):
            with pytest.raises(FetchError):
                await client.get_json("/markets/x")
        with pytest.raises(BreakerOpenError):
            await client.get_json("/markets/y")
        assert await client.post_json("/books", [{"token_id": "1"}]) == []
        assert client.route_breaker_open("markets") and not client.route_breaker_open("books")


# -- one line, no secrets --------------------------------------------------------------------------


async def test_credentials_in_the_url_never_reach_messages_or_logs(
    session: aiohttp.ClientSession,
) -> None:
    """user:password in the configured URL appears in no error message and no http_retry line."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async with serve({"/x": broken}) as url:
        secret_url = url.replace("http://", f"http://operator:{SECRET}@")
        client = host(session, secret_url)
        with capture_logs() as logs, pytest.raises(FetchError) as caught:
            await client.get_json("/x")
    assert SECRET not in str(caught.value) and "***@" in str(caught.value)
    retries = [e for e in logs if e["event"] == "http_retry"]
    assert retries and SECRET not in repr(logs)


async def test_a_gzip_decoding_error_is_one_line(session: aiohttp.ClientSession) -> None:
    """aiohttp's two-line 'Can not decode content-encoding' message becomes one line."""

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(
            body=b"not gzip" * 20,
            headers={"Content-Encoding": "gzip"},
            content_type="application/json",
        )

    async with serve({"/x": garbage}) as url:
        with capture_logs() as logs, pytest.raises(FetchError) as caught:
            await host(session, url).get_json("/x")
    assert "gzip" in str(caught.value) and "\n" not in str(caught.value)
    assert all("\n" not in str(e.get("error", "")) for e in logs)
