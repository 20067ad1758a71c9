"""CLOB order books: decoding a POST /books reply and validating each book.

A book is all-or-nothing: one NaN, negative or out-of-range level rejects the whole book, because
we never trade on a corrupt book. Levels are sorted here (bids highest first, asks lowest first):
live books arrive best-LAST while the OpenAPI text says best-first, so the order is not trusted.

Two paths give the same books and the same rejections. `decode_books` splits a reply into items
and `decode_book_item` reads each with msgspec into typed structs (string prices and sizes, as the
CLOB sends them); `parse_book` then takes the fast path, which only returns when nothing is unusual
(every price text validated before, every size positive, distinct prices in either order).
Anything else (an unknown price text, a zero or bad size, equal prices to merge, a number where
text is usual, an item of another shape, NaN anywhere in the reply) goes through the general
validators below, which say exactly why a book is rejected. One bad book is rejected alone and
the rest of the reply is used.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, getcontext
from itertools import islice
from typing import Any, Final

import msgspec

from prescientd.core.prices import BookSide, merged_levels
from prescientd.models import Book, Level
from prescientd.polymarket.jsonsafe import (
    ONE,
    SIZE_LIMIT,
    ZERO,
    ItemError,
    is_digits,
    parse_json,
    to_bool,
    to_decimal,
    to_price,
    to_size,
)

__all__ = [
    "book_price",
    "book_timestamp_ms",
    "book_token_id",
    "decode_book_item",
    "decode_books",
    "parse_book",
]

# Prices come from a small set of tick multiples, so validated Decimals are memoised by their text;
# the fast path relies on it (a text not in here takes the general path, which adds it). Bounded
# so junk cannot grow it.
_PRICE_CACHE: dict[str, Decimal] = {}
_PRICE_CACHE_MAX: Final = 20_000
# Tick and minimum order sizes, memoised the same way.
_DECIMAL_CACHE: dict[str, Decimal] = {}
# epoch milliseconds; 14 digits reach the year 5138, more is not a millisecond timestamp
_TIMESTAMP_DIGITS: Final = 14
_TIMESTAMP_LIMIT: Final = 10**_TIMESTAMP_DIGITS


# -- the wire format ---------------------------------------------------------------------------


class _WireLevel(msgspec.Struct, gc=False):
    """One level as sent: decimal strings."""

    price: str
    size: str


class _WireBook(msgspec.Struct, gc=False):
    """One book as sent. Unknown keys are ignored; a missing or mistyped key fails the decode."""

    asset_id: str
    market: str
    hash: str
    timestamp: str | int
    bids: list[_WireLevel]
    asks: list[_WireLevel]
    tick_size: str | None = None
    min_order_size: str | None = None
    last_trade_price: str | None = None
    neg_risk: bool | None = None


_REPLY_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])
_BOOK_DECODER: Final = msgspec.json.Decoder(_WireBook)


def decode_books(data: bytes) -> Any:
    """Split a POST /books reply into its items, or decode it as plain JSON if it is not a list.

    Items are decoded one by one (`decode_book_item`), each just before it is parsed, so one odd
    item costs only itself. A body that is not valid JSON (NaN literals included) is decoded by
    `parse_json` as a whole: NaN and overflowing numbers stay text, for the item validators to
    reject. ValueError if the body is not JSON at all.
    """
    try:
        return _REPLY_DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return parse_json(data)


def decode_book_item(raw: object) -> object:
    """One reply item: typed when it has the usual shape, else plain JSON for the validators."""
    if not isinstance(raw, msgspec.Raw):
        return raw  # already plain JSON (the reply was decoded as a whole)
    try:
        return _BOOK_DECODER.decode(raw)
    except msgspec.DecodeError:  # ValidationError included: an item of another shape
        return parse_json(bytes(raw))


def book_token_id(item: object) -> str | None:
    """The asset id a decoded item names as text, if any (the item may still be corrupt)."""
    if isinstance(item, _WireBook):
        return item.asset_id
    token_id = item.get("asset_id") if isinstance(item, dict) else None
    return token_id if isinstance(token_id, str) else None


# -- the fast path -------------------------------------------------------------------------------


def _size_bound(n_levels: int) -> Decimal:
    """A size every level of an n-level side may reach with the side's total still in range."""
    if n_levels < len(_SIZE_BOUNDS):
        return _SIZE_BOUNDS[n_levels]
    return _HALF_SIZE_LIMIT / n_levels


_HALF_SIZE_LIMIT: Final = SIZE_LIMIT / 2
_SIZE_BOUNDS: Final = [SIZE_LIMIT, *(_HALF_SIZE_LIMIT / n for n in range(1, 1001))]


