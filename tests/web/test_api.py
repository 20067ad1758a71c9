"""The JSON API: every route, paging, bad parameters, errors, the brief's aliases."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from prescientd.config import HttpConfig
from prescientd.web.app import BRIEF_ALIASES, ROUTES
from prescientd.web.contract import JsonObject, Listing, PageRequest

from .fakes import TOKEN, FakeReads, serve

LIST_ROUTES = [
    ("/api/v1/positions", "positions_rows", "opened_at", "asc"),
    ("/api/v1/trades", "ledger_rows", "seq", "desc"),
    ("/api/v1/equity", "equity_rows", "time", "asc"),
    ("/api/v1/performance", "performance_rows", "date", "asc"),
]


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        # 10000 - 4 x 100.50 + 163.93 cash, + 84.60 + 110.00 + 94.80 of positions
        ("/api/v1/status", "equity_usd", 10051.33),
        ("/api/v1/status", "open_positions", 3),
        ("/api/v1/portfolio", "trade_count", 4),
        ("/api/v1/health", "status", "ok"),
    ],
)
async def test_documents(path: str, key: str, expected: Any) -> None:
    """Each document route answers 200 JSON with the read model's figures."""
    async with serve() as s:
        response = await s.client.get(path)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert (await response.json())[key] == expected


async def test_health_degraded_is_503_with_problems() -> None:
    """A degraded health answers 503 and lists the problems."""
    async with serve(reads=FakeReads(degraded=True)) as s:
        response = await s.client.get("/api/v1/health")
        body = await response.json()
    assert response.status == 503
    assert body["status"] == "degraded"
    assert body["problems"] == ["prices are stale: last successful poll 912 s ago"]


@pytest.mark.parametrize(("path", "attr", "key", "order"), LIST_ROUTES)
async def test_list_default_page(path: str, attr: str, key: str, order: str) -> None:
    """A list route returns items in its default order with total and paging fields."""
    reads = FakeReads()
    rows = getattr(reads, attr)
    async with serve(reads=reads) as s:
        body = await (await s.client.get(path)).json()
    expected = sorted((r[key] for r in rows), reverse=order == "desc")
    assert [item[key] for item in body["items"]] == expected
    assert body["total"] == len(rows)
    assert (body["limit"], body["offset"], body["order"]) == (100, 0, order)
    assert body["next_offset"] is None


@pytest.mark.parametrize(("path", "attr", "key", "order"), LIST_ROUTES)
async def test_list_pages_cover_everything_once(path: str, attr: str, key: str, order: str) -> None:
    """Walking next_offset with limit=2 visits every item exactly once, in order."""
    reads = FakeReads()
    seen: list[Any] = []
    async with serve(reads=reads) as s:
        offset: int | None = 0
        while offset is not None:
            body = await (await s.client.get(f"{path}?limit=2&offset={offset}")).json()
            assert len(body["items"]) <= 2
            seen += [item[key] for item in body["items"]]
            offset = body["next_offset"]
    assert seen == sorted((r[key] for r in getattr(reads, attr)), reverse=order == "desc")


async def test_order_parameter_reverses() -> None:
    """order=asc on trades returns the oldest first."""
    async with serve() as s:
        body = await (await s.client.get("/api/v1/trades?order=asc&limit=2")).json()
    assert [item["seq"] for item in body["items"]] == [1, 2]
    assert body["next_offset"] == 2


async def test_trades_kind_filter() -> None:
    """kind=settlement returns only settlements."""
    async with serve() as s:
        body = await (await s.client.get("/api/v1/trades?kind=settlement")).json()
    assert [item["kind"] for item in body["items"]] == ["settlement"]
    assert body["total"] == 1


async def test_signals_and_markets_carry_their_header() -> None:
    """List documents with a header put it beside items."""
    async with serve() as s:
        signals = await (await s.client.get("/api/v1/signals/current")).json()
        markets = await (await s.client.get("/api/v1/markets/current?limit=1")).json()
    assert signals["markets_considered"] == 212
    assert signals["actionable"] == 1
    assert [(s["strategy"], s["skip_reason"]) for s in signals["items"]] == [
        ("default", None),
        ("default", "already_held"),
        ("default", "spread_too_wide"),
        ("contrarian60", "already_held"),
        ("contrarian60", "spread_too_wide"),
    ]
    assert markets["max_price_age_s"] == 600.0
    assert (len(markets["items"]), markets["total"], markets["next_offset"]) == (1, 2, 1)


async def test_config_versions_newest_first() -> None:
    """The config history lists the newest version first."""
    async with serve() as s:
        body = await (await s.client.get("/api/v1/config/versions")).json()
    assert [v["version"] for v in body["items"]] == [2, 1]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be from 1 to 1000"),
        ("limit=1001", "limit must be from 1 to 1000"),
        ("limit=-1", "limit must be a whole number"),
        ("limit=abc", "limit must be a whole number"),
        ("limit=1.5", "limit must be a whole number"),
        ("limit=", "limit must be a whole number"),
        ("offset=-3", "offset must be a whole number"),
        ("offset=99999999999999", "offset must be a whole number"),
        ("order=up", "order must be asc or desc"),
        ("limt=5", "unknown parameter 'limt'"),
        ("limit=5&limit=6", "given more than once"),
        ("kind=trades", "kind must be one of settlement, trade"),
    ],
)
async def test_bad_parameters_are_400(query: str, message: str) -> None:
    """A bad paging value or an unknown parameter answers 400 with a message naming it."""
    async with serve() as s:
        response = await s.client.get(f"/api/v1/trades?{query}")
        body = await response.json()
    assert response.status == 400
    assert body["status"] == 400
    assert message in body["error"]
    assert s.reads.calls == []  # refused before any read


