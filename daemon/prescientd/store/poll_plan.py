"""What one poll writes, decided in memory against what the store already holds.

A poll at the full universe fetches 160,000 quotes, most of them unchanged since the previous
poll. `plan_poll` compares each with the store's last known state of its token (fingerprints, not
rows: a few dozen bytes per token) and returns only the writes that change something: a snapshot
and a bar update where prices moved, a quote row where its content, status or liveness changed,
a carried bar where a token is first fetched on a local day. Pure: no SQL, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from prescientd.models import Quote
from prescientd.store.codec import opt_from_micro, opt_micro, round_micro

OK, MISSING, REJECTED = "ok", "missing", "rejected"


class Known(NamedTuple):
    """The store's last state of one token: its key, fingerprints, status and liveness."""

    key: int
    price_fp: int  # of the prices a snapshot is made of (changes append a snapshot)
    content_fp: int  # of the whole stored quote (changes rewrite the quote row)
    status: str
    live: bool


def price_values(q: Quote) -> tuple[Decimal | None, ...]:
    """What history and daily bars are made of: a snapshot is appended only when these change."""
    return (q.best_bid, q.best_ask, q.last_trade, q.display)


def content_values(q: Quote) -> tuple[Any, ...]:
    """Everything the quote row stores except when it was fetched."""
    return (
        q.book_timestamp_ms,
        q.book_hash,
        q.best_bid,
        q.best_ask,
        q.mid,
        q.spread,
        q.display,
        q.last_trade,
        q.bid_depth_shares,
        q.bid_depth_usd,
        q.ask_depth_shares,
        q.ask_depth_usd,
        q.tick_size,
        q.min_order_size,
    )


# the stored content columns, in content_values order
CONTENT_COLUMNS = (
    "book_ts_ms",
    "book_hash",
    "best_bid",
    "best_ask",
    "mid",
    "spread",
    "display",
    "last_trade",
    "bid_depth_shares",
    "bid_depth_usd",
    "ask_depth_shares",
    "ask_depth_usd",
    "tick_size",
    "min_order_size",
)


def stored_fingerprints(row: Mapping[str, Any]) -> tuple[int, int]:
    """fingerprints() of a stored quote row (micro-unit columns named as in CONTENT_COLUMNS)."""
    values = (
        row["book_ts_ms"],
        row["book_hash"],
        *(opt_from_micro(row[c]) for c in CONTENT_COLUMNS[2:]),
    )
    bid, ask, _, _, display, last = values[2:8]
    return hash((bid, ask, last, display)), hash(values)


def fingerprints(q: Quote) -> tuple[int, int]:
    """(price, content) fingerprints of a quote.

    Hashes of the Decimal values: equal values (0.5 and 0.500000) hash alike, so a quote read back
    from its micro-unit row matches the fresh one; a value finer than a micro-unit costs at most one
    extra write after a restart. A 64-bit collision (about 1 in 1.8e19 per comparison) would skip
    one write; the poll's own trading never reads these rows (it uses the books it just fetched).
    """
    return hash(price_values(q)), hash(content_values(q))


# Prices sit on a tick grid, so a few thousand values recur in every poll: their micro-units are
# remembered (bounded) instead of recomputed 160,000 x 8 times per poll.
_PRICE_MICROS: dict[Decimal, int] = {}
_PRICE_MICROS_MAX = 100_000


def _price_micro(value: Decimal | None) -> int | None:
    if value is None:
        return None
    found = _PRICE_MICROS.get(value)
    if found is None:
        found = round_micro(value)
        if len(_PRICE_MICROS) < _PRICE_MICROS_MAX:
            _PRICE_MICROS[value] = found
    return found


QuoteValues = tuple[Any, ...]  # the stored content, in CONTENT_COLUMNS order


def quote_values(q: Quote) -> QuoteValues:
    """The stored columns of a quote's content, in CONTENT_COLUMNS order (micro-units)."""
    return (
        q.book_timestamp_ms,
        q.book_hash,
        _price_micro(q.best_bid),
        _price_micro(q.best_ask),
        _price_micro(q.mid),
        opt_micro(q.spread),
        _price_micro(q.display),
        _price_micro(q.last_trade),
        round_micro(q.bid_depth_shares),
        round_micro(q.bid_depth_usd),
        round_micro(q.ask_depth_shares),
        round_micro(q.ask_depth_usd),
        _price_micro(q.tick_size),
        opt_micro(q.min_order_size),
    )


