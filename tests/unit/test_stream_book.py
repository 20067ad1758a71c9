"""Local books from the market channel: recorded sessions replayed, deltas, staleness, gaps."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from test_ws_frames import WS_FIXTURES, recorded_messages

from prescientd.core.fills import simulate_buy
from prescientd.core.stream_book import (
    BEST_MISMATCH,
    CROSSED,
    DISCONNECTED,
    MALFORMED,
    NO_SNAPSHOT,
    OUT_OF_RANGE,
    TOO_MANY_LEVELS,
    Applied,
    AssetFault,
    BookDelta,
    LastTrade,
    LevelChange,
    LocalBooks,
    TickSizeChange,
)
from prescientd.models import Book, Level
from prescientd.polymarket.clob import parse_book
from prescientd.polymarket.ws_frames import parse_message

ARGOS = "ws_market_raw_frames_2026-08_argos.jsonl"
ARGOS_YES = "34691510069031117755834214800869745291092253295564665516660269316660628637961"
ARGOS_NO = "95561057794427123541889915407555646439882912350845258651794843110787555977699"
NAUTILUS = "ws_market_messages_2024-2025_nautilus.jsonl"
NAUTILUS_BOOK = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
D = Decimal
T = "7" * 77
SIB = "8" * 77
COND = "0x" + "cd" * 32


def replay(name: str, watched: set[str] | None = None) -> tuple[LocalBooks, list[Applied]]:
    """Feed every frame of a recording to LocalBooks watching `watched` (default: all tokens)."""
    messages = recorded_messages(name)
    if watched is None:
        watched = {t for m in messages for t in re.findall(r'"asset_id": ?"(\d+)"', m)}
    books = LocalBooks()
    books.watch(watched)
    results = []
    for message in messages:
        for frame in parse_message(message):
            if isinstance(frame, Book | BookDelta | TickSizeChange | LastTrade | AssetFault):
                results.append(books.apply(frame))
    return books, results


@pytest.mark.parametrize("name", WS_FIXTURES)
def test_every_recording_replays_without_a_gap(name: str) -> None:
    """Replaying a recording stales nothing: its snapshots are trusted, other tokens wait."""
    books, results = replay(name)
    assert all(not r.went_stale for r in results)
    snapshot_tokens = {
        item["asset_id"]
        for m in recorded_messages(name)
        for item in (json.loads(m) if m.startswith("[") else [json.loads(m)])
        if item.get("event_type") == "book"
    }
    for token in snapshot_tokens:
        assert books.is_trusted(token)
    assert books.trusted_count() == len(snapshot_tokens)


def test_argos_session_gives_the_recorded_levels_and_agrees_with_the_servers_best_prices() -> None:
    """The argos session (subscribed to YES only): sibling deltas ignored, levels aggregated."""
    books, results = replay(ARGOS, {ARGOS_YES})
    assert sum(r.ignored for r in results) == 5  # 4 NO entries + a trade of another market
    book = books.book(ARGOS_YES)
    assert book is not None
    asks = {level.price: level.size for level in book.asks}
    bids = {level.price: level.size for level in book.bids}
    # recorded: 648 -> 636, 172.85 -> 142.85, 45 -> 17 (asks) and 14212.19 -> 14171.44 (bid)
    assert (asks[D("0.49")], asks[D("0.65")], asks[D("0.48")]) == (D(636), D("142.85"), D(17))
    assert bids[D("0.28")] == D("14171.44")
    assert (book.bids[0].price, book.asks[0].price) == (D("0.28"), D("0.29"))
    assert book.hash == "a40634cff08e375637aa5215b8a3c87a52693e75"
    assert book.timestamp_ms == 1786387674661
    assert (len(book.bids), len(book.asks)) == (27, 55)


def test_nautilus_messages_apply_the_flat_delta_and_the_market_level_last_trade() -> None:
    """A flat 2024 delta sets its level; a trade on the sibling token sets the market's last."""
    books, _ = replay(NAUTILUS)
    book = books.book(NAUTILUS_BOOK)
    assert book is not None
    assert {lv.price: lv.size for lv in book.asks}[D("0.514")] == D("21574.08")
    assert book.last_trade_price == D("0.491")  # the NO token's trade, same market


