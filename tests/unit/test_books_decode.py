"""POST /books replies through the typed decoder: the same books and rejections as validators."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prescientd.logs import ItemProblems
from prescientd.models import Book
from prescientd.polymarket import books
from prescientd.polymarket.books import (
    book_token_id,
    decode_book_item,
    decode_books,
    parse_book,
)
from prescientd.polymarket.clob import _parse_reply
from prescientd.polymarket.jsonsafe import ItemError, parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
BOOK_FIXTURES = ["clob_book_rest_2024.json", "clob_book_rest_2026-10_many_levels.json"]
Outcome = Book | str  # a book, or the reason it was rejected


def plain_outcomes(body: bytes) -> list[Outcome]:
    """Each item of a reply through the plain decode and the general validators (the reference)."""
    out: list[Outcome] = []
    for item in parse_json(body):
        try:
            out.append(books._general_book(item))
        except ItemError as exc:
            out.append(exc.reason)
    return out


def wire_outcomes(body: bytes) -> list[Outcome]:
    """Each item of a reply the way ClobClient reads it (typed decode, fast path when usual)."""
    out: list[Outcome] = []
    for item in decode_books(body):
        try:
            out.append(parse_book(decode_book_item(item)))
        except ItemError as exc:
            out.append(exc.reason)
    return out


def fixture_text(name: str) -> str:
    """A recorded book's JSON text."""
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize("name", BOOK_FIXTURES)
def test_recorded_book_same_on_both_paths(name: str) -> None:
    """A recorded book decodes to the same Book through the typed decoder, cold and warm cache."""
    books._PRICE_CACHE.clear()
    books._DECIMAL_CACHE.clear()
    body = f"[{fixture_text(name)}]".encode()
    cold = wire_outcomes(body)
    reference = plain_outcomes(body)
    warm = wire_outcomes(body)
    assert cold == reference == warm
    assert isinstance(reference[0], Book)
    assert len(reference[0].bids) == len(json.loads(fixture_text(name))["bids"])


@pytest.mark.parametrize("name", BOOK_FIXTURES)
def test_recorded_book_takes_the_fast_path_once_prices_are_known(name: str) -> None:
    """After one general parse has validated its price texts, a usual book skips the validators."""
    body = f"[{fixture_text(name)}]".encode()
    plain_outcomes(body)
    (item,) = decode_books(body)
    wire = decode_book_item(item)
    assert isinstance(wire, books._WireBook)
    assert books._fast_book(wire) == books._general_book(parse_json(body)[0])


@pytest.mark.parametrize("order", ["recorded", "reversed", "shuffled"])
def test_level_order_does_not_matter(order: str) -> None:
    """Best-last (live), best-first (OpenAPI) and shuffled sides give the same sorted book."""
    raw = json.loads(fixture_text("clob_book_rest_2026-10_many_levels.json"))
    for side in ("bids", "asks"):
        if order == "reversed":
            raw[side].reverse()
        elif order == "shuffled":
            random.Random(3).shuffle(raw[side])
    body = json.dumps([raw]).encode()
    plain_outcomes(body)  # warm the price cache so the fast path is tried
    (book,) = wire_outcomes(body)
    assert isinstance(book, Book)
    assert [level.price for level in book.bids] == sorted(
        (Decimal(level["price"]) for level in raw["bids"]), reverse=True
    )
    assert [level.price for level in book.asks] == sorted(
        Decimal(level["price"]) for level in raw["asks"]
    )
    assert [book] == plain_outcomes(body)


def with_level(side: str, price: str, size: str) -> str:
    """The 2024 book with one extra level, as JSON text (values spliced in verbatim)."""
    raw = json.loads(fixture_text("clob_book_rest_2024.json"))
    raw[side].insert(2, {"price": "__P__", "size": "__S__"})
    return json.dumps(raw).replace('"__P__"', price).replace('"__S__"', size)