async def test_equity_allows_larger_pages() -> None:
    """The equity curve may be fetched 10,000 points at a time, other lists 1,000."""
    async with serve() as s:
        ok = await s.client.get("/api/v1/equity?limit=10000")
        too_big = await s.client.get("/api/v1/equity?limit=10001")
        positions = await s.client.get("/api/v1/positions?limit=10000")
    assert (ok.status, too_big.status, positions.status) == (200, 400, 400)


async def test_document_routes_refuse_parameters() -> None:
    """A route without parameters refuses any."""
    async with serve() as s:
        response = await s.client.get("/api/v1/status?verbose=1")
    assert response.status == 400


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/trades/2", 200, None),
        ("/api/v1/trades/77", 404, "no trade with id 77"),
        ("/api/v1/trades/abc", 404, "no such route"),
        ("/api/v1/markets/7", 200, None),
        ("/api/v1/markets/999", 404, "market 999 is not tracked"),
        ("/api/v1/nothing", 404, "no such route"),
        ("/nothing", 404, "no such route"),
    ],
)
async def test_ids_and_unknown_routes(path: str, status: int, error: str | None) -> None:
    """Known ids answer 200; unknown ids and routes answer a JSON 404."""
    async with serve() as s:
        response = await s.client.get(path)
        body = await response.json()
    assert response.status == status
    if error is not None:
        assert body == {"error": error, "status": 404}


async def test_wrong_method_is_405_json() -> None:
    """GET on a POST route answers 405 in JSON with an Allow header."""
    async with serve() as s:
        response = await s.client.get("/api/v1/cycle")
        body = await response.json()
    assert response.status == 405
    assert body["status"] == 405
    assert response.headers["Allow"] == "POST"


async def test_unavailable_read_is_503() -> None:
    """A read model that cannot answer gives 503 with its reason."""
    async with serve(reads=FakeReads(unavailable=True)) as s:
        response = await s.client.get("/api/v1/status")
        body = await response.json()
    assert response.status == 503
    assert "database is locked" in body["error"]


class _SlowReads(FakeReads):
    async def status(self) -> JsonObject:
        await asyncio.sleep(30)
        return {}


async def test_slow_read_times_out_with_503() -> None:
    """A read slower than read_timeout_s answers 503 instead of hanging."""
    settings = HttpConfig(port=0, read_timeout_s=0.2)
    async with serve(reads=_SlowReads(), settings=settings) as s:
        response = await s.client.get("/api/v1/status")
    assert response.status == 503


class _BrokenReads(FakeReads):
    async def positions(self, page: PageRequest, strategy: str | None = None) -> Listing:
        raise KeyError("secret internal detail")

    async def status(self) -> JsonObject:
        return {"equity_usd": float("nan")}


@pytest.mark.parametrize("path", ["/api/v1/positions", "/api/v1/status"])
async def test_crash_is_generic_500(path: str) -> None:
    """A failing read (or a NaN in a document) answers a generic JSON 500, no internals."""
    async with serve(reads=_BrokenReads()) as s:
        response = await s.client.get(path)
        body = await response.json()
    assert response.status == 500
    assert body == {"error": "internal error", "status": 500}


async def test_trades_csv_download() -> None:
    """The CSV export is served as an attachment with the read model's bytes."""
    async with serve() as s:
        response = await s.client.get("/api/v1/exports/trades_summary.csv")
        raw = await response.read()
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["trade_id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize(("alias", "target"), BRIEF_ALIASES)
async def test_brief_aliases_answer_like_their_route(alias: str, target: str) -> None:
    """Each brief endpoint name gives the same status and body as its /api/v1 route."""
    method = next(r.method for r in ROUTES if r.path == target)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with serve() as s:
        first = await s.client.request(method, target, headers=headers)
        second = await s.client.request(method, alias, headers=headers)
        first_body, second_body = await first.read(), await second.read()
    assert second.status == first.status
    if method == "GET":
        assert second_body == first_body
    else:
        assert (s.control.cycles, s.control.reloads) == (2, 0)


async def test_api_index_lists_routes() -> None:
    """GET /api/v1 lists every route and alias."""
    async with serve() as s:
        body = await (await s.client.get("/api/v1")).json()
    assert {r["path"] for r in body["routes"]} == {r.path for r in ROUTES}
    assert len(body["aliases"]) == len(BRIEF_ALIASES)


async def test_dashboard_and_assets_are_served() -> None:
    """/ is the HTML page and every asset it names is served by the app itself."""
    async with serve() as s:
        page = await s.client.get("/")
        html = await page.text()
        assets = [a for a in _asset_paths(html)]
        statuses = [(await s.client.get(a)).status for a in assets]
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert len(assets) >= 5
    assert statuses == [200] * len(assets)


def _asset_paths(html: str) -> list[str]:
    import re

    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


async def test_no_cors_headers_and_no_caching() -> None:
    """No Access-Control-* header is ever sent, even to a cross-origin request."""
    async with serve() as s:
        response = await s.client.get("/api/v1/status", headers={"Origin": "http://evil.example"})
        preflight = await s.client.options(
            "/api/v1/cycle",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    assert preflight.status == 405
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_static_assets_are_revalidated_and_answer_304_when_unchanged() -> None:
    """Dashboard assets carry no-cache (never a stale script after an upgrade); an unchanged one
    answers 304 to a conditional request."""
    async with serve() as s:
        first = await s.client.get("/static/app.js")
        again = await s.client.get(
            "/static/app.js", headers={"If-Modified-Since": first.headers["Last-Modified"]}
        )
    assert first.status == 200 and first.headers["Cache-Control"] == "no-cache"
    assert again.status == 304
