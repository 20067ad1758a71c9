"""The API with several strategies: the `strategy` parameter, its 400/404, `/api/v1/strategies`."""

from __future__ import annotations

from typing import Any

import pytest

from prescientd.web.contract import PageRequest

from .fakes import DEFAULT, STRATEGIES, VARIANT, FakeReads, serve

# route, the fake's rows, the natural key, the default order
LIST_ROUTES = [
    ("/api/v1/positions", "positions_rows", "opened_at", "asc"),
    ("/api/v1/trades", "ledger_rows", "seq", "desc"),
    ("/api/v1/signals/current", "signal_rows", None, "asc"),
    ("/api/v1/equity", "equity_rows", "time", "asc"),
    ("/api/v1/performance", "performance_rows", "date", "asc"),
]
PARAM_ROUTES = [route for route, *_ in LIST_ROUTES] + ["/api/v1/portfolio", "/api/v1/report"]


def _expected(rows: list[dict[str, Any]], key: str | None, order: str) -> list[Any]:
    """The rows in the route's order: natural key, ties by strategy in display order."""
    if key is None:
        return rows
    rank = {name: i for i, name in enumerate(STRATEGIES)}
    ordered = sorted(rows, key=lambda r: (r[key], rank[r["strategy"]]))
    return ordered[::-1] if order == "desc" else ordered


@pytest.mark.parametrize(("path", "attr", "key", "order"), LIST_ROUTES)
@pytest.mark.parametrize("strategy", [None, DEFAULT, VARIANT])
async def test_list_routes_filter_by_strategy(
    path: str, attr: str, key: str | None, order: str, strategy: str | None
) -> None:
    """Without `strategy` a list holds every strategy's rows, each naming its strategy; with it,
    exactly that strategy's rows, in the same order and with a total of their own."""
    reads = FakeReads()
    rows = [r for r in getattr(reads, attr) if strategy in (None, r["strategy"])]
    query = "" if strategy is None else f"?strategy={strategy}"
    async with serve(reads=reads) as s:
        body = await (await s.client.get(f"{path}{query}")).json()
    assert body["items"] == _expected(rows, key, order)
    assert body["total"] == len(rows)
    assert {item["strategy"] for item in body["items"]} == (
        set(STRATEGIES) if strategy is None else {strategy}
    )


@pytest.mark.parametrize("strategy", [None, DEFAULT, VARIANT])
async def test_the_report_route_passes_the_strategy_to_the_read(strategy: str | None) -> None:
    """/api/v1/report answers the read model's report of every strategy, or of the one asked
    for, after checking the name."""
    query = "" if strategy is None else f"?strategy={strategy}"
    async with serve() as s:
        body = await (await s.client.get(f"/api/v1/report{query}")).json()
    assert body == await FakeReads().report(strategy)
    assert body["strategy"] == strategy
    assert {r["strategy"] for r in body["capital"]} == (
        set(STRATEGIES) if strategy is None else {strategy}
    )
    assert s.reads.calls == (["report"] if strategy is None else ["strategy_names", "report"])


async def test_strategy_pages_cover_that_strategy_once() -> None:
    """Walking next_offset of ?strategy=contrarian60 with limit=1 visits each of its trades once."""
    reads = FakeReads()
    seen: list[int] = []
    async with serve(reads=reads) as s:
        offset: int | None = 0
        while offset is not None:
            url = f"/api/v1/trades?strategy={VARIANT}&limit=1&offset={offset}&order=asc"
            body = await (await s.client.get(url)).json()
            seen += [item["seq"] for item in body["items"]]
            offset = body["next_offset"]
    assert seen == [e["seq"] for e in reads.ledger_rows if e["strategy"] == VARIANT]
    assert len(seen) == 2


async def test_strategy_and_kind_combine() -> None:
    """kind and strategy filter together: the default strategy's one settlement."""
    async with serve() as s:
        both = await (
            await s.client.get(f"/api/v1/trades?kind=settlement&strategy={DEFAULT}")
        ).json()
        none = await (
            await s.client.get(f"/api/v1/trades?kind=settlement&strategy={VARIANT}")
        ).json()
    assert [(e["strategy"], e["kind"]) for e in both["items"]] == [(DEFAULT, "settlement")]
    assert (none["items"], none["total"]) == ([], 0)


