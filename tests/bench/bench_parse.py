"""Benchmark for issue 12 (faster parsing): per-book cost of decoding and validating POST /books.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_parse.py [--repeat 7] [--books 500] [--no-loop]

Prints, side by side for the recorded 160-level book
(tests/fixtures/polymarket/clob_book_rest_2026-10_many_levels.json) and a 20-level book (the same
book cut to its 10 best levels a side, the size of the simulator's books), the cost per book of:

- before: the parser as it was on main before this change (stdlib json with NaN-keeping hooks, then
  the dict validators building frozen-dataclass Levels), copied below as `legacy_*`;
- candidates: orjson (when installed) and msgspec's untyped decode, each feeding today's dict
  validators (`books._general_book`), and msgspec's typed decode alone;
- after: what ClobClient does now (`decode_books` + `decode_book_item` + `parse_book`: msgspec
  into typed structs, then the fast path).

Each figure is the best of --repeat runs of one reply of --books books (distinct asset ids), divided
by the number of books, with the cyclic GC paused as `fetch_books` pauses it. The replies are
checked to give equal books before anything is timed.

Then (unless --no-loop) the event loop question: 24 replies fetched 8 at a time (as `fetch_books`
with max_concurrent_requests = 8), each arriving 10 ms after its request, decoded on the loop and
parsed on the loop, in `asyncio.to_thread` (the default executor's threads) or in one dedicated
thread, while a 1 ms ticker records how late the loop runs it: wall time, worst and p99 lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from prescientd.logs import ItemProblems
from prescientd.models import Book
from prescientd.polymarket import books
from prescientd.polymarket.books import decode_book_item, decode_books, parse_book
from prescientd.polymarket.clob import _parse_reply
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

orjson: Any
try:  # optional (not a dependency): compared only when installed
    orjson = importlib.import_module("orjson")
except ImportError:
    orjson = None

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "polymarket"
    / "clob_book_rest_2026-10_many_levels.json"
)
LOOP_REPLIES = 24
CONNECTIONS = 8  # max_concurrent_requests
NETWORK_S = 0.01
TICK_S = 0.001


# ------------------------------------------------------------------------------------------------
# before: the parser on main before this change (polymarket/clob.py), verbatim but for names


@dataclass(frozen=True, slots=True)
class LegacyLevel:
    """models.Level as it was: a frozen dataclass."""

    price: Decimal
    size: Decimal


_LEGACY_PRICES: dict[str, Decimal] = {}
_LEGACY_DECIMALS: dict[str, Decimal] = {}


def _legacy_new_price(value: object, field: str = "price") -> Decimal:
    price = to_price(value, field)
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ItemError(f"bad_field:{field}", f"{price} has more than 4 decimal places")
    if type(value) is str and len(_LEGACY_PRICES) < 20_000:
        _LEGACY_PRICES[value] = price
    return price


def _legacy_cached_price(value: object, field: str) -> Decimal:
    found = _LEGACY_PRICES.get(value) if type(value) is str else None
    return found if found is not None else _legacy_new_price(value, field)


def _legacy_level_error(raw: object, side: str) -> ItemError:
    if not isinstance(raw, dict) or "price" not in raw or "size" not in raw:
        return ItemError(f"bad_field:{side}", "a level is not a {price, size} object")
    try:
        to_price(raw["price"], "price")
        to_size(raw["size"], "size")
    except ItemError as exc:
        return exc
    return ItemError(f"bad_field:{side}", repr(raw)[:90])


def _legacy_sorted_levels(raw: object, side: str) -> tuple[LegacyLevel, ...]:
    if type(raw) is not list:
        raise ItemError(f"bad_field:{side}", "not a list")
    sizes: dict[Decimal, Decimal] = {}
    cache = _LEGACY_PRICES
    zero, limit, decimal = ZERO, SIZE_LIMIT, Decimal
    for level in raw:
        try:
            price_text = level["price"]
            size_text = level["size"]
            price = cache.get(price_text) if type(price_text) is str else None
            if price is None:
                price = _legacy_new_price(price_text)
            size = decimal(size_text) if type(size_text) is str else to_size(size_text, "size")
            if not zero <= size < limit:
                raise _legacy_level_error(level, side)
        except (KeyError, TypeError, InvalidOperation):
            raise _legacy_level_error(level, side) from None
        sizes[price] = sizes.get(price, zero) + size
    if sum(sizes.values(), zero) >= limit:
        raise ItemError(f"bad_field:{side}", "total size out of range")
    best_first = sorted(sizes, reverse=side == "bids")
    return tuple([LegacyLevel(p, s) for p in best_first if (s := sizes[p]) > ZERO])


def _legacy_optional(raw: dict[str, Any], field: str) -> Decimal | None:
    value = raw.get(field)
    if value is None or value == "":
        return None
    if type(value) is not str:
        return to_decimal(value, field)
    number = _LEGACY_DECIMALS.get(value)
    if number is None:
        number = to_decimal(value, field)
        _LEGACY_DECIMALS[value] = number
    return number


def _legacy_timestamp_ms(value: object) -> int:
    if isinstance(value, str) and is_digits(value) and len(value) <= 14:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**14:
        return value
    raise ItemError("bad_field:timestamp", repr(value)[:40])


def legacy_parse_book(raw: object) -> Book:
    """parse_book as it was (its Book holds LegacyLevels)."""
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
    timestamp_ms = _legacy_timestamp_ms(raw.get("timestamp"))
    bids = _legacy_sorted_levels(raw.get("bids"), "bids")
    asks = _legacy_sorted_levels(raw.get("asks"), "asks")
    tick_size = _legacy_optional(raw, "tick_size")
    if tick_size is not None and not ZERO < tick_size <= ONE:
        raise ItemError("bad_field:tick_size", str(tick_size))
    min_order_size = _legacy_optional(raw, "min_order_size")
    if min_order_size is not None and not ZERO <= min_order_size < SIZE_LIMIT:
        raise ItemError("bad_field:min_order_size", f"{min_order_size} is out of range")
    last_trade = raw.get("last_trade_price")
    last_trade_price = (
        None if last_trade in (None, "") else _legacy_cached_price(last_trade, "last_trade_price")
    )
    return Book(
        token_id=token_id,
        condition_id=condition_id,
        bids=bids,  # type: ignore[arg-type]  # the old Level type
        asks=asks,  # type: ignore[arg-type]
        timestamp_ms=timestamp_ms,
        hash=book_hash,
        tick_size=tick_size,
        min_order_size=min_order_size,
        last_trade_price=last_trade_price,
        neg_risk=to_bool(raw.get("neg_risk"), "neg_risk"),
    )


# ------------------------------------------------------------------------------------------------
# the pipelines compared (each: reply bytes -> list of books)

Pipeline = Callable[[bytes], list[Any]]


def before(body: bytes) -> list[Any]:
    """main: stdlib json decode, dict validators, dataclass Levels."""
    return [legacy_parse_book(item) for item in parse_json(body)]


def after(body: bytes) -> list[Any]:
    """This branch: msgspec typed items, fast path (general validators when unusual)."""
    return [parse_book(decode_book_item(item)) for item in decode_books(body)]


def msgspec_untyped(body: bytes) -> list[Any]:
    """msgspec's untyped decode into dicts, then today's dict validators."""
    return [books._general_book(item) for item in msgspec.json.decode(body)]


def orjson_untyped(body: bytes) -> list[Any]:
    """orjson into dicts, then today's dict validators."""
    assert orjson is not None
    return [books._general_book(item) for item in orjson.loads(body)]