def _fast_levels(levels: list[_WireLevel], bids: bool) -> tuple[Level, ...] | None:
    """One side as `_sorted_levels` builds it, or None when the general path must decide.

    The same values: cached prices, and sizes rounded by the thread's context as the general
    path's `0 + size` rounds them (a size written with a positive exponent keeps it, "1E+2" for
    "100": an equal Decimal). None for anything that path would merge, drop, reorder by sorting
    or reject: an unknown price text, a size that is not above zero or is large enough for the
    side's total to need an exact sum, prices not strictly monotonic.
    """
    n_levels = len(levels)
    if n_levels == 0:
        return ()
    cache, create = _PRICE_CACHE, getcontext().create_decimal
    bound = _size_bound(n_levels)
    try:
        first = levels[0]
        first_price = cache[first.price]
        first_size = create(first.size)
        if not ZERO < first_size < bound:  # NaN raises
            return None
        if n_levels == 1:
            return (Level(first_price, first_size),)
        ascending = cache[levels[1].price] > first_price
        walked = _walk(levels, first_price, bound, ascending)
    except (KeyError, ArithmeticError):  # decimal's InvalidOperation and Overflow included
        return None
    if walked is None:
        return None
    walked[0] = Level(first_price, first_size)
    # Live books list bids ascending and asks descending (best last); the OpenAPI text says the
    # opposite. Either is taken, best first.
    if ascending is bids:
        walked.reverse()
    return tuple(walked)


def _walk(
    levels: list[_WireLevel], first_price: Decimal, bound: Decimal, ascending: bool
) -> list[Level] | None:
    """Levels 1.. of a side if strictly monotonic with sizes in (0, bound); slot 0 is left free.

    One plain loop per direction: cheaper per level than several passes of map().
    """
    cache, create = _PRICE_CACHE, getcontext().create_decimal
    out: list[Level] = [Level(first_price, ZERO)]
    append, previous = out.append, first_price
    if ascending:
        for level in islice(levels, 1, None):
            price = cache[level.price]
            size = create(level.size)
            if not (price > previous and ZERO < size < bound):
                return None
            previous = price
            append(Level(price, size))
    else:
        for level in islice(levels, 1, None):
            price = cache[level.price]
            size = create(level.size)
            if not (price < previous and ZERO < size < bound):
                return None
            previous = price
            append(Level(price, size))
    return out


def _fast_book(wire: _WireBook) -> Book | None:
    """The book `_general_book` would build from the same item, or None to let it decide."""
    token_id, stamp = wire.asset_id, wire.timestamp
    if not (token_id.isascii() and token_id.isdigit()):
        return None
    if type(stamp) is str and stamp.isascii() and stamp.isdigit():
        if len(stamp) > _TIMESTAMP_DIGITS:
            return None
        timestamp_ms = int(stamp)
    elif type(stamp) is int and 0 <= stamp < _TIMESTAMP_LIMIT:
        timestamp_ms = stamp
    else:
        return None
    # Optional decimals: absent, null and "" mean None; a text not validated before goes the
    # general way (which validates and caches it).
    tick_text, min_text, last_text = wire.tick_size, wire.min_order_size, wire.last_trade_price
    tick_size = _DECIMAL_CACHE.get(tick_text) if tick_text else None
    min_size = _DECIMAL_CACHE.get(min_text) if min_text else None
    last_trade = _PRICE_CACHE.get(last_text) if last_text else None
    if (tick_size is None and tick_text) or (min_size is None and min_text):
        return None
    if last_trade is None and last_text:
        return None
    if tick_size is not None and not ZERO < tick_size <= ONE:
        return None
    if min_size is not None and not ZERO <= min_size < SIZE_LIMIT:
        return None
    bids = _fast_levels(wire.bids, True)
    asks = _fast_levels(wire.asks, False)
    if bids is None or asks is None:
        return None
    return Book(
        token_id=token_id,
        condition_id=wire.market,
        bids=bids,
        asks=asks,
        timestamp_ms=timestamp_ms,
        hash=wire.hash,
        tick_size=tick_size,
        min_order_size=min_size,
        last_trade_price=last_trade,
        neg_risk=bool(wire.neg_risk),
    )


def _wire_as_json(wire: _WireBook) -> dict[str, Any]:
    """The item as the plain decode would have given it (the keys the validators read)."""
    raw = msgspec.structs.asdict(wire)
    raw["bids"] = [{"price": level.price, "size": level.size} for level in wire.bids]
    raw["asks"] = [{"price": level.price, "size": level.size} for level in wire.asks]
    return raw


def parse_book(raw: object) -> Book:
    """Validate one CLOB book (GET /book, a POST /books item); raise ItemError if corrupt."""
    if isinstance(raw, _WireBook):
        book = _fast_book(raw)
        return book if book is not None else _general_book(_wire_as_json(raw))
    return _general_book(raw)


# -- the general path ----------------------------------------------------------------------------


def _new_price(value: object, field: str = "price") -> Decimal:
    price = to_price(value, field)
    # Tick sizes go down to 0.0001: a finer price is not a real book price, and it would make
    # fills (0.01 share x price) inexact in the ledger's micro-dollars.
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ItemError(f"bad_field:{field}", f"{price} has more than 4 decimal places")
    if type(value) is str and len(_PRICE_CACHE) < _PRICE_CACHE_MAX:
        _PRICE_CACHE[value] = price
    return price


