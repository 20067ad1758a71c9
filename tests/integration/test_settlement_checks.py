"""Settlement checks in batches: held markets looked up 100 ids a request, only when due.

Against the simulator over loopback (the batch form `/markets/keyset?id=..&closed=..`) and against
local fake upstreams for the record matching: every record must be a market that was asked for,
with its stored condition id and token ids, or it is rejected.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from conftest import serve
from job_env import job_env
from prescientd.jobs import ResolutionWatch
from prescientd.polymarket.gamma import GammaClient, parse_market
from prescientd.polymarket.http import HostClient, make_session
from prescientd.polymarket.jsonsafe import parse_json
from prescientd.sim import running_simulator
from prescientd.sim.universe import MarketKind

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process-wide session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=10) as s:
        yield s


def client(session: aiohttp.ClientSession, url: str) -> GammaClient:
    """A GammaClient with quick retries."""
    http = HostClient(
        session,
        url,
        requests_per_10s=10_000,
        max_concurrency=8,
        max_attempts=2,
        backoff_base_s=0.001,
        backoff_max_s=0.002,
        retry_after_max_s=5,
        max_response_bytes=64 * 1024 * 1024,
        connect_timeout_s=2,
        request_timeout_s=10,
    )
    return GammaClient(http, page_limit=100, max_pages=10, max_item_bytes=1_000_000)


def keyset_queries(records: list[Any]) -> list[dict[str, list[str]]]:
    """The decoded queries of the simulator's /markets/keyset requests, in order."""
    return [parse_qs(r.query) for r in records if r.path == "/markets/keyset"]


async def test_batches_of_100_ids_and_closed_markets_asked_for_explicitly(
    session: aiohttp.ClientSession,
) -> None:
    """230 markets (some resolved): 3 open-market requests, then closed=true for the rest only."""
    async with running_simulator(seed=5, n_events=400) as sim:
        gamma = client(session, sim.url)
        universe = sim.state.universe
        open_ids = [m.id for m in universe.markets if m.kind == MarketKind.OPEN][:225]
        resolved_ids = [m.id for m in universe.markets if m.kind == MarketKind.RESOLVED][:3]
        sim.state.resolve(open_ids[0], "yes")  # resolved now: listed only with closed=true
        ids = [*open_ids, *resolved_ids]
        stored = [m for m in [await gamma.fetch_market(i) for i in ids] if m is not None]
        assert len(stored) == len(ids)
        sim.state.clear_requests()
        result = await gamma.fetch_markets_by_id(stored)
        queries = keyset_queries(list(sim.state.requests))
    assert set(result.found) == set(ids) and not result.problems
    assert result.found[open_ids[0]].closed and result.found[resolved_ids[0]].closed
    assert not result.found[open_ids[1]].closed
    open_asks = [q for q in queries if q["closed"] == ["false"]]
    closed_asks = [q for q in queries if q["closed"] == ["true"]]
    assert sorted(len(q["id"]) for q in open_asks) == [28, 100, 100]
    assert sum(len(q["id"]) for q in open_asks) == len(ids)
    # only the ids the open listing did not return are asked for again
    assert sorted(i for q in closed_asks for i in q["id"]) == sorted([open_ids[0], *resolved_ids])
    assert result.requests == len(queries) == len(open_asks) + len(closed_asks)


def recorded_markets() -> list[dict[str, Any]]:
    """Three recorded keyset markets (ids 559651..559653)."""
    page = parse_json((FIXTURES / "gamma_markets_keyset_page_2026-10.json").read_bytes())
    records: list[dict[str, Any]] = page["markets"]
    return records


