"""Frames of the WebSocket market channel, validated into typed values (pure, no I/O).

A text message is one JSON object or an array of them (the initial `book` dump arrives as an array,
later `price_change` frames as bare objects, some clients saw arrays throughout). Every number goes
through the REST parser's validators: a NaN, Infinity, negative or out-of-range price or size makes
only that token's entry a fault (`AssetFault`), so the token's book goes stale and the rest of the
frame still applies. A fault whose token cannot be read names the market (`MarketFault`); a message
that is not JSON at all raises `FrameError` (the connection can no longer be trusted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prescientd.core.prices import BookSide
from prescientd.core.stream_book import (
    AssetFault,
    BookDelta,
    BookEvent,
    LastTrade,
    LevelChange,
    TickSizeChange,
)
from prescientd.models import ONE, ZERO
from prescientd.polymarket.clob import book_price, book_timestamp_ms, parse_book
from prescientd.polymarket.jsonsafe import ItemError, is_digits, parse_json, to_decimal, to_size

PONG = "PONG"
PING = "PING"


def subscribe_message(tokens: Iterable[str], *, initial: bool) -> str:
    """The first subscription of a connection (initial), or a later `subscribe` operation."""
    body: dict[str, object] = {"assets_ids": sorted(tokens)}
    if initial:
        body["type"] = "market"
    else:
        body["operation"] = "subscribe"
    body["custom_feature_enabled"] = True
    return json.dumps(body)


def unsubscribe_message(tokens: Iterable[str]) -> str:
    """The `unsubscribe` operation for tokens."""
    return json.dumps({"operation": "unsubscribe", "assets_ids": sorted(tokens)})


class FrameError(Exception):
    """A message that is not a JSON object or array (its tokens cannot be told)."""


@dataclass(frozen=True, slots=True)
class MarketFault:
    """A malformed frame with no readable token: its market's books (all, if None) are suspect."""

    condition_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """`market_resolved` (custom feature): the market's outcome is decided."""

    condition_id: str
    market_id: str
    token_ids: tuple[str, ...]
    winning_token_id: str | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class NewMarket:
    """`new_market` (custom feature): a market was created."""

    condition_id: str
    market_id: str
    token_ids: tuple[str, ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class BestBidAsk:
    """`best_bid_ask` (custom feature): informational, the book frames carry the same."""

    token_id: str
    best_bid: Decimal | None
    best_ask: Decimal | None


@dataclass(frozen=True, slots=True)
class Unhandled:
    """A frame that changes no book: an unknown event type or a malformed informational one."""

    event_type: str
    reason: str = ""


Frame = BookEvent | MarketFault | MarketResolved | NewMarket | BestBidAsk | Unhandled

_SIDES: dict[str, BookSide] = {"BUY": "bids", "SELL": "asks", "buy": "bids", "sell": "asks"}


def parse_message(text: str) -> list[Frame]:
    """The frames of one text message (PING/PONG are the caller's); FrameError if not JSON."""
    try:
        decoded = parse_json(text)
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"not JSON: {str(exc)[:80]}") from None
    items = decoded if isinstance(decoded, list) else [decoded]
    frames: list[Frame] = []
    for item in items:
        if isinstance(item, dict):
            frames.extend(parse_frame(item))
        else:
            frames.append(MarketFault(None, "not_an_object"))
    return frames


def parse_frame(raw: Mapping[str, Any]) -> list[Frame]:
    """The typed frames of one JSON object (a price_change gives one delta per token)."""
    event_type = raw.get("event_type")
    if event_type == "book":
        return [_book(raw)]
    if event_type == "price_change":
        return _price_change(raw)
    if event_type == "last_trade_price":
        return [_last_trade(raw)]
    if event_type == "tick_size_change":
        return [_tick_size_change(raw)]
    try:
        if event_type == "best_bid_ask":
            return [_best_bid_ask(raw)]
        if event_type == "market_resolved":
            return [_market_resolved(raw)]
        if event_type == "new_market":
            return [_new_market(raw)]
    except ItemError as exc:
        return [Unhandled(str(event_type), exc.reason)]
    return [Unhandled(str(event_type)[:40] if event_type is not None else "")]


def _token(raw: Mapping[str, Any], field: str = "asset_id") -> str | None:
    value = raw.get(field)
    return value if isinstance(value, str) and is_digits(value) else None


def _condition(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("market")
    return value if isinstance(value, str) and value else None


def _require_condition(raw: Mapping[str, Any]) -> str:
    condition = _condition(raw)
    if condition is None:
        raise ItemError("bad_field:market", repr(raw.get("market"))[:90])
    return condition


def _fault(raw: Mapping[str, Any], exc: ItemError) -> AssetFault | MarketFault:
    token = _token(raw)
    if token is not None:
        return AssetFault(token, exc.reason)
    return MarketFault(_condition(raw), exc.reason)


def _book(raw: Mapping[str, Any]) -> Frame:
    try:
        return parse_book(raw)
    except ItemError as exc:
        return _fault(raw, exc)


def _optional_price(raw: Mapping[str, Any], field: str) -> Decimal | None:
    value = raw.get(field)
    return None if value is None or value == "" else book_price(value, field)


# A plain size (what the server sends): digits, an optional fraction, below SIZE_LIMIT (10^12),
# so Decimal() of it is finite and in range; anything else takes the full validator.
_PLAIN_SIZE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,18})?")


@dataclass(slots=True)
class _Pending:
    """A token's entries of one price_change frame, gathered in order."""

    changes: list[LevelChange]
    hash: str = ""
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


