"""The simulator's /ws/market channel over loopback: recorded shapes, deltas = REST, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from prescientd.sim import RunningSim, SimMarket, running_simulator
from prescientd.sim.stream import UNKNOWN_ASSET_ID

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
STEP_S = 5.0
QUIET_S = 0.3  # longer than the channel's 50 ms wake-up: nothing sent in this time = nothing due


@dataclass
class FakeClock:
    """A settable clock, mid-step."""

    t: float = NOW.timestamp() + 1.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[RunningSim]:
    async with running_simulator(
        seed=5, n_events=60, clock=clock, now=NOW, price_step_s=STEP_S
    ) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def moving_markets(sim: RunningSim, n: int = 2) -> list[SimMarket]:
    """Tradable binary markets whose prices move with the clock."""
    found = [m for m in sim.state.universe.markets if m.tradable and any(p.moves for p in m.prices)]
    assert len(found) >= n
    return found[:n]


def ws_url(sim: RunningSim) -> str:
    return "ws" + sim.url.removeprefix("http") + "/ws/market"


async def rest_book(http: aiohttp.ClientSession, sim: RunningSim, token: str) -> dict[str, Any]:
    async with http.get(f"{sim.url}/book", params={"token_id": token}) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> str:
    msg = await ws.receive(timeout=timeout)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    text: str = msg.data
    return text


async def assert_quiet(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Nothing arrives for QUIET_S."""
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=QUIET_S)


def apply_deltas(book: dict[str, Any], frame: dict[str, Any]) -> None:
    """Apply a price_change frame's entries for book's token (a plain-dict client)."""
    sides = {"BUY": "bids", "SELL": "asks"}
    levels = {s: {lv["price"]: lv["size"] for lv in book[s]} for s in ("bids", "asks")}
    for entry in frame["price_changes"]:
        if entry["asset_id"] != book["asset_id"]:
            continue
        side = levels[sides[entry["side"]]]
        if entry["size"] == "0":
            side.pop(entry["price"])
        else:
            side[entry["price"]] = entry["size"]
        book["hash"] = entry["hash"]
    book["timestamp"] = frame["timestamp"]
    for side_name, side in levels.items():
        book[side_name] = [{"price": p, "size": s} for p, s in side.items()]


def level_maps(book: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {lv["price"]: lv["size"] for lv in book["bids"]},
        {lv["price"]: lv["size"] for lv in book["asks"]},
    )


async def test_subscribe_dumps_books_as_one_array_in_the_recorded_shape(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """The initial dump is `[book, ...]\\n` with the live keys and exactly the REST levels."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [*market.token_ids, "123"], "type": "market"})
        text = await receive(ws)
        assert text.startswith("[{") and text.endswith("]\n")
        books = json.loads(text)
        assert [b["asset_id"] for b in books] == list(market.token_ids)  # unknown id ignored
        for book in books:
            assert list(book) == [
                "market",
                "asset_id",
                "timestamp",
                "hash",
                "bids",
                "asks",
                "tick_size",
                "event_type",
                "last_trade_price",
            ]
            rest = await rest_book(http, sim, book["asset_id"])
            for key in ("market", "timestamp", "hash", "bids", "asks", "tick_size"):
                assert book[key] == rest[key]
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"


async def test_price_steps_send_deltas_that_rebuild_the_rest_book(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Each step sends a bare price_change with both tokens; applied, it equals REST (hash too)."""
    market = moving_markets(sim)[0]
    yes, no = market.token_ids
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [yes], "type": "market"})
        (book,) = json.loads(await receive(ws))
        await assert_quiet(ws)  # the clock has not moved: nothing to say
        for _ in range(3):
            clock.t += STEP_S
            frames = [json.loads(await receive(ws))]
            if frames[0]["event_type"] == "last_trade_price":
                assert frames[0]["asset_id"] == yes
                frames.append(json.loads(await receive(ws)))
            change = frames[-1]
            assert change["event_type"] == "price_change" and change["market"] == book["market"]
            assert {e["asset_id"] for e in change["price_changes"]} == {yes, no}  # sibling too
            apply_deltas(book, change)
            rest = await rest_book(http, sim, yes)
            assert level_maps(book) == level_maps(rest)
            assert (book["hash"], book["timestamp"]) == (rest["hash"], rest["timestamp"])
            last = next(e for e in change["price_changes"] if e["asset_id"] == yes)
            assert last["best_bid"] == rest["bids"][-1]["price"]
            assert last["best_ask"] == rest["asks"][-1]["price"]