def with_field(field: str, value: str) -> str:
    """The 2026 book with one top-level field replaced by raw JSON text (or removed)."""
    raw = json.loads(fixture_text("clob_book_rest_2026-10_many_levels.json"))
    raw[field] = "__V__"
    text = json.dumps(raw)
    if value == "<absent>":
        return text.replace(f'"{field}": "__V__", ', "").replace(f', "{field}": "__V__"', "")
    return text.replace('"__V__"', value)


CORRUPT_ITEMS: list[tuple[str, str, str]] = [
    ("nan_price_string", with_level("bids", '"NaN"', '"10"'), "non_finite_number"),
    ("infinity_price_string", with_level("bids", '"Infinity"', '"10"'), "non_finite_number"),
    ("negative_price", with_level("asks", '"-0.01"', '"10"'), "price_out_of_range"),
    ("price_above_one", with_level("asks", '"1.01"', '"10"'), "price_out_of_range"),
    ("five_decimal_price", with_level("asks", '"0.41235"', '"10"'), "bad_field:price"),
    ("garbage_price", with_level("asks", '"abc"', '"1"'), "bad_field:price"),
    ("underscore_price", with_level("asks", '"0.2_5"', '"1"'), "bad_field:price"),
    ("bool_price", with_level("asks", "true", '"1"'), "bad_field:price"),
    ("null_price", with_level("asks", "null", '"1"'), "bad_field:price"),
    ("object_price", with_level("asks", '{"v": 1}', '"1"'), "bad_field:price"),
    ("nan_size", with_level("bids", '"0.05"', '"NaN"'), "non_finite_number"),
    ("infinite_size", with_level("bids", '"0.05"', '"Infinity"'), "non_finite_number"),
    ("huge_size_text", with_level("bids", '"0.05"', '"1e400"'), "non_finite_number"),
    ("negative_size", with_level("asks", '"0.9"', '"-3"'), "bad_field:size"),
    ("garbage_size", with_level("asks", '"0.9"', '"lots"'), "bad_field:size"),
    ("size_past_int64_micro", with_level("bids", '"0.05"', '"1e13"'), "bad_field:size"),
    (
        "level_not_object",
        with_level("asks", '"0.9"', '"1"').replace('{"price": "0.9", "size": "1"}', '["0.9", "1"]'),
        "bad_field:asks",
    ),
    ("asset_id_number", with_field("asset_id", "123"), "bad_field:asset_id"),
    ("asset_id_hex", with_field("asset_id", '"0xabc"'), "bad_field:asset_id"),
    ("market_missing", with_field("market", "<absent>"), "bad_field:market"),
    ("hash_number", with_field("hash", "5"), "bad_field:hash"),
    (
        "timestamp_microseconds",
        with_field("timestamp", '"1700000000000000"'),
        "bad_field:timestamp",
    ),
    ("timestamp_int_too_big", with_field("timestamp", "100000000000000"), "bad_field:timestamp"),
    ("timestamp_bool", with_field("timestamp", "true"), "bad_field:timestamp"),
    ("timestamp_float", with_field("timestamp", "1.7e12"), "bad_field:timestamp"),
    ("bids_missing", with_field("bids", "<absent>"), "bad_field:bids"),
    ("asks_object", with_field("asks", '{"price": "0.5"}'), "bad_field:asks"),
    ("tick_size_zero", with_field("tick_size", '"0"'), "bad_field:tick_size"),
    ("min_order_size_negative", with_field("min_order_size", '"-5"'), "bad_field:min_order_size"),
    ("min_order_size_huge", with_field("min_order_size", '"1e20"'), "bad_field:min_order_size"),
    ("last_trade_above_one", with_field("last_trade_price", '"1.5"'), "price_out_of_range"),
    ("neg_risk_text", with_field("neg_risk", '"false"'), "bad_field:neg_risk"),
]