def answering(replies: dict[str, Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A /markets/keyset handler: for closed=false, the records of `replies` for the asked ids
    (a value may be a replacement record, or a list of records to send in its place)."""

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("closed") != "false":
            return web.json_response({"markets": []})
        out: list[Any] = []
        for market_id in request.query.getall("id", []):
            reply = replies.get(market_id)
            out.extend(reply if isinstance(reply, list) else [] if reply is None else [reply])
        return web.json_response({"markets": out})

    return handler


async def test_records_are_matched_by_id_condition_and_tokens(
    session: aiohttp.ClientSession,
) -> None:
    """A's own record is used; B's under its id, C's with its tokens reordered are rejected."""
    a, b, c = recorded_markets()
    stored = [parse_market(r, None) for r in (a, b, c)]
    swapped = copy.deepcopy(c)
    for key in ("clobTokenIds", "outcomes", "outcomePrices"):
        swapped[key] = json.dumps(json.loads(swapped[key])[::-1])
    replies = {a["id"]: a, b["id"]: {**copy.deepcopy(a), "id": b["id"]}, c["id"]: swapped}
    async with serve({"/markets/keyset": answering(replies)}) as url:
        result = await client(session, url).fetch_markets_by_id(stored)
    assert list(result.found) == [a["id"]] and result.found[a["id"]] == stored[0]
    assert "record_mismatch" in result.problems[b["id"]]
    assert "condition id" in result.problems[b["id"]]
    assert "token ids differ" in result.problems[c["id"]]
    assert result.unrequested == 0


async def test_an_unrequested_record_is_rejected_and_taints_what_is_missing(
    session: aiohttp.ClientSession,
) -> None:
    """A reply carrying a market not asked for: that record is dropped, the ids it may have
    replaced are reported (not silently absent), the others are used."""
    a, b, c = recorded_markets()
    stored = [parse_market(r, None) for r in (a, b)]
    replies = {a["id"]: a, b["id"]: [c]}  # C instead of B
    async with serve({"/markets/keyset": answering(replies)}) as url:
        with capture_logs() as logs:
            result = await client(session, url).fetch_markets_by_id(stored)
    assert list(result.found) == [a["id"]] and result.unrequested == 1
    assert "not asked for" in result.problems[b["id"]]
    assert [e["id"] for e in logs if e["event"] == "record_mismatch"] == [c["id"]]


async def test_a_failing_batch_fails_only_its_own_markets(session: aiohttp.ClientSession) -> None:
    """The batch holding B answers 503 after its retries: B is a problem, A (other batch) found."""
    a, b, _ = recorded_markets()
    stored = [parse_market(r, None) for r in (a, b)]

    async def handler(request: web.Request) -> web.Response:
        if b["id"] in request.query.getall("id", []):
            return web.json_response({"error": "down"}, status=503)
        return await answering({a["id"]: a})(request)

    async with serve({"/markets/keyset": handler}) as url:
        result = await client(session, url).fetch_markets_by_id(stored, batch_size=1)
    assert list(result.found) == [a["id"]]
    assert list(result.problems) == [b["id"]] and "fetch failed" in result.problems[b["id"]]


async def test_held_markets_are_checked_when_due_not_every_poll(tmp_path: Path) -> None:
    """Once checked, a held market is asked about again after the sweep interval, or at every
    poll once its book vanished; a check costs one request per 100 held markets."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).counts["trades"] > 0
        held = sorted({t.market_id for t in (await env.store.ledger())[0]})

        async def poll_checks() -> list[MutableMapping[str, Any]]:
            env.sim.clear_requests()
            with capture_logs() as logs:
                assert (await env.run("poll")).ok
            lines = [e for e in logs if e["event"] == "settlement_checks"]
            asks = keyset_queries(list(env.sim.requests))
            assert sum(line["requests"] for line in lines) == len(asks)
            return lines

        (first,) = await poll_checks()  # never checked in this process: all of them
        assert first["due"] == len(held) and first["found"] == len(held)
        assert first["requests"] == -(-len(held) // 100)
        assert await poll_checks() == []  # nothing can have moved: no request at all
        watch = ResolutionWatch.of(env.store)
        watch.last_checked[held[0]] -= timedelta(seconds=env.config.schedule.settlement_sweep_s)
        (swept,) = await poll_checks()
        assert swept["due"] == 1
        env.sim.propose(held[1])  # the book vanishes: checked in that very poll...
        (line,) = await poll_checks()
        assert line["due"] == 1 and line["requests"] == 1
        for _ in range(2):  # ...and then at every poll, before the books
            (line,) = await poll_checks()
            assert line["due"] == 1
        env.sim.resolve(held[1], "no")
        settled = await env.run("poll")
        assert settled.ok and settled.counts["settled"] == 1, settled
        assert settled.counts["settlement_checked"] == 1