@pytest.mark.parametrize("path", PARAM_ROUTES)
async def test_an_unknown_strategy_is_404_naming_the_known_ones(path: str) -> None:
    """A well-formed name no account or config knows answers 404 with the strategies there are,
    and nothing but the list of names is read."""
    async with serve() as s:
        response = await s.client.get(f"{path}?strategy=contrarian70")
        body = await response.json()
    assert response.status == 404
    assert body == {
        "error": "no strategy named 'contrarian70' (strategies: default, contrarian60)",
        "status": 404,
    }
    assert s.reads.calls == ["strategy_names"]


@pytest.mark.parametrize("path", PARAM_ROUTES)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "strategy must be a strategy name"),
        ("Default", "got 'Default'"),
        ("9lives", "got '9lives'"),
        ("two%20words", "got 'two words'"),
        ("default%0A", "got 'default\\n'"),
        ("a" * 33, "strategy must be a strategy name"),
        ("x" * 500, "got '" + "x" * 40 + "...'"),
    ],
)
async def test_a_malformed_strategy_is_400_before_any_read(
    path: str, value: str, message: str
) -> None:
    """A value that cannot be a strategy name answers 400 naming the rule; nothing is read."""
    async with serve() as s:
        response = await s.client.get(f"{path}?strategy={value}")
        body = await response.json()
    assert response.status == 400
    assert message in body["error"]
    assert s.reads.calls == []


async def test_strategy_twice_is_400() -> None:
    """strategy given twice is refused like any repeated parameter."""
    async with serve() as s:
        response = await s.client.get(f"/api/v1/trades?strategy={DEFAULT}&strategy={VARIANT}")
        body = await response.json()
    assert response.status == 400
    assert "given more than once" in body["error"]
    assert s.reads.calls == []


@pytest.mark.parametrize(
    "path", ["/api/v1/status", "/api/v1/markets/current", "/api/v1/strategies", "/api/v1/health"]
)
async def test_routes_without_the_parameter_refuse_it(path: str) -> None:
    """Routes that are not per strategy refuse `strategy` as an unknown parameter."""
    async with serve() as s:
        response = await s.client.get(f"{path}?strategy={DEFAULT}")
        body = await response.json()
    assert response.status == 400
    assert "unknown parameter 'strategy'" in body["error"]


async def test_strategies_route_lists_every_account_side_by_side() -> None:
    """/api/v1/strategies is the read model's comparison rows in display order, paged."""
    reads = FakeReads()
    async with serve(reads=reads) as s:
        body = await (await s.client.get("/api/v1/strategies")).json()
        newest = await (await s.client.get("/api/v1/strategies?order=desc&limit=1")).json()
    expected = (await reads.strategies(PageRequest(limit=100, offset=0, order="asc"))).items
    assert body["items"] == expected
    assert [r["strategy"] for r in body["items"]] == [DEFAULT, VARIANT]
    assert (body["total"], body["next_offset"]) == (2, None)
    assert [r["strategy"] for r in newest["items"]] == [VARIANT]
    assert newest["next_offset"] == 1
    variant = body["items"][1]
    # the variant's own ledger: two trades at $100.50 each, one position worth 277 x 0.39
    assert variant["trade_count"] == 2 and variant["fees_usd"] == 1.0
    assert variant["equity_usd"] == pytest.approx(10000 - 201 + 277 * 0.39)
    for column in ("equity_usd", "cumulative_return", "max_drawdown", "win_rate", "status"):
        assert column in variant


@pytest.mark.parametrize(
    ("query", "top", "listed"),
    [("", DEFAULT, [DEFAULT, VARIANT]), (f"?strategy={VARIANT}", VARIANT, [VARIANT])],
)
async def test_portfolio_keeps_the_file_document(query: str, top: str, listed: list[str]) -> None:
    """/portfolio is portfolio.json's document: one account at the top level, the accounts in
    `strategies`; with strategy=NAME that account is the top level and the only one listed."""
    async with serve() as s:
        body = await (await s.client.get(f"/api/v1/portfolio{query}")).json()
    assert body["strategy"] == top
    assert [a["strategy"] for a in body["strategies"]] == listed
    assert {p["strategy"] for p in body["positions"]} == {top}


async def test_brief_alias_takes_the_parameter_too() -> None:
    """/paper-trading/positions?strategy=NAME answers like /api/v1/positions?strategy=NAME."""
    async with serve() as s:
        first = await (await s.client.get(f"/api/v1/positions?strategy={VARIANT}")).read()
        second = await (await s.client.get(f"/paper-trading/positions?strategy={VARIANT}")).read()
    assert first == second