@pytest.mark.parametrize(
    ("item", "reason"),
    [(item, reason) for _, item, reason in CORRUPT_ITEMS],
    ids=[case for case, _, _ in CORRUPT_ITEMS],
)
def test_corrupt_item_rejected_alone_with_its_reason(item: str, reason: str) -> None:
    """One corrupt book between good ones is rejected with its reason; the others are kept."""
    good = fixture_text("clob_book_rest_2024.json")
    body = f"[{good},{item},{good}]".encode()
    plain_outcomes(body)  # warm the caches: the corrupt item must still fail on the fast side
    outcomes = wire_outcomes(body)
    assert outcomes[1] == reason
    assert isinstance(outcomes[0], Book) and outcomes[0] == outcomes[2]
    assert outcomes == plain_outcomes(body)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_literal_rejects_only_its_book(literal: str) -> None:
    """A NaN/Infinity/1e400 JSON literal (not valid JSON) fails one book, not the whole reply."""
    good = fixture_text("clob_book_rest_2024.json")
    bad = with_level("bids", literal, '"10"')
    body = f"[{good},{bad}]".encode()
    outcomes = wire_outcomes(body)
    assert outcomes[1] == "non_finite_number"
    assert isinstance(outcomes[0], Book)
    assert outcomes == plain_outcomes(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": "Too Many Requests"}', {"error": "Too Many Requests"}),
        (b"[]", []),
        (b'"text"', "text"),
    ],
)
def test_reply_that_is_not_a_list_of_books_decodes_as_plain_json(
    body: bytes, expected: Any
) -> None:
    """An error body (or any non-list) comes back as plain JSON, for the HTTP edge to judge."""
    decoded = decode_books(body)
    assert (
        [decode_book_item(item) for item in decoded] == expected
        if isinstance(expected, list)
        else decoded == expected
    )


def test_deep_nesting_rejects_only_its_item() -> None:
    """An item nested 100,000 deep never raises RecursionError and never costs the reply: the
    good book is kept, the deep item rejected and counted (issue 10: per item)."""
    good = fixture_text("clob_book_rest_2024.json")
    token = json.loads(good)["asset_id"]
    deep = '{"asset_id":"5","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    body = ("[" + good + "," + deep + "]").encode()
    items = decode_books(body)
    assert len(items) == 2 and len(parse_json(body)) == 2
    parsed = _parse_reply(items, frozenset({token, "5"}), ItemProblems("clob_book_rejected"))
    assert set(parsed.books) == {token}
    assert parsed.rejected_tokens == {"5"} and sum(parsed.rejected.values()) == 1


def test_non_list_items_and_unknown_keys() -> None:
    """Items that are not objects are rejected; unknown keys are ignored on both paths."""
    good = json.loads(fixture_text("clob_book_rest_2024.json"))
    good["extra"] = {"nested": [1, 2, {"deep": None}]}
    body = json.dumps([good, 7, None, "book"]).encode()
    outcomes = wire_outcomes(body)
    assert isinstance(outcomes[0], Book)
    assert outcomes[1:] == ["not_an_object"] * 3
    assert outcomes == plain_outcomes(body)


@pytest.mark.parametrize("side", ["bids", "asks"])
@pytest.mark.parametrize("size", ['"0"', '"0.000"', '"-0"'])
def test_zero_size_level_dropped_on_the_typed_path(side: str, size: str) -> None:
    """A zero-size level inside an otherwise usual, sorted side is dropped, not kept."""
    raw = json.loads(fixture_text("clob_book_rest_2026-10_many_levels.json"))
    body = json.dumps([raw]).encode()
    plain_outcomes(body)  # warm the price cache
    zero_price = raw[side][5]["price"]
    zeroed = body.decode().replace(
        json.dumps(raw[side][5]), f'{{"price": "{zero_price}", "size": {size}}}'
    )
    (book,) = wire_outcomes(zeroed.encode())
    assert isinstance(book, Book)
    assert Decimal(zero_price) not in {level.price for level in getattr(book, side)}
    assert len(getattr(book, side)) == len(raw[side]) - 1
    assert [book] == plain_outcomes(zeroed.encode())


