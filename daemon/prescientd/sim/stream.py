"""The simulator's WebSocket market channel, `GET /ws/market`, in the recorded frame shapes.

A client sends `{"assets_ids":[...],"type":"market"}` (optionally `custom_feature_enabled`) and
later `{"operation":"subscribe"|"unsubscribe","assets_ids":[...]}`. Each subscribe is answered by
the books of the known, book-bearing tokens as ONE JSON array with a trailing newline
(`[{"market":...,"event_type":"book",...}]\\n`, as recorded live; no `min_order_size`/`neg_risk`,
which live book frames lack). Unknown tokens are ignored silently. Text `PING` gets `PONG`.

Whenever the REST book of a subscribed market changes (a price step, `/_sim/move`), the channel
sends a `last_trade_price` frame if the market's last trade moved, then one bare `price_change`
object (`", "` separators, as recorded) whose `price_changes[]` carry BOTH tokens, the unsubscribed
sibling too (as live). Each entry's `size` is the new aggregate at its price (`"0"` removes the
level), its `hash` is the REST hash of the token's resulting book and `best_bid`/`best_ask` that
book's best prices; the frame `timestamp` is the REST timestamp. A client applying the deltas holds
exactly the book `POST /books` returns. A resolved market sends `market_resolved` to clients that
enabled custom features.

Faults (`POST /_sim/faults`, checked whenever a connection wakes, i.e. within ~50 ms):
`ws_drop` closes the connection's socket without a close frame; `ws_silence` stops all output (no
deltas, no PONG) for the switch's `delay_s`, then the pending deltas follow, as after a network
stall; `ws_malformed` corrupts the first entry of the next price_change frames (price "NaN", size
"-5", price "1.5", cycling); `ws_garbage` sends a text frame that is not JSON; `ws_unknown_asset`
sends a book and a price_change for a token that does not exist. The HTTP faults `reset` and
`server_error` with `path_prefix: "/ws/market"` refuse the handshake.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSMsgType, web

from prescientd.sim.state import SimState
from prescientd.sim.universe import SimMarket

WAKE_CAP_S: Final = 0.05
"""A connection checks its faults and the price step at least this often."""
UNKNOWN_ASSET_ID: Final = "9" * 77
"""A token id no universe has (ids are 76-78 digits drawn at random)."""
_COMPACT = (",", ":")
_LIVE = (", ", ":")  # price_change frames were recorded with ", " between items
_CORRUPTIONS: Final = (("price", "NaN"), ("size", "-5"), ("price", "1.5"))
_SIDE_OF = {"bids": "BUY", "asks": "SELL"}


@dataclass(slots=True)
class _Sent:
    """A token's book as this connection last described it."""

    body: bytes
    hash: str
    bids: dict[str, str]
    asks: dict[str, str]
    last_trade_price: str


def _levels(raw: list[dict[str, str]]) -> dict[str, str]:
    return {level["price"]: level["size"] for level in raw}


def _parse(body: bytes) -> tuple[dict[str, Any], _Sent]:
    book = json.loads(body)
    sent = _Sent(
        body, book["hash"], _levels(book["bids"]), _levels(book["asks"]), book["last_trade_price"]
    )
    return book, sent


def _book_frame(book: dict[str, Any]) -> dict[str, Any]:
    """A REST book as the channel sends it (key order of the recorded frames)."""
    return {
        "market": book["market"],
        "asset_id": book["asset_id"],
        "timestamp": book["timestamp"],
        "hash": book["hash"],
        "bids": book["bids"],
        "asks": book["asks"],
        "tick_size": book["tick_size"],
        "event_type": "book",
        "last_trade_price": book["last_trade_price"],
    }


def _best(book: dict[str, Any], side: str) -> str:
    levels = book[side]
    # REST order is best LAST (bids ascending, asks descending)
    return str(levels[-1]["price"]) if levels else "0"


def _changes(token: str, book: dict[str, Any], old: _Sent, new: _Sent) -> list[dict[str, str]]:
    """price_changes[] entries turning `old` into `new` (sizes are new aggregates)."""
    entries: list[dict[str, str]] = []
    for side, before, after in (("bids", old.bids, new.bids), ("asks", old.asks, new.asks)):
        moved = [(p, s) for p, s in after.items() if before.get(p) != s]
        moved += [(p, "0") for p in before if p not in after]
        for price, size in moved:
            entries.append(
                {
                    "asset_id": token,
                    "price": price,
                    "size": size,
                    "side": _SIDE_OF[side],
                    "hash": new.hash,
                    "best_bid": _best(book, "bids"),
                    "best_ask": _best(book, "asks"),
                }
            )
    return entries