def _cached_price(value: object, field: str) -> Decimal:
    """to_price, memoised by text in the same cache as level prices."""
    found = _PRICE_CACHE.get(value) if type(value) is str else None
    return found if found is not None else _new_price(value, field)


def book_price(value: object, field: str) -> Decimal:
    """A validated book price (0..1, at most 4 decimals), memoised like the levels' prices."""
    return _cached_price(value, field)


def _level_error(raw: object, side: str) -> ItemError:
    """The precise reason a level failed the fast path (the slow validators raise it)."""
    if not isinstance(raw, dict) or "price" not in raw or "size" not in raw:
        return ItemError(f"bad_field:{side}", "a level is not a {price, size} object")
    try:
        to_price(raw["price"], "price")
        to_size(raw["size"], "size")
    except ItemError as exc:
        return exc
    return ItemError(f"bad_field:{side}", repr(raw)[:90])  # pragma: no cover


def _sorted_levels(raw: object, side: BookSide) -> tuple[Level, ...]:
    """Validate one side of a book, then sort it best first (the API's order is not trusted)."""
    if type(raw) is not list:
        raise ItemError(f"bad_field:{side}", "not a list")
    # Equal prices are merged while reading (same sums as sort_levels), so each Level is built
    # once, after sorting; building and then re-building them was a third of the parse time.
    sizes: dict[Decimal, Decimal] = {}
    cache = _PRICE_CACHE
    zero, limit, decimal = ZERO, SIZE_LIMIT, Decimal
    # Fast path for the usual decimal strings: one Decimal() per size and a chained comparison
    # against to_size's bounds (NaN raises InvalidOperation, Infinity and sizes the store could not
    # hold fail SIZE_LIMIT); anything odd goes to _level_error, which names the reason.
    for level in raw:
        try:
            price_text = level["price"]
            size_text = level["size"]
            price = cache.get(price_text) if type(price_text) is str else None
            if price is None:
                price = _new_price(price_text)
            size = decimal(size_text) if type(size_text) is str else to_size(size_text, "size")
            if not zero <= size < limit:
                raise _level_error(level, side)
        except (KeyError, TypeError, InvalidOperation):
            raise _level_error(level, side) from None
        sizes[price] = sizes.get(price, zero) + size
    # Whole-side totals (depth, merged levels) must fit the store's integers as well.
    if sum(sizes.values(), zero) >= limit:
        raise ItemError(f"bad_field:{side}", "total size out of range")
    return merged_levels(sizes, side)


def _optional(raw: dict[str, Any], field: str) -> Decimal | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    if type(value) is not str:
        return to_decimal(value, field)
    number = _DECIMAL_CACHE.get(value)
    if number is None:
        number = to_decimal(value, field)
        if len(_DECIMAL_CACHE) < _PRICE_CACHE_MAX:
            _DECIMAL_CACHE[value] = number
    return number


def book_timestamp_ms(value: object) -> int:
    """An epoch-millisecond timestamp (digit string or int); ItemError otherwise."""
    if isinstance(value, str) and is_digits(value) and len(value) <= _TIMESTAMP_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _TIMESTAMP_LIMIT:
        return value
    raise ItemError("bad_field:timestamp", repr(value)[:40])


def _general_book(raw: object) -> Book:
    """Validate one book given as plain JSON, naming the first problem found."""
    if not isinstance(raw, dict):
        raise ItemError("not_an_object", type(raw).__name__)
    token_id = raw.get("asset_id")
    if not isinstance(token_id, str) or not is_digits(token_id):
        raise ItemError("bad_field:asset_id", repr(token_id)[:90])
    condition_id = raw.get("market")
    if not isinstance(condition_id, str):
        raise ItemError("bad_field:market", repr(condition_id)[:90])
    book_hash = raw.get("hash")
    if not isinstance(book_hash, str):
        raise ItemError("bad_field:hash", repr(book_hash)[:90])
    timestamp_ms = book_timestamp_ms(raw.get("timestamp"))
    bids = _sorted_levels(raw.get("bids"), "bids")
    asks = _sorted_levels(raw.get("asks"), "asks")

    tick_size = _optional(raw, "tick_size")
    if tick_size is not None and not ZERO < tick_size <= ONE:
        raise ItemError("bad_field:tick_size", str(tick_size))
    min_order_size = _optional(raw, "min_order_size")
    if min_order_size is not None and not ZERO <= min_order_size < SIZE_LIMIT:
        raise ItemError("bad_field:min_order_size", f"{min_order_size} is out of range")
    last_trade = raw.get("last_trade_price")
    last_trade_price = (
        None if last_trade in (None, "") else _cached_price(last_trade, "last_trade_price")
    )
    return Book(
        token_id=token_id,
        condition_id=condition_id,
        bids=bids,
        asks=asks,
        timestamp_ms=timestamp_ms,
        hash=book_hash,
        tick_size=tick_size,
        min_order_size=min_order_size,
        last_trade_price=last_trade_price,
        neg_risk=to_bool(raw.get("neg_risk"), "neg_risk"),
    )