def test_a_stream_book_is_the_rest_book_and_fills_identically() -> None:
    """Snapshot + deltas equal the REST parse of the resulting book, and walk to the same fill."""
    books = LocalBooks()
    books.watch([T])
    books.apply(rest_book([("0.40", "100"), ("0.39", "50")], [("0.42", "30"), ("0.44", "80")]))
    books.apply(delta(("asks", "0.42", "0"), ("asks", "0.43", "60"), best=("0.40", "0.43")))
    streamed = books.book(T)
    expected = rest_book([("0.40", "100"), ("0.39", "50")], [("0.43", "60"), ("0.44", "80")])
    assert streamed == replace(expected, hash="h2", timestamp_ms=2)
    assert streamed is not None
    assert simulate_buy(
        streamed, D(40), max_slippage=D("0.02"), fee_schedule=None, min_order_size=D(5)
    ) == simulate_buy(
        expected, D(40), max_slippage=D("0.02"), fee_schedule=None, min_order_size=D(5)
    )


def rest_book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], token: str = T) -> Book:
    """A book parsed by the REST parser from CLOB-shaped JSON (best level last)."""
    return parse_book(
        {
            "market": COND,
            "asset_id": token,
            "timestamp": "1",
            "hash": "h1",
            "bids": [{"price": p, "size": s} for p, s in reversed(bids)],
            "asks": [{"price": p, "size": s} for p, s in reversed(asks)],
            "tick_size": "0.01",
            "last_trade_price": "0.41",
        }
    )


def delta(
    *changes: tuple[str, str, str], best: tuple[str, str] | None = None, token: str = T
) -> BookDelta:
    """A delta of (side, price, size) changes, optionally with the server's best bid/ask."""
    return BookDelta(
        token_id=token,
        condition_id=COND,
        timestamp_ms=2,
        hash="h2",
        changes=tuple(LevelChange(s, D(p), D(z)) for s, p, z in changes),  # type: ignore[arg-type]
        best_bid=D(best[0]) if best else None,
        best_ask=D(best[1]) if best else None,
    )


def fresh() -> LocalBooks:
    """Books watching T with a trusted 0.40/0.42 snapshot."""
    books = LocalBooks()
    books.watch([T, SIB])
    books.apply(rest_book([("0.40", "100")], [("0.42", "30")]))
    return books


