"""CLOB book and market validation against the recorded fixtures and corrupt books."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from prescientd.models import Book
from prescientd.polymarket.clob import ItemError, parse_book, parse_clob_market
from prescientd.polymarket.jsonsafe import parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
BOOK_FIXTURES = ["clob_book_rest_2024.json", "clob_book_rest_2026-10_many_levels.json"]


def load(name: str) -> Any:
    """A fixture decoded the way the HTTP edge decodes bodies."""
    return parse_json((FIXTURES / name).read_bytes())


def reorder(levels: list[dict[str, str]], order: str) -> list[dict[str, str]]:
    """The same levels as recorded, reversed, or shuffled."""
    if order == "recorded":
        return list(levels)
    if order == "reversed":
        return list(reversed(levels))
    shuffled = list(levels)
    random.Random(7).shuffle(shuffled)
    return shuffled


@pytest.mark.parametrize("order", ["recorded", "reversed", "shuffled"])
@pytest.mark.parametrize("name", BOOK_FIXTURES)
def test_best_levels_whatever_the_order(name: str, order: str) -> None:
    """Best bid = max bid price, best ask = min ask price, however the API orders the levels."""
    raw = load(name)
    # Independent expectation from the raw JSON text (plain json + Decimal, no code under test).
    plain = json.loads((FIXTURES / name).read_text())
    expected_best_bid = max(Decimal(level["price"]) for level in plain["bids"])
    expected_best_ask = min(Decimal(level["price"]) for level in plain["asks"])
    raw["bids"] = reorder(raw["bids"], order)
    raw["asks"] = reorder(raw["asks"], order)

    book = parse_book(raw)
    assert book.bids[0].price == expected_best_bid
    assert book.asks[0].price == expected_best_ask
    bid_prices = [level.price for level in book.bids]
    ask_prices = [level.price for level in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert len(book.bids) == len(plain["bids"]) and len(book.asks) == len(plain["asks"])
    assert sum(level.size for level in book.bids) == sum(Decimal(v["size"]) for v in plain["bids"])


def test_recorded_2024_book_fields() -> None:
    """The 2024 capture lacks tick_size/min_order_size/last_trade_price/neg_risk: they are None."""
    book = parse_book(load("clob_book_rest_2024.json"))
    assert book.token_id == (
        "23360939988679364027624185518382759743328544433592111535569478055890815567848"
    )
    assert book.condition_id == "0x1a4f04c2e6c000d9fc524eb12e7333217411a226c34745af140f195c0227cd5f"
    assert book.timestamp_ms == 1728799418260
    assert book.hash == "2fc4a3d6a98bc164e057589bcb74981852b87412"
    assert (book.tick_size, book.min_order_size, book.last_trade_price) == (None, None, None)
    assert book.neg_risk is False
    assert book.bids[0].price == Decimal("0.1") and book.bids[0].size == Decimal(125)
    assert book.asks[0].price == Decimal("0.14") and book.asks[0].size == Decimal(705)


def test_recorded_2026_book_fields() -> None:
    """The 2026 capture carries tick 0.001, min size 5, last trade 0.024 and neg_risk false."""
    book = parse_book(load("clob_book_rest_2026-10_many_levels.json"))
    assert book.tick_size == Decimal("0.001")
    assert book.min_order_size == Decimal(5)
    assert book.last_trade_price == Decimal("0.024")
    assert book.neg_risk is False
    assert book.timestamp_ms == 1791258810641
    assert (len(book.bids), len(book.asks)) == (23, 137)


def test_zero_size_levels_dropped() -> None:
    """Levels of size 0 (removed levels) do not appear in the book."""
    raw = load("clob_book_rest_2024.json")
    raw["bids"].append({"price": "0.5", "size": "0"})
    raw["asks"].append({"price": "0.11", "size": "0.000"})
    book = parse_book(raw)
    assert Decimal("0.5") not in {level.price for level in book.bids}
    assert book.asks[0].price == Decimal("0.14")


def test_empty_sides_allowed() -> None:
    """A book with no bids and no asks is valid (empty sides occur on live books)."""
    raw = load("clob_book_rest_2024.json")
    raw["bids"] = []
    raw["asks"] = []
    book = parse_book(raw)
    assert (book.bids, book.asks) == ((), ())


def corrupt(side: str, level: object) -> dict[str, Any]:
    """The 2024 book with one extra level on one side."""
    raw: dict[str, Any] = load("clob_book_rest_2024.json")
    raw[side].insert(2, level)
    return raw


def corrupt_literal(literal: str) -> dict[str, Any]:
    """The 2024 book with a bid level whose price is a raw JSON literal (NaN, Infinity...)."""
    raw = load("clob_book_rest_2024.json")
    raw["bids"].append({"price": "__LITERAL__", "size": "10"})
    book: dict[str, Any] = parse_json(json.dumps(raw).replace('"__LITERAL__"', literal))
    return book


CORRUPT_BOOKS: list[tuple[str, dict[str, Any], str]] = [
    ("nan_price_string", corrupt("bids", {"price": "NaN", "size": "10"}), "non_finite_number"),
    ("nan_price_literal", corrupt_literal("NaN"), "non_finite_number"),
    ("infinity_literal", corrupt_literal("Infinity"), "non_finite_number"),
    ("price_1e400", corrupt_literal("1e400"), "non_finite_number"),
    ("negative_price", corrupt("asks", {"price": "-0.01", "size": "10"}), "price_out_of_range"),
    ("price_above_one", corrupt("asks", {"price": "1.01", "size": "10"}), "price_out_of_range"),
    ("nan_size", corrupt("bids", {"price": "0.05", "size": "NaN"}), "non_finite_number"),
    ("infinite_size", corrupt("bids", {"price": "0.05", "size": "Infinity"}), "non_finite_number"),
    ("huge_size", corrupt("bids", {"price": "0.05", "size": "1e400"}), "non_finite_number"),
    ("negative_size", corrupt("asks", {"price": "0.9", "size": "-3"}), "bad_field:size"),
    ("garbage_size", corrupt("asks", {"price": "0.9", "size": "lots"}), "bad_field:size"),
    ("garbage_price", corrupt("asks", {"price": "abc", "size": "1"}), "bad_field:price"),
    ("bool_price", corrupt("asks", {"price": True, "size": "1"}), "bad_field:price"),
    ("level_missing_size", corrupt("bids", {"price": "0.05"}), "bad_field:bids"),
    ("level_not_object", corrupt("asks", ["0.9", "1"]), "bad_field:asks"),
    ("size_past_int64_micro", corrupt("bids", {"price": "0.05", "size": "1e13"}), "bad_field:size"),
    (
        "side_total_past_int64_micro",
        corrupt("asks", {"price": "0.5", "size": "999999999999"})
        | {"asks": [{"price": "0.5", "size": "999999999999"}] * 20},
        "bad_field:asks",
    ),
    ("five_decimal_price", corrupt("asks", {"price": "0.41235", "size": "10"}), "bad_field:price"),
]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason in CORRUPT_BOOKS],
    ids=[case_id for case_id, _, _ in CORRUPT_BOOKS],
)
def test_corrupt_level_rejects_whole_book(raw: dict[str, Any], reason: str) -> None:
    """One NaN, negative, >1 or garbage level rejects the whole book with a reason code."""
    with pytest.raises(ItemError) as caught:
        parse_book(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("asset_id", ..., "bad_field:asset_id"),
        (
            "asset_id",
            23360939988679364027624185518382759743328544433592111535569478055890815567848,
            "bad_field:asset_id",
        ),
        ("asset_id", "0xabc", "bad_field:asset_id"),
        ("market", None, "bad_field:market"),
        ("hash", 5, "bad_field:hash"),
        ("timestamp", "soon", "bad_field:timestamp"),
        ("timestamp", "1700000000000000", "bad_field:timestamp"),  # microseconds, not ms
        ("timestamp", ..., "bad_field:timestamp"),
        ("bids", None, "bad_field:bids"),
        ("asks", {"price": "0.5"}, "bad_field:asks"),
        ("tick_size", "0", "bad_field:tick_size"),
        ("min_order_size", "-5", "bad_field:min_order_size"),
        ("min_order_size", "1e20", "bad_field:min_order_size"),
        ("last_trade_price", "1.5", "price_out_of_range"),
        ("neg_risk", "false", "bad_field:neg_risk"),
    ],
)
def test_malformed_book_fields(field: str, value: object, reason: str) -> None:
    """Bad identity, timestamp or optional fields reject the book with the right reason."""
    raw = load("clob_book_rest_2026-10_many_levels.json")
    if value is ...:
        del raw[field]
    else:
        raw[field] = value
    with pytest.raises(ItemError) as caught:
        parse_book(raw)
    assert caught.value.reason == reason


def test_integer_timestamp_accepted() -> None:
    """An epoch-ms timestamp sent as a JSON integer is read like the usual string form."""
    raw = load("clob_book_rest_2024.json")
    raw["timestamp"] = 1728799418260
    assert parse_book(raw).timestamp_ms == 1728799418260


def test_parse_book_returns_book_type() -> None:
    """parse_book returns the shared Book model with Level tuples."""
    book = parse_book(load("clob_book_rest_2024.json"))
    assert isinstance(book, Book)
    assert isinstance(book.bids, tuple) and isinstance(book.asks, tuple)


@pytest.mark.parametrize(
    ("name", "condition_id", "winner_outcome"),
    [
        (
            "clob_market_closed_with_winner.json",
            "0x8ccc3f4951ff02c1d34b87988752b4444ad17228732780a6cf22afefe8478bb6",
            "No",
        ),
        (
            "clob_market_resolved_book_disabled_2026-08.json",
            "0x94a39addec8bd24a2d03deeaa43bdee6a2b11eca403cd12495eb24132cc23173",
            "Iga Swiatek",
        ),
    ],
)
def test_recorded_clob_markets(name: str, condition_id: str, winner_outcome: str) -> None:
    """Resolved CLOB market records parse with their winner token priced 1 and book disabled."""
    raw = load(name)
    market = parse_clob_market(raw)
    assert market.condition_id == condition_id
    assert market.closed is True
    assert market.accepting_orders is False
    assert market.enable_order_book is False
    assert market.is_50_50_outcome is False
    assert [t.token_id for t in market.tokens] == [t["token_id"] for t in raw["tokens"]]
    (winner,) = [t for t in market.tokens if t.winner]
    assert winner.outcome == winner_outcome
    assert winner.price == Decimal(1)
    assert {t.price for t in market.tokens if not t.winner} == {Decimal(0)}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: m.pop("condition_id"), "bad_field:condition_id"),
        (lambda m: m.__setitem__("tokens", None), "bad_field:tokens"),
        (lambda m: m["tokens"][0].__setitem__("token_id", 5), "bad_token_ids"),
        (lambda m: m["tokens"][0].__setitem__("price", "NaN"), "non_finite_number"),
        (lambda m: m["tokens"][0].__setitem__("winner", "yes"), "bad_field:winner"),
        (lambda m: m.__setitem__("closed", 1), "bad_field:closed"),
    ],
    ids=["no_condition", "no_tokens", "numeric_token", "nan_price", "winner_str", "closed_int"],
)
def test_malformed_clob_market(mutate: Any, reason: str) -> None:
    """A malformed CLOB market record raises ItemError with the reason code."""
    raw = load("clob_market_closed_with_winner.json")
    mutate(raw)
    with pytest.raises(ItemError) as caught:
        parse_clob_market(raw)
    assert caught.value.reason == reason
