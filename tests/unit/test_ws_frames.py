"""Parsing WebSocket market-channel frames: recorded shapes, both framings, per-token faults."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from conftest import FIXTURES
from prescientd.core.stream_book import AssetFault, BookDelta, LastTrade, TickSizeChange
from prescientd.models import Book
from prescientd.polymarket.ws_frames import (
    BestBidAsk,
    FrameError,
    MarketFault,
    MarketResolved,
    NewMarket,
    Unhandled,
    parse_message,
)

YES = "1" * 77
NO = "2" * 77
COND = "0x" + "ab" * 32
WS_FIXTURES = sorted(p.name for p in FIXTURES.glob("ws_*.jsonl"))


def recorded_messages(name: str) -> list[str]:
    """The text messages of a fixture: `raw` of receive records, else the line itself."""
    messages = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if isinstance(record, dict) and "raw" in record:
            if record["direction"] == "recv" and record["raw"] not in ("PING", "PONG"):
                messages.append(record["raw"])
        elif isinstance(record, dict) and "connect" in record:
            continue
        else:
            messages.append(line)
    return messages


def expected_kinds(message: str) -> list[str]:
    """Frame kinds a message must give, read from its event_type fields (an independent oracle)."""
    decoded = json.loads(message)
    kinds: list[str] = []
    for item in decoded if isinstance(decoded, list) else [decoded]:
        event = item["event_type"]
        if event == "price_change":
            entries = item.get("price_changes", [item])
            kinds += ["BookDelta"] * len({entry["asset_id"] for entry in entries})
        else:
            kinds.append(
                {
                    "book": "Book",
                    "last_trade_price": "LastTrade",
                    "tick_size_change": "TickSizeChange",
                    "best_bid_ask": "BestBidAsk",
                    "new_market": "NewMarket",
                    "market_resolved": "MarketResolved",
                }[event]
            )
    return kinds


@pytest.mark.parametrize("name", WS_FIXTURES)
def test_every_recorded_message_parses_to_the_kinds_its_event_types_name(name: str) -> None:
    """Each recorded ws_*.jsonl message parses into one typed frame per event (per token)."""
    messages = recorded_messages(name)
    assert messages
    for message in messages:
        frames = parse_message(message)
        assert [type(f).__name__ for f in frames] == expected_kinds(message)


def test_the_recorded_initial_dump_is_an_array_and_later_frames_are_bare_objects() -> None:
    """Both framings of the argos capture parse: `[book]\\n` and bare price_change objects."""
    messages = recorded_messages("ws_market_raw_frames_2026-08_argos.jsonl")
    assert messages[0].startswith("[") and messages[0].endswith("]\n")
    assert messages[1].startswith("{")
    (book,) = parse_message(messages[0])
    assert isinstance(book, Book)
    # best level is last in the recording; the parser sorts best first like the REST one
    assert book.bids[0].price == Decimal("0.28") and book.asks[0].price == Decimal("0.29")
    assert book.tick_size == Decimal("0.01") and book.last_trade_price == Decimal("0.280")
    assert book.min_order_size is None  # live book frames do not carry it


def test_price_change_entries_map_buy_to_bids_and_sell_to_asks() -> None:
    """A recorded price_change gives one delta per token with the side, price and new size."""
    messages = recorded_messages("ws_market_raw_frames_2026-08_argos.jsonl")
    deltas = {d.token_id: d for d in parse_message(messages[1]) if isinstance(d, BookDelta)}
    yes = deltas["34691510069031117755834214800869745291092253295564665516660269316660628637961"]
    no = deltas["95561057794427123541889915407555646439882912350845258651794843110787555977699"]
    assert [(c.side, c.price, c.size) for c in yes.changes] == [
        ("asks", Decimal("0.49"), Decimal(636))
    ]
    assert [(c.side, c.price, c.size) for c in no.changes] == [
        ("bids", Decimal("0.51"), Decimal(636))
    ]
    assert (yes.best_bid, yes.best_ask) == (Decimal("0.28"), Decimal("0.29"))
    assert yes.timestamp_ms == 1786387666174
    assert yes.hash == "5ce704dea0a2123a388f1d8b432aad0058f5c479"


def test_the_older_flat_price_change_shape_is_one_delta() -> None:
    """The 2024 flat price_change (level at the top level, no best prices) still parses."""
    flat = recorded_messages("ws_market_messages_2024-2025_nautilus.jsonl")[1]
    (delta,) = parse_message(flat)
    assert isinstance(delta, BookDelta)
    assert [(c.side, c.price, c.size) for c in delta.changes] == [
        ("asks", Decimal("0.514"), Decimal("21574.08"))
    ]
    assert delta.best_bid is None and delta.best_ask is None


def entry(token: str = YES, **overrides: Any) -> dict[str, Any]:
    """A valid price_changes[] entry."""
    base = {
        "asset_id": token,
        "price": "0.41",
        "size": "100",
        "side": "BUY",
        "hash": "h" * 40,
        "best_bid": "0.41",
        "best_ask": "0.43",
    }
    base.update(overrides)
    return base


def price_change(*entries: dict[str, Any], **overrides: Any) -> str:
    """A price_change frame's text."""
    frame: dict[str, Any] = {
        "market": COND,
        "price_changes": list(entries),
        "timestamp": "1786387666174",
        "event_type": "price_change",
    }
    frame.update(overrides)
    return json.dumps(frame)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"price": "NaN"}, "non_finite_number"),
        ({"price": "Infinity"}, "non_finite_number"),
        ({"size": "1e400"}, "non_finite_number"),
        ({"size": "-5"}, "bad_field:size"),
        ({"size": "1000000000000"}, "bad_field:size"),
        ({"price": "1.5"}, "price_out_of_range"),
        ({"price": "-0.05"}, "price_out_of_range"),
        ({"price": "0.12345"}, "bad_field:price"),
        ({"side": "HOLD"}, "bad_field:side"),
        ({"hash": None}, "bad_field:hash"),
        ({"best_ask": "NaN"}, "non_finite_number"),
        ({"price": None}, "bad_field:price"),
    ],
)
def test_one_malformed_entry_faults_only_its_token(bad: dict[str, Any], reason: str) -> None:
    """A bad entry makes its token an AssetFault; the sibling's entry in the frame still applies."""
    frames = parse_message(price_change(entry(NO, side="SELL"), entry(YES, **bad)))
    faults = [f for f in frames if isinstance(f, AssetFault)]
    deltas = [f for f in frames if isinstance(f, BookDelta)]
    assert faults == [AssetFault(YES, reason)]
    assert [d.token_id for d in deltas] == [NO]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # the plain spellings the server sends take the fast path
        ("0", "0"),
        ("12.5", "12.5"),
        ("999999999999.999999", "999999999999.999999"),
        # anything else takes the full validator, with its own answer
        ("1e3", "1E+3"),
        (" 7 ", "7"),
        (7, "7"),
        ("1_000", "bad_field:size"),
        ("-0.5", "bad_field:size"),
        ("1000000000000", "bad_field:size"),
        ("NaN", "non_finite_number"),
        ("", "bad_field:size"),
        (None, "bad_field:size"),
    ],
)
def test_entry_sizes_read_the_same_on_the_fast_and_the_full_path(size: Any, expected: str) -> None:
    """A size is the new aggregate as a Decimal, or its token's fault with the validator's
    reason, whichever path reads it."""
    frames = parse_message(price_change(entry(YES, size=size)))
    if expected[0].isdigit():
        (delta,) = frames
        assert isinstance(delta, BookDelta) and delta.changes[0].size == Decimal(expected)
        assert str(delta.changes[0].size) == expected
    else:
        assert frames == [AssetFault(YES, expected)]