@pytest.mark.parametrize(
    ("change", "best", "bids", "asks"),
    [
        (("bids", "0.40", "0"), None, [], [("0.42", "30")]),
        (
            ("bids", "0.41", "7"),
            ("0.41", "0.42"),
            [("0.41", "7"), ("0.40", "100")],
            [("0.42", "30")],
        ),
        (("asks", "0.42", "12.5"), ("0.40", "0.42"), [("0.40", "100")], [("0.42", "12.5")]),
        (
            ("asks", "0.45", "1"),
            ("0.40", "0.42"),
            [("0.40", "100")],
            [("0.42", "30"), ("0.45", "1")],
        ),
        (("asks", "0.99", "0"), ("0.40", "0.42"), [("0.40", "100")], [("0.42", "30")]),
        (("bids", "0.40", "0"), ("0", "0.42"), [], [("0.42", "30")]),
    ],
)
def test_deltas_set_the_new_aggregate_size_and_zero_removes(
    change: tuple[str, str, str],
    best: tuple[str, str] | None,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
) -> None:
    """A delta's size replaces the level (not added); "0" removes it; levels stay best first."""
    books = fresh()
    assert books.apply(delta(change, best=best)) == Applied(changed=(T,))
    book = books.book(T)
    assert book is not None
    assert book.bids == tuple(Level(D(p), D(s)) for p, s in bids)
    assert book.asks == tuple(Level(D(p), D(s)) for p, s in asks)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (delta(("bids", "0.41", "5"), best=("0.40", "0.42")), BEST_MISMATCH),
        (delta(("asks", "0.42", "0"), best=("0.40", "0.42")), BEST_MISMATCH),
        (delta(("bids", "0.43", "5")), CROSSED),
        (AssetFault(T, "non_finite_number"), MALFORMED),
        (delta(("bids", "0.39", "999999999999")), None),  # within one level's range ...
    ],
)
def test_a_gap_marks_the_book_stale_until_the_next_snapshot(
    event: BookDelta | AssetFault, reason: str | None
) -> None:
    """A malformed frame or a delta that disagrees with the server stales the book (and only it)."""
    books = fresh()
    books.apply(rest_book([("0.60", "1")], [("0.61", "1")], token=SIB))
    applied = books.apply(event)
    if reason is None:
        assert applied == Applied(changed=(T,))
        # ... but the side's total no longer fits the store: refused when built
        assert books.book(T) is None and books.stale_reason(T) == OUT_OF_RANGE
        return
    assert applied == Applied(went_stale=(T,))
    assert books.stale_reason(T) == reason and books.book(T) is None
    assert books.is_trusted(SIB)
    # nothing builds on a stale book, not even a delta that would agree
    assert books.apply(delta(("bids", "0.40", "5"), best=("0.40", "0.42"))) == Applied()
    assert books.book(T) is None
    books.apply(rest_book([("0.30", "1")], [("0.31", "2")]))
    healed = books.book(T)
    assert healed is not None and healed.bids == (Level(D("0.30"), D(1)),)


def test_a_delta_before_any_snapshot_is_not_trusted() -> None:
    """Deltas cannot build a book: a token stays untrusted until its first snapshot."""
    books = LocalBooks()
    books.watch([T])
    assert books.apply(delta(("bids", "0.40", "5"))) == Applied()
    assert books.stale_reason(T) == NO_SNAPSHOT and books.book(T) is None


def test_reconnect_staleness_and_unwatched_tokens() -> None:
    """mark_stale reports what was trusted; events for unwatched tokens are ignored."""
    books = fresh()
    assert books.mark_stale([T, SIB, "5" * 77], DISCONNECTED) == (T,)
    assert books.mark_stale([T], DISCONNECTED) == ()
    assert books.apply(rest_book([], [], token="5" * 77)).ignored
    books.unwatch([T])
    assert T not in books and books.apply(rest_book([], [])).ignored


def test_last_trade_is_market_level_and_tick_size_changes_apply() -> None:
    """A trade on either token sets both books' last trade; a tick change updates the tick."""
    books = fresh()
    books.apply(rest_book([("0.57", "1")], [("0.59", "1")], token=SIB))
    trade = LastTrade(token_id=SIB, condition_id=COND, price=D("0.58"), timestamp_ms=3)
    assert books.apply(trade) == Applied(changed=tuple(sorted((T, SIB))))
    assert books.apply(trade) == Applied()  # unchanged: no notice
    books.apply(TickSizeChange(token_id=T, condition_id=COND, tick_size=D("0.001"), timestamp_ms=4))
    book = books.book(T)
    assert book is not None and book.last_trade_price == D("0.58")
    assert book.tick_size == D("0.001")


def test_a_runaway_side_goes_stale() -> None:
    """More levels than a real book has marks the book stale instead of growing without bound."""
    books = LocalBooks(max_levels_per_side=3)
    books.watch([T])
    books.apply(rest_book([("0.40", "1")], [("0.42", "1")]))
    applied = books.apply(delta(*(("bids", f"0.3{i}", "1") for i in range(4))))
    assert applied == Applied(went_stale=(T,)) and books.stale_reason(T) == TOO_MANY_LEVELS