_TYPED = msgspec.json.Decoder(list[books._WireBook])


def decode_only_stdlib(body: bytes) -> Any:
    """parse_json alone."""
    return parse_json(body)


def decode_only_orjson(body: bytes) -> Any:
    """orjson.loads alone."""
    assert orjson is not None
    return orjson.loads(body)


def decode_only_msgspec_untyped(body: bytes) -> Any:
    """msgspec untyped decode alone."""
    return msgspec.json.decode(body)


def decode_only_msgspec_typed(body: bytes) -> Any:
    """msgspec typed decode alone (string prices and sizes)."""
    return _TYPED.decode(body)


# ------------------------------------------------------------------------------------------------
# measuring


def reply(book: dict[str, Any], n_books: int) -> bytes:
    """A POST /books reply of n copies of a book under distinct 77-digit asset ids."""
    items = [dict(book, asset_id=str(10**76 + 7919 * i)) for i in range(n_books)]
    return json.dumps(items, separators=(",", ":")).encode()


def cut(book: dict[str, Any], per_side: int) -> dict[str, Any]:
    """The book with only its best `per_side` levels a side (live order: best last)."""
    return dict(book, bids=book["bids"][-per_side:], asks=book["asks"][-per_side:])


def per_book_us(pipeline: Callable[[bytes], Any], body: bytes, n_books: int, repeat: int) -> float:
    """Best of `repeat` runs, microseconds per book, cyclic GC paused as fetch_books does."""
    return compare_us({"one": pipeline}, body, n_books, repeat)["one"]


