"""CLOB API: order books (POST /books in concurrent batches, GET /book) and CLOB market records.

Books are decoded (msgspec) and validated in polymarket/books.py: a book is all-or-nothing, one
NaN, negative or out-of-range level rejects the whole book, because we never trade on a corrupt
book; levels are sorted there (the API's order is not trusted). Every record must be what was
asked for: a book for a token not in the request, or a market record of another condition or other
tokens, is rejected and counted, never used. Per-item problems are logged for the first few items
and then summarized in one line.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import structlog

from prescientd.logs import ItemProblems
from prescientd.models import Book, ClobMarket, ClobToken
from prescientd.polymarket.books import (
    book_price,
    book_timestamp_ms,
    book_token_id,
    decode_book_item,
    decode_books,
    parse_book,
)
from prescientd.polymarket.http import FetchError, HostClient
from prescientd.polymarket.jsonsafe import (
    ItemError,
    RecordMismatch,
    check_item,
    is_digits,
    replied_items_cap,
    same_id,
    to_bool,
    to_price,
    to_str,
)

__all__ = [
    "BooksFetch",
    "ClobClient",
    "FetchError",
    "ItemError",
    "RecordMismatch",
    "book_price",
    "book_timestamp_ms",
    "parse_book",
    "parse_clob_market",
]

log = structlog.get_logger(__name__)

MAX_BOOKS_PER_REQUEST: Final = 500  # POST /books answers 400 "Payload exceeds the limit" above 500


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


# Replies are parsed off the event loop, one at a time, in this one thread: a 500-book reply of
# 160-level books takes ~45 ms, long enough to delay every other task (the watchdog, the HTTP
# server); several threads would only take turns holding the GIL (measured: no faster, and the
# loop waits longer for it). tests/bench/bench_parse.py has the figures.
_PARSE_THREAD: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prescientd-books")


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
    for item in reply:
        raw = decode_book_item(item)
        shown = book_token_id(raw)
        if shown is not None and shown not in asked:
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
        in flight (the server is preparing them meanwhile), which shortens a large poll. It runs
        in the parse thread, so the event loop stays responsive meanwhile.
        """
        reply = await self._post_batch(batch)
        # in the parse thread (the event loop stays responsive), with this task's log context
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(
            _PARSE_THREAD, context.run, _parse_reply, reply, frozenset(batch), problems
        )

    async def _post_batch(self, batch: list[str]) -> list[Any]:
        body = [{"token_id": token} for token in batch]
        reply = await self._http.post_json("/books", body, decode=decode_books)
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