@pytest.mark.parametrize("side", ["bids", "asks"])
@pytest.mark.parametrize(
    "size", ["0.1234567890123456789012345678901", "1E+2", "1_000", " 7 ", "5.000", "1e-1000000"]
)
def test_unusual_size_text_reads_as_the_validators_read_it(side: str, size: str) -> None:
    """Long, exponent, underscore and padded size texts give the validators' values.

    The text form is the same too, except that a size written with a positive exponent keeps it
    ("1E+2") where the validators' `0 + size` writes "100": equal Decimals either way.
    """
    raw = json.loads(fixture_text("clob_book_rest_2026-10_many_levels.json"))
    raw[side][7]["size"] = size
    body = json.dumps([raw]).encode()
    plain_outcomes(body)  # warm the price cache
    (book,) = wire_outcomes(body)
    assert isinstance(book, Book)
    (reference,) = plain_outcomes(body)
    assert book == reference
    if "E+" not in size:
        assert [str(level.size) for level in getattr(book, side)] == [
            str(level.size) for level in getattr(reference, side)
        ]


@pytest.mark.parametrize("price", ["same", "equal_value"])
def test_equal_prices_merged_on_the_typed_path(price: str) -> None:
    """Two levels at one price (same text or equal value) are merged into one, sizes summed."""
    raw = json.loads(fixture_text("clob_book_rest_2026-10_many_levels.json"))
    first = raw["bids"][3]
    twin_price = first["price"] if price == "same" else first["price"] + "0"
    raw["bids"].insert(4, {"price": twin_price, "size": "7"})
    body = json.dumps([raw]).encode()
    plain_outcomes(body)  # warm the price cache
    (book,) = wire_outcomes(body)
    assert isinstance(book, Book)
    (merged,) = [level for level in book.bids if level.price == Decimal(first["price"])]
    assert merged.size == Decimal(first["size"]) + 7
    assert [book] == plain_outcomes(body)


def test_duplicate_keys_last_one_wins_on_both_paths() -> None:
    """A key given twice takes its last value, as json.loads does."""
    text = fixture_text("clob_book_rest_2024.json")
    body = ("[" + text.rstrip()[:-1] + ',"hash":"' + "f" * 40 + '"}]').encode()
    (wire,) = wire_outcomes(body)
    assert isinstance(wire, Book) and wire.hash == "f" * 40
    assert [wire] == plain_outcomes(body)


def test_book_token_id_of_typed_plain_and_odd_items() -> None:
    """book_token_id names the asset id of typed and plain items, None when it is not text."""
    body = f"[{fixture_text('clob_book_rest_2024.json')}]".encode()
    (item,) = decode_books(body)
    typed = decode_book_item(item)
    expected = json.loads(body)[0]["asset_id"]
    assert book_token_id(typed) == expected
    assert book_token_id({"asset_id": expected}) == expected
    assert book_token_id({"asset_id": 5}) is None
    assert book_token_id([1]) is None


def test_parse_reply_keeps_wanted_good_books_and_counts_rejections() -> None:
    """_parse_reply on a typed reply: wanted books kept, an unasked one and the bad one counted."""
    raw = json.loads(fixture_text("clob_book_rest_2024.json"))
    items = []
    for n in range(4):
        item = dict(raw, asset_id=str(1000 + n))
        items.append(item)
    items[2] = dict(items[2], bids=[{"price": "NaN", "size": "1"}])
    body = json.dumps(items).encode()
    wanted = frozenset({"1000", "1001", "1002"})
    parsed = _parse_reply(decode_books(body), wanted, ItemProblems("clob_book_rejected"))
    assert set(parsed.books) == {"1000", "1001"}
    assert dict(parsed.rejected) == {"non_finite_number": 1, "unrequested_asset": 1}
    assert parsed.rejected_tokens == {"1002"}