async def test_move_control_pins_the_price_and_pushes_it_at_once(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """POST /_sim/move sets the YES display price now; REST and the channel both show it."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [market.token_ids[0]], "type": "market"})
        (book,) = json.loads(await receive(ws))
        async with http.post(
            f"{sim.url}/_sim/move", json={"market_id": market.id, "yes_price": "0.91"}
        ) as response:
            assert response.status == 200
            truth = (await response.json())["market"]
        assert abs(float(truth["yes_display"]) - 0.91) <= 0.02
        frame = json.loads(await receive(ws, timeout=1.0))
        if frame["event_type"] == "last_trade_price":
            frame = json.loads(await receive(ws, timeout=1.0))
        apply_deltas(book, frame)
        rest = await rest_book(http, sim, market.token_ids[0])
        assert level_maps(book) == level_maps(rest) and book["hash"] == rest["hash"]
        assert int(rest["timestamp"]) >= round(sim.state.clock() * 1000) - 1
        async with http.post(
            f"{sim.url}/_sim/move", json={"market_id": market.id, "yes_price": 2}
        ) as response:
            assert response.status == 400


async def test_unsubscribe_stops_deltas_and_resubscribe_dumps_again(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """After unsubscribe nothing comes for the market; subscribe again re-sends its book."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [market.token_ids[0]], "type": "market"})
        await receive(ws)
        await ws.send_json({"operation": "unsubscribe", "assets_ids": [market.token_ids[0]]})
        clock.t += STEP_S
        await assert_quiet(ws)
        await ws.send_json({"operation": "subscribe", "assets_ids": [market.token_ids[0]]})
        (book,) = json.loads(await receive(ws))
        assert book["hash"] == (await rest_book(http, sim, market.token_ids[0]))["hash"]


async def test_resolution_is_announced_with_custom_features(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """A resolved market sends market_resolved (winner named) to custom-feature subscribers."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json(
            {"assets_ids": [market.token_ids[0]], "type": "market", "custom_feature_enabled": True}
        )
        await receive(ws)
        sim.state.resolve(market.id, "no")
        frame = json.loads(await receive(ws, timeout=1.0))
        assert frame["event_type"] == "market_resolved"
        assert frame["winning_asset_id"] == market.token_ids[1]
        assert frame["assets_ids"] == list(market.token_ids)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("ws_garbage", "garbage"),
        ("ws_unknown_asset", "unknown"),
        ("ws_malformed", "malformed"),
    ],
)
async def test_frame_faults(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock, fault: str, check: str
) -> None:
    """ws_garbage sends non-JSON, ws_unknown_asset a foreign token, ws_malformed a NaN price."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [market.token_ids[0]], "type": "market"})
        await receive(ws)
        async with http.post(f"{sim.url}/_sim/faults", json={fault: 1}) as response:
            assert response.status == 200
        clock.t += STEP_S
        texts = [await receive(ws, timeout=1.0) for _ in range(2)]
        if check == "garbage":
            with pytest.raises(ValueError):
                json.loads(texts[0])
        elif check == "unknown":
            frames = json.loads(texts[0])
            assert {f["asset_id"] for f in frames if "asset_id" in f} == {UNKNOWN_ASSET_ID}
        else:
            change = json.loads(texts[-1])
            assert change["price_changes"][0]["price"] == "NaN"


async def test_drop_and_silence_faults(
    sim: RunningSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """ws_silence holds output (PONG too) then delivers it; ws_drop cuts the socket."""
    market = moving_markets(sim)[0]
    async with http.ws_connect(ws_url(sim)) as ws:
        await ws.send_json({"assets_ids": [market.token_ids[0]], "type": "market"})
        await receive(ws)
        sim.state.set_faults({"ws_silence": {"count": 1, "delay_s": 0.6}})
        clock.t += STEP_S
        await ws.send_str("PING")
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.3)
        held = json.loads(await receive(ws, timeout=2.0))  # the step's deltas, after the stall
        assert held["event_type"] in ("price_change", "last_trade_price")
        sim.state.set_faults({"ws_drop": 1})
        for _ in range(3):
            msg = await ws.receive(timeout=2.0)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert sim.state.ws_stats.dropped == 1


async def test_reset_fault_refuses_the_handshake(
    sim: RunningSim, http: aiohttp.ClientSession
) -> None:
    """The HTTP `reset` fault scoped to /ws/market makes connecting fail."""
    # until cleared: aiohttp retries a reset idempotent request once by itself
    sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
    with pytest.raises(aiohttp.ClientError):
        async with http.ws_connect(ws_url(sim)):
            pass
    async with http.get(f"{sim.url}/book", params={"token_id": "1"}) as response:
        assert response.status == 404  # other paths are not affected
    sim.state.clear_faults()
    async with http.ws_connect(ws_url(sim)) as ws, http.get(f"{sim.url}/_sim/ws") as response:
        assert not ws.closed
        stats = (await response.json())["ws"]
        assert stats["connections_open"] == 1