def quote_columns(q: Quote) -> dict[str, Any]:
    """quote_values by column name."""
    return dict(zip(CONTENT_COLUMNS, quote_values(q), strict=True))


@dataclass
class PollPlan:
    """The rows one poll writes; `known` and `live` are the store's state once it commits."""

    new_tokens: list[tuple[int, str]] = field(default_factory=list)  # (key, token id)
    new_quotes: list[tuple[int, QuoteValues]] = field(default_factory=list)  # new tokens' rows
    changed_quotes: list[tuple[int, QuoteValues]] = field(default_factory=list)  # ok rows
    statuses: list[tuple[str, int]] = field(default_factory=list)  # (status, key) now not ok
    dropped: list[int] = field(default_factory=list)  # keys no longer polled (live -> 0)
    snapshots: list[tuple[int, int | None, int | None, int | None, int | None, int | None]] = field(
        default_factory=list
    )  # (key, best_bid, best_ask, mid, display, last_trade), by key
    carried_bars: list[int] = field(default_factory=list)  # keys: bar from the stored quote
    new_bars: list[int] = field(default_factory=list)  # keys of new tokens: bar from snapshot
    known: dict[str, Known] = field(default_factory=dict)  # changed entries only
    live: set[int] = field(default_factory=set)
    next_key: int = 0


def plan_poll(
    quotes: Mapping[str, Quote],
    missing: Iterable[str],
    rejected: Iterable[str],
    known: Mapping[str, Known],
    live: set[int],
    bar_keys: set[int],
    next_key: int,
) -> PollPlan:
    """The writes of one poll (see the module docstring).

    live: keys requested by the previous poll; bar_keys: keys with a bar on this poll's date;
    next_key: the first unused token key.
    """
    plan = PollPlan(next_key=next_key)
    for token_id, quote in quotes.items():
        _plan_quote(plan, token_id, quote, known.get(token_id), bar_keys)
    for status, tokens in ((MISSING, missing), (REJECTED, rejected)):
        for token_id in tokens:
            entry = known.get(token_id)
            if entry is None:  # never quoted: nothing stored to mark
                continue
            plan.live.add(entry.key)
            if entry.status != status or not entry.live:
                plan.statuses.append((status, entry.key))
                plan.known[token_id] = entry._replace(status=status, live=True)
    plan.dropped = sorted(live - plan.live)
    if plan.dropped:
        dropped = set(plan.dropped)
        for token_id, entry in known.items():
            if entry.key in dropped:
                plan.known[token_id] = entry._replace(live=False)
    plan.snapshots.sort()
    return plan


def _plan_quote(
    plan: PollPlan, token_id: str, quote: Quote, entry: Known | None, bar_keys: set[int]
) -> None:
    price_fp, content_fp = fingerprints(quote)
    if entry is None:
        key = plan.next_key
        plan.next_key += 1
        values = quote_values(quote)
        plan.new_tokens.append((key, token_id))
        plan.new_quotes.append((key, values))
        plan.new_bars.append(key)
        plan.snapshots.append(_snapshot(key, values))
        plan.known[token_id] = Known(key, price_fp, content_fp, OK, True)
        plan.live.add(key)
        return
    key = entry.key
    plan.live.add(key)
    if key not in bar_keys:
        plan.carried_bars.append(key)  # the stored quote holds the last snapshot's prices
    if entry.content_fp == content_fp and entry.status == OK and entry.live:
        return  # a price change changes the content too
    values = quote_values(quote)
    if entry.price_fp != price_fp:
        plan.snapshots.append(_snapshot(key, values))
    plan.changed_quotes.append((key, values))
    plan.known[token_id] = Known(key, price_fp, content_fp, OK, True)


def _snapshot(
    key: int, values: QuoteValues
) -> tuple[int, int | None, int | None, int | None, int | None, int | None]:
    # best_bid, best_ask, mid, display, last_trade
    return (key, values[2], values[3], values[4], values[6], values[7])