def test_an_unquoted_nan_literal_is_caught_per_token() -> None:
    """`"size": NaN` (invalid JSON that Python accepts) faults that token, not the message."""
    text = price_change(entry(YES), entry(NO)).replace('"size": "100"', '"size": NaN', 1)
    frames = parse_message(text)
    assert AssetFault(YES, "non_finite_number") in frames
    assert [f.token_id for f in frames if isinstance(f, BookDelta)] == [NO]


def test_a_bad_entry_after_a_good_one_discards_the_tokens_delta() -> None:
    """A token with any bad entry in a frame yields only its fault (no half-applied delta)."""
    frames = parse_message(price_change(entry(YES), entry(YES, price="NaN"), entry(YES)))
    assert frames == [AssetFault(YES, "non_finite_number")]


def test_entries_of_one_token_keep_their_order_and_the_last_hash() -> None:
    """Several entries for a token form one delta, in order, with the last entry's hash/best."""
    frames = parse_message(
        price_change(
            entry(YES, price="0.40", size="0", hash="a" * 40),
            entry(YES, price="0.39", size="5", hash="b" * 40, best_bid="0.39"),
        )
    )
    (delta,) = frames
    assert isinstance(delta, BookDelta)
    assert [(c.price, c.size) for c in delta.changes] == [
        (Decimal("0.40"), Decimal(0)),
        (Decimal("0.39"), Decimal(5)),
    ]
    assert delta.hash == "b" * 40 and delta.best_bid == Decimal("0.39")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (price_change(entry(YES), timestamp="soon"), [AssetFault(YES, "bad_field:timestamp")]),
        (price_change(entry(YES), market=None), [AssetFault(YES, "bad_field:market")]),
        (price_change(entry("0xnot-a-token")), [MarketFault(COND, "bad_field:asset_id")]),
        (price_change(price_changes="x"), [MarketFault(COND, "bad_field:price_changes")]),
        (
            (
                '[{"event_type":"book","market":"0xc","asset_id":"7","timestamp":"1","hash":"h",'
                '"bids":[{"price":"NaN","size":"1"}],"asks":[]}]'
            ),
            [AssetFault("7", "non_finite_number")],
        ),
        (
            '{"event_type":"book","market":"0xc","bids":[],"asks":[]}',
            [MarketFault("0xc", "bad_field:asset_id")],
        ),
        (
            (
                '{"event_type":"last_trade_price","market":"0xc","asset_id":"7","price":"2",'
                '"timestamp":"1"}'
            ),
            [AssetFault("7", "price_out_of_range")],
        ),
        (
            (
                '{"event_type":"tick_size_change","market":"0xc","asset_id":"7","new_tick_size":"0",'
                '"timestamp":"1"}'
            ),
            [AssetFault("7", "bad_field:new_tick_size")],
        ),
        ('[1, "x"]', [MarketFault(None, "not_an_object"), MarketFault(None, "not_an_object")]),
        ('{"event_type":"who_knows","asset_id":"7"}', [Unhandled("who_knows")]),
        ('{"no_event_type":true}', [Unhandled("")]),
        (
            '{"event_type":"best_bid_ask","asset_id":"x"}',
            [Unhandled("best_bid_ask", "bad_field:asset_id")],
        ),
    ],
)
def test_frame_level_problems(text: str, expected: list[object]) -> None:
    """Frame-level faults name the token when it can be read, else the market (or none)."""
    assert parse_message(text) == expected