def compare_us(
    pipelines: dict[str, Callable[[bytes], Any]], body: bytes, n_books: int, repeat: int
) -> dict[str, float]:
    """Best of `repeat` rounds per pipeline, microseconds per book, GC paused.

    The pipelines take turns within each round, so a change in the machine's load (it is shared)
    affects them alike.
    """
    for pipeline in pipelines.values():
        pipeline(body)  # warm caches (prices, ticks) as a running daemon has them
    best = dict.fromkeys(pipelines, float("inf"))
    gc.disable()
    try:
        for _ in range(repeat):
            for name, pipeline in pipelines.items():
                start = time.perf_counter()
                pipeline(body)
                best[name] = min(best[name], time.perf_counter() - start)
    finally:
        gc.enable()
    return {name: seconds / n_books * 1e6 for name, seconds in best.items()}


def check_equal(body: bytes) -> None:
    """Every pipeline gives the same books (levels compared by price and size)."""

    def key(book: Book) -> tuple[Any, ...]:
        sides = tuple(tuple((lv.price, lv.size) for lv in side) for side in (book.bids, book.asks))
        return (book.token_id, book.timestamp_ms, book.hash, book.tick_size, *sides)

    reference = [key(b) for b in before(body)]
    pipelines: list[Pipeline] = [after, msgspec_untyped]
    if orjson is not None:
        pipelines.append(orjson_untyped)
    for pipeline in pipelines:
        if [key(b) for b in pipeline(body)] != reference:
            raise SystemExit(f"{pipeline.__name__} gives other books than before")


def print_costs(bodies: dict[str, bytes], n_books: int, repeat: int) -> dict[str, float]:
    """The per-book table; returns the before and after figures."""
    rows: list[tuple[str, Callable[[bytes], Any]]] = [("before: stdlib json + validators", before)]
    if orjson is not None:
        rows.append(("orjson + validators", orjson_untyped))
    rows += [("msgspec untyped + validators", msgspec_untyped)]
    rows += [("after: msgspec typed + fast path", after)]
    rows += [("decode only: stdlib json (parse_json)", decode_only_stdlib)]
    if orjson is not None:
        rows.append(("decode only: orjson", decode_only_orjson))
    rows += [
        ("decode only: msgspec untyped", decode_only_msgspec_untyped),
        ("decode only: msgspec typed structs", decode_only_msgspec_typed),
    ]
    names = list(bodies)
    print(f"\nper book, microseconds (best of {repeat}, replies of {n_books} books, GC paused)")
    print(f"  {'':40}" + "".join(f"{name:>18}" for name in names))
    by_body = {name: compare_us(dict(rows), bodies[name], n_books, repeat) for name in names}
    figures: dict[str, float] = {}
    for label, _ in rows:
        costs = [by_body[name][label] for name in names]
        for name, cost in zip(names, costs, strict=True):
            figures[f"{label}|{name}"] = cost
        print(f"  {label:40}" + "".join(f"{cost:>15.1f} us" for cost in costs))
    speedups = [
        figures[f"before: stdlib json + validators|{name}"]
        / figures[f"after: msgspec typed + fast path|{name}"]
        for name in names
    ]
    print(f"  {'speed-up before / after':40}" + "".join(f"{s:>17.2f}x" for s in speedups))
    return figures