# -- property: the typed path agrees with the validators on generated replies -------------------

PRICES = ["0.5", "0.50", "0.01", "0.001", "0.0025", "0.999", "1", "0", "-0", " 0.4", "0.00001",
          "1.5", "-0.2", "NaN", "sNaN", "Infinity", "1e-2", "0.4_5", "", "x"]  # fmt: skip
SIZES = ["10", "5.5", "0", "0.000", "-0", "-1", "250000", "1e2", "1E+2", "1_000", "NaN",
         "Infinity", "1e13", "999999999999", "500000000000", "0.1234567890123456789012345678901",
         "1e-1000000", "1e999999999", " 7 ", "", "lots"]  # fmt: skip
JSON_ODD = ["0.5", "1", "10", "1e2", "true", "null", "[]", "NaN", "1e400"]


@st.composite
def reply_text(draw: st.DrawFn) -> str:
    """A one-book reply: mostly usual levels, sometimes odd values, orders and header fields."""

    def value(texts: list[str]) -> str:
        if draw(st.integers(0, 9)) == 0:
            return draw(st.sampled_from(JSON_ODD))
        return json.dumps(draw(st.sampled_from(texts)))

    def usual_side() -> list[str]:
        # distinct tick prices in live (ascending), OpenAPI (descending) or shuffled order, maybe
        # one price twice and one odd size: the fast path's candidates and its near misses
        units = draw(st.lists(st.integers(1, 999), min_size=1, max_size=8, unique=True))
        order = draw(st.sampled_from(["ascending", "descending"] * 2 + ["shuffled"]))
        if order != "shuffled":
            units.sort(reverse=order == "descending")
        if draw(st.integers(0, 7)) == 0:
            twin = draw(st.integers(0, len(units) - 1))
            units.insert(twin, units[twin])
        sizes = [json.dumps(draw(st.sampled_from(SIZES[:2]))) for _ in units]
        if draw(st.integers(0, 2)) == 0:
            odd = draw(st.sampled_from(SIZES[2:]))
            sizes[draw(st.integers(0, len(sizes) - 1))] = json.dumps(odd)
        return [
            f'{{"price":"{u / 1000:g}","size":{size}}}'
            for u, size in zip(units, sizes, strict=True)
        ]

    def side() -> str:
        if draw(st.integers(0, 7)) > 0:
            levels = usual_side()
        else:
            n = draw(st.integers(0, 6))
            levels = [f'{{"price":{value(PRICES)},"size":{value(SIZES)}}}' for _ in range(n)]
        return "[" + ",".join(levels) + "]"

    def field(usual: list[str], odd: list[str]) -> str:
        # one field in sixteen is odd, so most generated books reach the fast path
        return draw(st.sampled_from(odd if draw(st.integers(0, 15)) == 0 else usual))

    timestamp = field(['"1791258810641"', "1791258810641"],
                      ['"17912588106410"', '"179125881064100"', '"12a"', "-1", "null"])  # fmt: skip
    tick = field(['"0.01"', '"0.001"', '""', "null"], ['"0"', '"2"', "0.01"])
    last = field(['"0.43"', '"0.430"', '""', "null"], ['"1.5"', "0.43"])
    neg = field(["true", "false", "null"], ['"no"'])
    asset = field(['"123"'], ['"12a"', "123", '""'])
    return (
        f'[{{"market":"0xabc","asset_id":{asset},"timestamp":{timestamp},"hash":"h",'
        f'"bids":{side()},"asks":{side()},"min_order_size":"5","tick_size":{tick},'
        f'"neg_risk":{neg},"last_trade_price":{last}}}]'
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply_text())
def test_typed_path_agrees_with_validators(text: str) -> None:
    """For any generated reply, cold or warm caches: the same Book or the same rejection reason."""
    body = text.encode()
    cold = wire_outcomes(body)
    reference = plain_outcomes(body)
    warm = wire_outcomes(body)
    assert cold == reference == warm