def _add_entry(pending: dict[str, _Pending], token: str, entry: Mapping[str, Any]) -> None:
    """Validate one price_changes[] entry and append it to its token's delta.

    The hot path of a busy channel, so the validators are called inline: a plain size (what the
    server sends) is read by Decimal() directly, anything else by the full validator.
    """
    get = entry.get
    side_text = get("side")
    side = _SIDES.get(side_text) if type(side_text) is str else None
    if side is None:
        raise ItemError("bad_field:side", repr(side_text)[:40])
    price = book_price(get("price"), "price")
    size_text = get("size")
    if type(size_text) is str and _PLAIN_SIZE.fullmatch(size_text):
        size = Decimal(size_text)
    else:
        size = to_size(size_text, "size")
    entry_hash = get("hash")
    if type(entry_hash) is not str:
        raise ItemError("bad_field:hash", repr(entry_hash)[:90])
    bid_text, ask_text = get("best_bid"), get("best_ask")
    best_bid = None if bid_text is None or bid_text == "" else book_price(bid_text, "best_bid")
    best_ask = None if ask_text is None or ask_text == "" else book_price(ask_text, "best_ask")
    found = pending.get(token)
    if found is None:
        found = pending[token] = _Pending([])
    found.changes.append(LevelChange(side, price, size))
    # the hash and best prices describe the book after this entry; the last one wins
    found.hash, found.best_bid, found.best_ask = entry_hash, best_bid, best_ask


def _price_change(raw: Mapping[str, Any]) -> list[Frame]:
    condition = _condition(raw)
    entries = raw.get("price_changes")
    if entries is None and "asset_id" in raw:
        entries = [raw]  # the older flat shape (2024): one level at the top level
    if not isinstance(entries, list):
        return [MarketFault(condition, "bad_field:price_changes")]
    frame_error: ItemError | None = None
    timestamp_ms = 0
    try:
        timestamp_ms = book_timestamp_ms(raw.get("timestamp"))
        _require_condition(raw)
    except ItemError as exc:
        frame_error = exc  # every token of the frame is affected
    pending: dict[str, _Pending] = {}
    faults: dict[str, AssetFault] = {}
    frames: list[Frame] = []
    valid: set[str] = set()  # token ids already checked in this frame (a frame has one or two)
    for entry in entries:
        asset = entry.get("asset_id") if isinstance(entry, dict) else None
        if type(asset) is str and asset in valid:
            token: str | None = asset
        else:
            token = _token(entry) if isinstance(entry, dict) else None
        if token is not None:
            valid.add(token)
        if token is None:
            frames.append(MarketFault(condition, "bad_field:asset_id"))
            continue
        if token in faults:
            continue
        try:
            if frame_error is not None:
                raise frame_error
            _add_entry(pending, token, entry)
        except ItemError as exc:
            faults[token] = AssetFault(token, exc.reason)
            pending.pop(token, None)
    frames.extend(
        BookDelta(
            token_id=token,
            condition_id=condition or "",
            timestamp_ms=timestamp_ms,
            hash=p.hash,
            changes=tuple(p.changes),
            best_bid=p.best_bid,
            best_ask=p.best_ask,
        )
        for token, p in pending.items()
    )
    frames.extend(faults.values())
    return frames


def _last_trade(raw: Mapping[str, Any]) -> Frame:
    try:
        token = _token(raw)
        if token is None:
            raise ItemError("bad_field:asset_id", repr(raw.get("asset_id"))[:90])
        return LastTrade(
            token_id=token,
            condition_id=_require_condition(raw),
            price=book_price(raw.get("price"), "price"),
            timestamp_ms=book_timestamp_ms(raw.get("timestamp")),
        )
    except ItemError as exc:
        return _fault(raw, exc)


def _tick_size_change(raw: Mapping[str, Any]) -> Frame:
    try:
        token = _token(raw)
        if token is None:
            raise ItemError("bad_field:asset_id", repr(raw.get("asset_id"))[:90])
        tick = to_decimal(raw.get("new_tick_size"), "new_tick_size")
        if not ZERO < tick <= ONE:
            raise ItemError("bad_field:new_tick_size", str(tick))
        return TickSizeChange(
            token_id=token,
            condition_id=_require_condition(raw),
            tick_size=tick,
            timestamp_ms=book_timestamp_ms(raw.get("timestamp")),
        )
    except ItemError as exc:
        return _fault(raw, exc)


def _best_bid_ask(raw: Mapping[str, Any]) -> Frame:
    token = _token(raw)
    if token is None:
        raise ItemError("bad_field:asset_id", repr(raw.get("asset_id"))[:90])
    return BestBidAsk(token, _optional_price(raw, "best_bid"), _optional_price(raw, "best_ask"))


def _token_list(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("assets_ids")
    if not isinstance(value, list) or not all(isinstance(t, str) and is_digits(t) for t in value):
        raise ItemError("bad_field:assets_ids", repr(value)[:90])
    return tuple(value)


def _market_id(raw: Mapping[str, Any]) -> str:
    value = raw.get("id")
    return value if isinstance(value, str) else ""


def _market_resolved(raw: Mapping[str, Any]) -> Frame:
    winner = raw.get("winning_asset_id")
    return MarketResolved(
        condition_id=_require_condition(raw),
        market_id=_market_id(raw),
        token_ids=_token_list(raw),
        winning_token_id=winner if isinstance(winner, str) and is_digits(winner) else None,
        timestamp_ms=book_timestamp_ms(raw.get("timestamp")),
    )


def _new_market(raw: Mapping[str, Any]) -> Frame:
    return NewMarket(
        condition_id=_require_condition(raw),
        market_id=_market_id(raw),
        token_ids=_token_list(raw),
        timestamp_ms=book_timestamp_ms(raw.get("timestamp")),
    )
