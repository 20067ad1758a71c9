"""CLOB API: order books (POST /books in concurrent batches, GET /book) and CLOB market records.

A book is all-or-nothing: one NaN, negative or out-of-range level rejects the whole book, because
we never trade on a corrupt book. Levels are sorted here (bids highest first, asks lowest first):
live books arrive best-LAST while the OpenAPI text says best-first, so the order is not trusted.
Every record must be what was asked for: a book for a token not in the request, or a market
record of another condition or other tokens, is rejected and counted, never used. Per-item
problems are logged for the first few items and then summarized in one line.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import quote

import structlog

from prescientd.core.prices import BookSide, merged_levels
from prescientd.logs import ItemProblems
from prescientd.models import Book, ClobMarket, ClobToken, Level
from prescientd.polymarket.http import FetchError, HostClient
from prescientd.polymarket.jsonsafe import (
    ONE,
    SIZE_LIMIT,
    ZERO,
    ItemError,
    RecordMismatch,
    check_item,
    is_digits,
    replied_items_cap,
    same_id,
    to_bool,
    to_decimal,
    to_price,
    to_size,
    to_str,
)

__all__ = [
    "BooksFetch",
    "ClobClient",
    "FetchError",
    "ItemError",
    "RecordMismatch",
    "parse_book",
    "parse_clob_market",
]

log = structlog.get_logger(__name__)

MAX_BOOKS_PER_REQUEST: Final = 500  # POST /books answers 400 "Payload exceeds the limit" above 500

# Prices come from a small set of tick multiples, so validated Decimals are memoised by their text;
# this roughly halves the cost of parsing a large batch of books. Bounded so junk cannot grow it.
_PRICE_CACHE: dict[str, Decimal] = {}
_PRICE_CACHE_MAX: Final = 20_000
# Tick and minimum order sizes, memoised the same way.
_DECIMAL_CACHE: dict[str, Decimal] = {}


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
    # _cached_price inlined: the stream calls this three times per price_change entry
    found = _PRICE_CACHE.get(value) if type(value) is str else None
    return found if found is not None else _new_price(value, field)


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


def _optional(raw: Mapping[str, Any], field: str) -> Decimal | None:
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
    return _timestamp_ms(value)


def _timestamp_ms(value: object) -> int:
    # epoch milliseconds; 14 digits reach the year 5138, more is not a millisecond timestamp
    if isinstance(value, str) and is_digits(value) and len(value) <= 14:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**14:
        return value
    raise ItemError("bad_field:timestamp", repr(value)[:40])


def parse_book(raw: object) -> Book:
    """Validate one CLOB book object (GET /book, POST /books item); raise ItemError if corrupt."""
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
    timestamp_ms = _timestamp_ms(raw.get("timestamp"))
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


def _clob_token(raw: object) -> ClobToken:
    if not isinstance(raw, dict):
        raise ItemError("bad_field:tokens", "a token is not an object")
    token_id = raw.get("token_id")
    if not isinstance(token_id, str) or not is_digits(token_id):
        raise ItemError("bad_token_ids", repr(token_id)[:90])
    price_raw = raw.get("price")
    winner = raw.get("winner")
    if winner is not None and not isinstance(winner, bool):
        raise ItemError("bad_field:winner", repr(winner)[:40])
    return ClobToken(
        token_id=token_id,
        outcome=to_str(raw.get("outcome"), "outcome"),
        price=None if price_raw is None else to_price(price_raw, "tokens.price"),
        winner=winner,
    )


def parse_clob_market(raw: object) -> ClobMarket:
    """Validate a CLOB market record (GET /markets/{conditionId}); raise ItemError if malformed."""
    if not isinstance(raw, dict):
        raise ItemError("not_an_object", type(raw).__name__)
    check_item(raw, None)
    condition_id = to_str(raw.get("condition_id"), "condition_id")
    if not condition_id:
        raise ItemError("bad_field:condition_id", "missing")
    tokens = raw.get("tokens")
    if not isinstance(tokens, list):
        raise ItemError("bad_field:tokens", "not a list")
    return ClobMarket(
        condition_id=condition_id,
        closed=to_bool(raw.get("closed"), "closed"),
        accepting_orders=to_bool(raw.get("accepting_orders"), "accepting_orders"),
        enable_order_book=to_bool(raw.get("enable_order_book"), "enable_order_book"),
        is_50_50_outcome=to_bool(raw.get("is_50_50_outcome"), "is_50_50_outcome"),
        tokens=tuple(_clob_token(token) for token in tokens),
    )


class _GcPause:
    """A reentrant pause of the cyclic GC: collection resumes when the last holder leaves."""

    def __init__(self) -> None:
        self._holders = 0
        self._restore = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._holders == 0:
            self._restore = gc.isenabled()
            gc.disable()
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0 and self._restore:
                gc.enable()


# A 10,000-token fetch decodes ~10 MB of JSON and builds ~200k Levels. Left on, the cyclic GC ran
# some 30 young and 3 full collections over that growing heap, a third of the fetch's CPU time;
# none of it frees anything (the replies and books hold no cycles). It is paused for the fetch
# (awaits included; other tasks' reference-counted garbage is still freed at once) and collects
# as usual afterwards. Reentrant, so overlapping fetches resume it only when the last one ends.
_gc_paused = _GcPause()


@dataclass(frozen=True, slots=True)
class _BatchBooks:
    """The books parsed from one POST /books reply."""

    books: dict[str, Book]
    rejected: Counter[str]
    rejected_tokens: set[str]


def _parse_reply(reply: list[Any], asked: frozenset[str], problems: ItemProblems) -> _BatchBooks:
    """Parse one reply; books not asked for and corrupt ones are rejected and counted by reason."""
    books: dict[str, Book] = {}
    rejected: Counter[str] = Counter()
    rejected_tokens: set[str] = set()
    cap = replied_items_cap(len(asked))
    if len(reply) > cap:
        rejected["excess_items"] += len(reply) - cap
        problems.add(None, "excess_items", count=len(reply) - cap, items=len(reply), kept=cap)
        reply = reply[:cap]
    for raw in reply:
        token_id = raw.get("asset_id") if isinstance(raw, dict) else None
        shown = token_id if isinstance(token_id, str) else None
        if shown is not None and token_id not in asked:
            # never let a book for another token stand in for a requested one
            rejected["unrequested_asset"] += 1
            problems.add(shown, "unrequested_asset")
            continue
        try:
            book = parse_book(raw)
        except ItemError as exc:
            rejected[exc.reason] += 1
            if shown is not None:
                rejected_tokens.add(shown)
            problems.add(shown, exc.reason)
            continue
        books.setdefault(book.token_id, book)
    return _BatchBooks(books, rejected, rejected_tokens)


@dataclass(frozen=True, slots=True)
class BooksFetch:
    """The books for a set of tokens; absent and rejected tokens are reported, not raised."""

    books: Mapping[str, Book]
    missing: frozenset[str]
    rejected: Mapping[str, int]
    rejected_tokens: frozenset[str]
    requests: int


class ClobClient:
    """CLOB reads: books in batches, single books, CLOB market records."""

    def __init__(self, http: HostClient, *, books_per_request: int = MAX_BOOKS_PER_REQUEST) -> None:
        if not 1 <= books_per_request <= MAX_BOOKS_PER_REQUEST:
            raise ValueError(f"books_per_request must be 1..{MAX_BOOKS_PER_REQUEST}")
        self._http = http
        self._books_per_request = books_per_request

    async def fetch_books(self, token_ids: Sequence[str]) -> BooksFetch:
        """Books of all tokens via concurrent POST /books batches; FetchError if any batch fails."""
        wanted = list(dict.fromkeys(token_ids))
        wanted_set = frozenset(wanted)
        size = self._books_per_request
        batches = [wanted[start : start + size] for start in range(0, len(wanted), size)]
        problems = ItemProblems("clob_book_rejected")
        with _gc_paused():
            tasks = [asyncio.create_task(self._fetch_batch(batch, problems)) for batch in batches]
            try:
                parsed = await asyncio.gather(*tasks)
            except BaseException:
                # One failed batch fails the fetch; do not leave the others running.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

        # Merged in batch order, so the result does not depend on which reply came first.
        books: dict[str, Book] = {}
        rejected: Counter[str] = Counter()
        rejected_tokens: set[str] = set()
        for batch in parsed:
            for token_id, book in batch.books.items():
                books.setdefault(token_id, book)
            rejected.update(batch.rejected)
            rejected_tokens.update(batch.rejected_tokens)
        problems.summarize(requested=len(wanted))
        # A token that came back twice, once valid and once not, counts as valid.
        rejected_tokens.difference_update(books)
        missing = wanted_set.difference(books, rejected_tokens)
        log.debug(
            "clob_books_fetched",
            requested=len(wanted),
            books=len(books),
            missing=len(missing),
            rejected=sum(rejected.values()),
            requests=len(batches),
        )
        return BooksFetch(
            books=books,
            missing=frozenset(missing),
            rejected=dict(rejected),
            rejected_tokens=frozenset(rejected_tokens),
            requests=len(batches),
        )

    async def _fetch_batch(self, batch: list[str], problems: ItemProblems) -> _BatchBooks:
        """POST one batch and parse its reply as soon as it arrives.

        Parsing here rather than after the last reply overlaps it with the other requests still
        in flight (the server is preparing them meanwhile), which shortens a large poll.
        """
        reply = await self._post_batch(batch)
        return _parse_reply(reply, frozenset(batch), problems)

    async def _post_batch(self, batch: list[str]) -> list[Any]:
        reply = await self._http.post_json("/books", [{"token_id": token} for token in batch])
        if not isinstance(reply, list):
            http = self._http
            raise FetchError(
                f"POST {http.base_url}/books returned a {type(reply).__name__}, not a list",
                host=http.host,
                method="POST",
                path="/books",
                status=200,
                attempts=1,
                transient=False,
            )
        return reply

    async def fetch_book(self, token_id: str) -> Book | None:
        """One book via GET /book; None on 404 (unknown/closed/resolving); ItemError if corrupt.

        RecordMismatch when the book is another token's.
        """
        raw = await self._http.get_json("/book", {"token_id": token_id}, not_found_ok=True)
        if raw is None:
            return None
        book = parse_book(raw)
        if book.token_id != token_id:
            raise RecordMismatch(f"GET /book?token_id={token_id} returned {book.token_id}'s book")
        return book

    async def fetch_market(
        self, condition_id: str, *, token_ids: Sequence[str] | None = None
    ) -> ClobMarket | None:
        """The CLOB market record (GET /markets/{conditionId}); None on 404.

        RecordMismatch when it is another condition's record, or (given token_ids) its tokens
        are not exactly those.
        """
        raw = await self._http.get_json(
            f"/markets/{quote(condition_id, safe='')}", not_found_ok=True
        )
        if raw is None:
            return None
        market = parse_clob_market(raw)
        if not same_id(market.condition_id, condition_id):
            raise RecordMismatch(
                f"GET /markets/{condition_id} returned condition {market.condition_id}"
            )
        got = {token.token_id for token in market.tokens}
        if token_ids is not None and got != set(token_ids):
            raise RecordMismatch(
                f"GET /markets/{condition_id}: its tokens differ from the stored market's"
            )
        return market
