"""ClobClient against a local aiohttp server: batched concurrent POST /books, /book, /markets."""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import AsyncIterator
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from conftest import serve
from prescientd.polymarket.clob import ClobClient, FetchError
from prescientd.polymarket.http import HostClient, make_session
from prescientd.polymarket.jsonsafe import parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


def load(name: str) -> Any:
    """A fixture decoded the way the HTTP edge decodes bodies."""
    return parse_json((FIXTURES / name).read_bytes())


BOOK = load("clob_book_rest_2024.json")  # 12 levels: keeps 1,200 books quick to build and parse
BOOK_2026 = load("clob_book_rest_2026-10_many_levels.json")


def book_for(token_id: str, recorded: dict[str, Any] = BOOK) -> dict[str, Any]:
    """A recorded book under another token id."""
    book: dict[str, Any] = copy.deepcopy(recorded)
    book["asset_id"] = token_id
    return book


def token(i: int) -> str:
    """A distinct 77-digit token id."""
    return str(10**76 + i * 7919)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process-wide session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=10) as s:
        yield s


def clob(session: aiohttp.ClientSession, url: str, **overrides: Any) -> ClobClient:
    """A ClobClient over a fast-retrying HostClient."""
    http = HostClient(
        session,
        url,
        requests_per_10s=1000,
        max_concurrency=8,
        max_attempts=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        retry_after_max_s=5,
        max_response_bytes=64 * 1024 * 1024,
        connect_timeout_s=2,
        request_timeout_s=10,
    )
    return ClobClient(http, **overrides)


async def test_books_batched_concurrent_keyed_by_asset_id(session: aiohttp.ClientSession) -> None:
    """1,200 tokens -> 3 concurrent POSTs of <= 500; shuffled replies keyed by asset_id."""
    tokens = [token(i) for i in range(1200)]
    omitted = {tokens[5], tokens[700], tokens[1199]}  # book-less: silently left out by the API
    corrupt = tokens[42]
    stranger = token(99_999)  # a book we never asked for
    bodies: list[list[str]] = []
    state = {"in_flight": 0, "max_in_flight": 0}
    all_arrived = asyncio.Event()

    async def books(request: web.Request) -> web.Response:
        asked = [item["token_id"] for item in await request.json()]
        bodies.append(asked)
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        if len(bodies) == 3:
            all_arrived.set()
        with suppress(TimeoutError):  # a sequential client would stall here, then fail below
            await asyncio.wait_for(all_arrived.wait(), 2)
        reply = [book_for(t) for t in asked if t not in omitted]
        for item in reply:
            if item["asset_id"] == corrupt:
                item["bids"][3]["price"] = "NaN"
        reply.append(book_for(stranger))
        random.Random(len(bodies)).shuffle(reply)
        state["in_flight"] -= 1
        return web.json_response(reply)

    async with serve({"/books": books}) as url:
        client = clob(session, url)
        result = await client.fetch_books([*tokens, *tokens[:100]])  # duplicates are dropped

    assert result.requests == 3
    assert sorted(len(body) for body in bodies) == [200, 500, 500]
    assert sorted(t for body in bodies for t in body) == sorted(tokens)
    assert state["max_in_flight"] == 3
    assert set(result.books) == set(tokens) - omitted - {corrupt}
    assert result.missing == frozenset(omitted)
    # the stranger (one per reply) is rejected and counted, never a token's book or "rejected"
    assert dict(result.rejected) == {"non_finite_number": 1, "unrequested_asset": 3}
    assert result.rejected_tokens == frozenset({corrupt})
    assert stranger not in result.books
    book = result.books[tokens[0]]
    assert book.token_id == tokens[0]
    assert book.bids[0].price == max(Decimal(level["price"]) for level in BOOK["bids"])
    assert book.asks[0].price == min(Decimal(level["price"]) for level in BOOK["asks"])


async def test_failed_batch_raises_fetch_error(session: aiohttp.ClientSession) -> None:
    """If any batch fails after its retries the whole fetch raises FetchError."""
    tokens = [token(i) for i in range(30)]
    hits: list[int] = []

    async def books(request: web.Request) -> web.Response:
        asked = [item["token_id"] for item in await request.json()]
        hits.append(len(asked))
        if tokens[25] in asked:
            return web.Response(status=503)
        return web.json_response([book_for(t) for t in asked])

    async with serve({"/books": books}) as url:
        with pytest.raises(FetchError) as caught:
            await clob(session, url, books_per_request=10).fetch_books(tokens)
    assert caught.value.status == 503
    assert caught.value.path == "/books" and caught.value.method == "POST"


async def test_non_list_reply_is_a_fetch_error(session: aiohttp.ClientSession) -> None:
    """A /books reply that is not a JSON array is a FetchError (prices go stale)."""

    async def books(request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    async with serve({"/books": books}) as url:
        with pytest.raises(FetchError, match="not a list"):
            await clob(session, url).fetch_books([token(1)])


async def test_no_tokens_no_requests(session: aiohttp.ClientSession) -> None:
    """An empty token list sends nothing and returns an empty result."""
    result = await clob(session, "http://127.0.0.1:9").fetch_books([])
    assert (dict(result.books), result.missing, result.requests) == ({}, frozenset(), 0)


async def test_books_per_request_capped_at_500(session: aiohttp.ClientSession) -> None:
    """More than 500 ids per request is refused up front (the API answers 400 above 500)."""
    with pytest.raises(ValueError, match="books_per_request"):
        clob(session, "http://127.0.0.1:9", books_per_request=501)


async def test_fetch_book_and_404(session: aiohttp.ClientSession) -> None:
    """GET /book parses the recorded book; the API's 404 'No orderbook exists' gives None."""
    known = token(1)
    asked: list[str | None] = []

    async def book(request: web.Request) -> web.Response:
        asked.append(request.query.get("token_id"))
        if request.query.get("token_id") == known:
            return web.json_response(book_for(known, BOOK_2026))
        return web.json_response(
            {"error": "No orderbook exists for the requested token id"}, status=404
        )

    async with serve({"/book": book}) as url:
        client = clob(session, url)
        found = await client.fetch_book(known)
        assert found is not None and found.token_id == known
        assert found.last_trade_price == Decimal("0.024")
        assert await client.fetch_book(token(2)) is None
    assert asked == [known, token(2)]


async def test_fetch_clob_market_and_404(session: aiohttp.ClientSession) -> None:
    """GET /markets/{conditionId} parses the recorded record; an unknown id gives None."""
    recorded = load("clob_market_resolved_book_disabled_2026-08.json")

    async def market(request: web.Request) -> web.Response:
        if request.match_info["condition_id"] == recorded["condition_id"]:
            return web.json_response(recorded)
        return web.json_response({"error": "market not found"}, status=404)

    async with serve({"/markets/{condition_id}": market}) as url:
        client = clob(session, url)
        found = await client.fetch_market(recorded["condition_id"])
        assert found is not None
        assert found.enable_order_book is False
        assert [t.winner for t in found.tokens] == [False, True]
        assert await client.fetch_market("0xdead") is None