# ------------------------------------------------------------------------------------------------
# the event loop: parse on the loop or in a thread

LOOP_MODES = ("on the loop", "asyncio.to_thread", "one parse thread")


async def _ticker(lateness_s: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        lateness_s.append(max(0.0, loop.time() - due))


async def _fetch_like(bodies: list[bytes], wanted: frozenset[str], mode: str) -> int:
    """CONNECTIONS workers, each: wait NETWORK_S for a reply, decode it on the loop, parse it."""
    loop = asyncio.get_running_loop()
    queue = list(bodies)
    parsed_books = 0
    with ThreadPoolExecutor(max_workers=1) as one_thread:

        async def worker() -> None:
            nonlocal parsed_books
            while queue:
                body = queue.pop()
                await asyncio.sleep(NETWORK_S)  # the reply arrives
                items = decode_books(body)  # on the loop, as HostClient does
                problems = ItemProblems("clob_book_rejected")
                if mode == "asyncio.to_thread":
                    parsed = await asyncio.to_thread(_parse_reply, items, wanted, problems)
                elif mode == "one parse thread":
                    parsed = await loop.run_in_executor(
                        one_thread, _parse_reply, items, wanted, problems
                    )
                else:
                    parsed = _parse_reply(items, wanted, problems)
                parsed_books += len(parsed.books)

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return parsed_books


async def loop_figures(body: bytes, n_books: int, mode: str) -> tuple[float, float, float]:
    """(wall s, worst lateness ms, p99 lateness ms) for LOOP_REPLIES replies."""
    wanted = frozenset(str(10**76 + 7919 * i) for i in range(n_books))
    lateness_s: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lateness_s, stop))
    await asyncio.sleep(0.02)
    lateness_s.clear()
    gc.disable()
    try:
        start = time.perf_counter()
        parsed = await _fetch_like([body] * LOOP_REPLIES, wanted, mode)
        wall_s = time.perf_counter() - start
    finally:
        gc.enable()
        stop.set()
        await ticker
    assert parsed == n_books * LOOP_REPLIES
    late = sorted(lateness_s) or [0.0]
    p99 = late[min(len(late) - 1, int(0.99 * len(late)))]
    return wall_s, late[-1] * 1e3, p99 * 1e3


def print_loop(bodies: dict[str, bytes], n_books: int, repeat: int) -> None:
    """Each mode: wall time and the loop's lateness (median of `repeat` runs each)."""
    print(
        f"\nevent loop: {LOOP_REPLIES} replies of {n_books} books, {CONNECTIONS} in flight, each "
        f"arriving {NETWORK_S * 1e3:g} ms after its request (median of {repeat});\n"
        f"a {TICK_S * 1e3:g} ms ticker measures how late the loop runs it"
    )
    for name, body in bodies.items():
        for mode in LOOP_MODES:
            runs = [asyncio.run(loop_figures(body, n_books, mode)) for _ in range(repeat)]
            wall = statistics.median(r[0] for r in runs)
            worst = statistics.median(r[1] for r in runs)
            p99 = statistics.median(r[2] for r in runs)
            print(
                f"  {name:>12} {mode:<18} wall {wall:6.3f} s   loop late: worst {worst:6.1f} ms,"
                f" p99 {p99:6.1f} ms"
            )


def main() -> int:
    """Build the replies, check the pipelines agree, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--books", type=int, default=500, help="books per reply (500 = a batch)")
    parser.add_argument("--no-loop", action="store_true", help="skip the event-loop comparison")
    args = parser.parse_args()
    recorded = json.loads(FIXTURE.read_bytes())
    levels = len(recorded["bids"]) + len(recorded["asks"])
    bodies = {
        f"{levels} levels": reply(recorded, args.books),
        "20 levels": reply(cut(recorded, 10), args.books),
    }
    print(
        f"prescientd parse benchmark: Python {sys.version.split()[0]}, msgspec "
        f"{msgspec.__version__}, orjson {orjson.__version__ if orjson else 'not installed'}"
    )
    for body in bodies.values():
        check_equal(body)
    print_costs(bodies, args.books, args.repeat)
    if not args.no_loop:
        print_loop(bodies, args.books, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