@dataclass(eq=False)
class _Subscriber:
    """One `/ws/market` connection: what it asked for and what it was told."""

    state: SimState
    ws: web.WebSocketResponse
    request: web.Request
    custom: bool = False
    subscribed: set[str] = field(default_factory=set)
    markets: dict[str, SimMarket] = field(default_factory=dict)
    sent: dict[str, _Sent] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)
    seen: tuple[int, int] = (-1, -1)
    silent_until: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    # -- requests from the client ----------------------------------------------------------------

    async def handle(self, text: str) -> None:
        if text == "PING":
            if not self.silent:
                await self.send("PONG")
                self.state.ws_stats.pongs_sent += 1
            return
        try:
            request = json.loads(text)
        except ValueError:
            return  # the live server ignores what it cannot read
        if not isinstance(request, dict) or not isinstance(request.get("assets_ids"), list):
            return
        tokens = [t for t in request["assets_ids"] if isinstance(t, str)]
        if request.get("custom_feature_enabled") is True:
            self.custom = True
        async with self.lock:
            if request.get("operation") == "unsubscribe":
                self._unsubscribe(tokens)
            elif request.get("operation", "subscribe") == "subscribe":
                await self._subscribe(tokens)

    async def _subscribe(self, tokens: list[str]) -> None:
        """Subscribe and dump the books (again, for tokens already subscribed: a resync)."""
        books: list[dict[str, Any]] = []
        for token in dict.fromkeys(tokens):
            entry = self.state.universe.token_index.get(token)
            if entry is None:
                continue
            market = entry[0]
            self.subscribed.add(token)
            if market.id not in self.markets:
                self.markets[market.id] = market
                for sibling in market.token_ids:
                    body = self.state.book_bytes(sibling)
                    if body is not None:
                        self.sent[sibling] = _parse(body)[1]
            body = self.state.book_bytes(token)
            if body is not None:
                book, self.sent[token] = _parse(body)
                books.append(_book_frame(book))
        if books:
            await self.send(json.dumps(books, separators=_COMPACT) + "\n")
            self.state.ws_stats.snapshots_sent += len(books)

    def _unsubscribe(self, tokens: list[str]) -> None:
        self.subscribed.difference_update(tokens)
        for market_id, market in list(self.markets.items()):
            if not self.subscribed.intersection(market.token_ids):
                del self.markets[market_id]
                for token in market.token_ids:
                    self.sent.pop(token, None)

    # -- pushing changes -------------------------------------------------------------------------

    async def push(self) -> None:
        """Send what changed since the last push (nothing while silent)."""
        state = self.state
        key = (state.step(), state.book_version)
        if key == self.seen:
            return
        async with self.lock:
            self.seen = key
            for market in list(self.markets.values()):
                for text in self._market_frames(market):
                    await self.send(text)

    def _market_frames(self, market: SimMarket) -> list[str]:
        stats = self.state.ws_stats
        if market.resolved and market.id not in self.announced:
            self.announced.add(market.id)
            if self.custom:
                stats.resolved_sent += 1
                return [json.dumps(self._resolved(market), separators=_LIVE)]
        entries: list[dict[str, str]] = []
        trade: dict[str, Any] | None = None
        timestamp = ""
        for token in market.token_ids:
            body = self.state.book_bytes(token)
            old = self.sent.get(token)
            if body is None or old is None or body == old.body:
                continue
            book, new = _parse(body)
            entries += _changes(token, book, old, new)
            if new.last_trade_price != old.last_trade_price and trade is None:
                trade = self._last_trade(market, book)
            timestamp = book["timestamp"]
            self.sent[token] = new
        frames = []
        if trade is not None:
            stats.last_trades_sent += 1
            frames.append(json.dumps(trade, separators=_LIVE))
        if entries:
            frame = {
                "market": market.condition_id,
                "price_changes": self._maybe_corrupt(entries),
                "timestamp": timestamp,
                "event_type": "price_change",
            }
            stats.price_changes_sent += 1
            stats.entries_sent += len(entries)
            frames.append(json.dumps(frame, separators=_LIVE))
        return frames

    def _maybe_corrupt(self, entries: list[dict[str, str]]) -> list[dict[str, str]]:
        switch = self.state.faults.take("ws_malformed", "/ws/market", "any")
        if switch is not None:
            field_name, value = _CORRUPTIONS[(switch.fired - 1) % len(_CORRUPTIONS)]
            entries[0] = {**entries[0], field_name: value}
        return entries

    def _last_trade(self, market: SimMarket, book: dict[str, Any]) -> dict[str, Any]:
        return {
            "market": market.condition_id,
            "asset_id": market.token_ids[0],
            "price": book["last_trade_price"],
            "size": "10",
            "fee_rate_bps": "0",
            "side": "BUY",
            "timestamp": book["timestamp"],
            "event_type": "last_trade_price",
            "transaction_hash": "0x" + book["hash"].rjust(64, "0"),
        }

    def _resolved(self, market: SimMarket) -> dict[str, Any]:
        winner = market.winner_index
        return {
            "event_type": "market_resolved",
            "id": market.id,
            "market": market.condition_id,
            "assets_ids": list(market.token_ids),
            "winning_asset_id": None if winner is None else market.token_ids[winner],
            "winning_outcome": None if winner is None else market.outcomes[winner],
            "timestamp": str(round(self.state.clock() * 1000)),
            "tags": [t.slug for t in market.tags],
        }

    # -- faults ----------------------------------------------------------------------------------

    async def apply_faults(self) -> bool:
        """Apply the WebSocket fault switches; False when the connection was dropped."""
        faults = self.state.faults
        if faults.take("ws_drop", "/ws/market", "any"):
            self.state.ws_stats.dropped += 1
            if self.request.transport is not None:
                self.request.transport.close()  # no close frame: a broken network
            return False
        silence = faults.take("ws_silence", "/ws/market", "any")
        if silence is not None:
            self.silent_until = max(self.silent_until, time.monotonic() + silence.delay_s)
        if self.silent:
            return True
        if faults.take("ws_garbage", "/ws/market", "any"):
            await self.send('{"event_type": "price_change", "market": "0x')
        if faults.take("ws_unknown_asset", "/ws/market", "any"):
            await self.send(self._unknown_asset_frames())
        return True

    def _unknown_asset_frames(self) -> str:
        condition = "0x" + "9" * 64
        timestamp = str(round(self.state.clock() * 1000))
        book = {
            "market": condition,
            "asset_id": UNKNOWN_ASSET_ID,
            "timestamp": timestamp,
            "hash": "9" * 40,
            "bids": [{"price": "0.4", "size": "100"}],
            "asks": [{"price": "0.6", "size": "100"}],
            "tick_size": "0.01",
            "event_type": "book",
            "last_trade_price": "0.5",
        }
        change = {
            "market": condition,
            "price_changes": [
                {
                    "asset_id": UNKNOWN_ASSET_ID,
                    "price": "0.41",
                    "size": "5",
                    "side": "BUY",
                    "hash": "8" * 40,
                    "best_bid": "0.41",
                    "best_ask": "0.6",
                }
            ],
            "timestamp": timestamp,
            "event_type": "price_change",
        }
        return json.dumps([book, change], separators=_COMPACT)


