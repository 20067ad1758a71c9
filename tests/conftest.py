"""Shared test helpers: fixture paths and small value factories."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from prescientd.models import Book, Fill, FillLevel, Level, Market, Side, TradeIntent
from prescientd.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures" / "polymarket"
T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)


class FakeClock:
    """A prescientd Clock the test moves: `advance` moves both times, `jump` only the wall."""

    def __init__(self, start: datetime = T0, monotonic_s: float = 1000.0) -> None:
        self.wall = start.astimezone(UTC)
        self.mono_s = monotonic_s

    def now(self) -> datetime:
        """The fake wall time (aware UTC)."""
        return self.wall

    def monotonic(self) -> float:
        """The fake monotonic time in seconds."""
        return self.mono_s

    def real_seconds(self, clock_s: float) -> float:
        """A fake second is a real second (waits are not scaled)."""
        return clock_s

    def advance(self, seconds: float) -> None:
        """Let seconds pass."""
        self.mono_s += seconds
        self.wall += timedelta(seconds=seconds)

    def jump(self, delta: timedelta) -> None:
        """Set the wall clock by delta (NTP step, operator): monotonic time does not move."""
        self.wall += delta


def load_fixture(name: str) -> Any:
    """Parse one recorded Polymarket payload."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_market(market_id: str = "1", event_id: str = "10", **overrides: Any) -> Market:
    """A tradable binary Yes/No market with sensible defaults."""
    fields: dict[str, Any] = {
        "market_id": market_id,
        "event_id": event_id,
        "condition_id": "0x" + market_id.rjust(64, "0"),
        "slug": f"market-{market_id}",
        "question": f"Will thing {market_id} happen?",
        "outcomes": ("Yes", "No"),
        "token_ids": (f"{market_id}1" * 3, f"{market_id}2" * 3),
        "outcome_prices": (Decimal("0.6"), Decimal("0.4")),
        "active": True,
        "closed": False,
        "accepting_orders": True,
        "enable_order_book": True,
        "uma_resolution_status": None,
        "uma_resolution_statuses": (),
        "end_date": datetime(2027, 1, 1, tzinfo=UTC),
        "liquidity_usd": Decimal(50000),
        "volume_usd": Decimal(100000),
        "volume_24h_usd": Decimal(5000),
        "tick_size": Decimal("0.01"),
        "min_order_size": Decimal(5),
        "fee_schedule": None,
        "neg_risk": False,
    }
    fields.update(overrides)
    return Market(**fields)


def make_book(
    token_id: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    *,
    hash_: str = "a" * 40,
    last: str | None = None,
) -> Book:
    """A book from (price, size) pairs given best first."""
    return Book(
        token_id=token_id,
        condition_id="0x" + "0" * 64,
        bids=tuple(Level(Decimal(p), Decimal(s)) for p, s in bids),
        asks=tuple(Level(Decimal(p), Decimal(s)) for p, s in asks),
        timestamp_ms=1_700_000_000_000,
        hash=hash_,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        last_trade_price=None if last is None else Decimal(last),
    )


def make_intent(
    key: str,
    *,
    market_id: str = "1",
    token_id: str = "t1",
    shares: str = "100",
    price: str = "0.40",
    fee: str = "0",
    side: Side = Side.BUY,
) -> TradeIntent:
    """A trade intent for one level."""
    sh, pr, fe = Decimal(shares), Decimal(price), Decimal(fee)
    fill = Fill(
        token_id=token_id,
        side=side,
        shares=sh,
        notional_usd=sh * pr,
        fees_usd=fe,
        levels=(FillLevel(pr, sh, fe),),
    )
    return TradeIntent(
        idempotency_key=key,
        market_id=market_id,
        event_id="10",
        token_id=token_id,
        outcome="No",
        question="Will it?",
        fill=fill,
        reason="test",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store with a 10,000 USD deposit in tmp_path."""
    opened = await Store.open(tmp_path / "prescient.db", starting_balance_usd=Decimal(10000))
    try:
        yield opened
    finally:
        await opened.close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(routes: dict[str, Handler]) -> AsyncIterator[str]:
    """Run a fake upstream (aiohttp app) on 127.0.0.1, a free port; yield its base URL."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


# (method, path, decoded reply) -> the reply to send instead: a value (sent as JSON) or raw text
Rewrite = Callable[[str, str, Any], Any]


class RawJson(str):
    """Reply text a Rewrite returns to send as is (for JSON that json.dumps cannot produce)."""


def in_keyset_reply(
    market_id: str, rewrite: Callable[[dict[str, Any]], Any]
) -> Callable[[Any], Any]:
    """A rule for `/markets/keyset` replies: rewrite the record of market_id (the batched
    settlement look-up), keep the others. A rewrite returning RawJson is spliced in as text."""

    def rule(payload: Any) -> Any:
        records = payload.get("markets", []) if isinstance(payload, dict) else []
        texts: dict[int, str] = {}
        for index, record in enumerate(records):
            if isinstance(record, dict) and str(record.get("id")) == market_id:
                new = rewrite(record)
                if isinstance(new, RawJson):
                    texts[index] = str(new)
                else:
                    records[index] = new
        if not texts:
            return payload
        marks = {i: f"@@record{i}@@" for i in texts}
        for index, mark in marks.items():
            records[index] = mark
        text = json.dumps(payload)
        for index, mark in marks.items():
            text = text.replace(json.dumps(mark), texts[index])
        return RawJson(text)

    return rule


@asynccontextmanager
async def proxy(upstream: str, rewrite: Rewrite) -> AsyncIterator[str]:
    """A hostile upstream: forwards to upstream and passes each 200 JSON reply through rewrite."""
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            async with session.request(
                request.method,
                upstream + request.path_qs,
                data=body or None,
                headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
            ) as resp:
                data, status = await resp.read(), resp.status
            if status != 200:
                return web.Response(body=data, status=status, content_type="application/json")
            reply = rewrite(request.method, request.path, json.loads(data))
            text = reply if isinstance(reply, RawJson) else json.dumps(reply)
            return web.Response(text=text, content_type="application/json")

        async with serve({"/{tail:.*}": forward}) as url:
            yield url