@pytest.mark.parametrize("text", ['{"event_type": "price_change", "market": "0x', "PONG", ""])
def test_a_message_that_is_not_json_raises_frame_error(text: str) -> None:
    """Undecodable text cannot be attributed to a token: FrameError for the caller."""
    with pytest.raises(FrameError):
        parse_message(text)


def test_custom_feature_frames_parse_from_the_docs_examples() -> None:
    """best_bid_ask, new_market and market_resolved carry their tokens and the winner."""
    frames = [
        f
        for m in recorded_messages("ws_market_custom_feature_docs_examples.jsonl")
        for f in parse_message(m)
    ]
    best, new, resolved = frames
    assert isinstance(best, BestBidAsk) and best.best_ask == Decimal("0.77")
    assert isinstance(new, NewMarket) and len(new.token_ids) == 2
    assert isinstance(resolved, MarketResolved)
    assert resolved.winning_token_id == resolved.token_ids[0]
    assert resolved.condition_id == new.condition_id


def test_last_trade_and_tick_size_frames_carry_their_values() -> None:
    """last_trade_price and tick_size_change give the price, tick and timestamps recorded."""
    frames = [
        f
        for m in recorded_messages("ws_market_messages_2024-2025_nautilus.jsonl")
        for f in parse_message(m)
    ]
    trade = next(f for f in frames if isinstance(f, LastTrade))
    tick = next(f for f in frames if isinstance(f, TickSizeChange))
    assert (trade.price, trade.timestamp_ms) == (Decimal("0.491"), 1724564136087)
    assert (tick.tick_size, tick.timestamp_ms) == (Decimal("0.001"), 1739068041853)