def _wait_s(state: SimState) -> float:
    """Until the next price step, capped so faults and fake clocks are noticed promptly."""
    to_next_step = state.price_step_s - (state.clock() % state.price_step_s)
    return max(0.001, min(WAKE_CAP_S, to_next_step + 0.001))


async def _pusher(sub: _Subscriber) -> None:
    while not sub.ws.closed:
        with suppress(TimeoutError):
            async with asyncio.timeout(_wait_s(sub.state)):
                await sub.wake.wait()
        sub.wake.clear()
        if not await sub.apply_faults():
            return
        if not sub.silent:
            await sub.push()


async def serve_market_channel(request: web.Request, state: SimState) -> web.WebSocketResponse:
    """GET /ws/market: the market channel (see the module docstring)."""
    ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    sub = _Subscriber(state, ws, request)
    state.add_listener(sub.wake.set)
    state.ws_stats.connections_open += 1
    state.ws_stats.connections_total += 1
    pusher = asyncio.create_task(_pusher(sub))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await sub.handle(msg.data)
    except (ConnectionError, RuntimeError):
        pass  # the socket went away (a ws_drop, or the client)
    finally:
        state.remove_listener(sub.wake.set)
        state.ws_stats.connections_open -= 1
        pusher.cancel()
        with suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await pusher
    return ws
