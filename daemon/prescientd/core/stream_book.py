"""Local order books kept from the WebSocket market channel: snapshots, deltas and staleness.

Pure state, no I/O and no clock: the client feeds it parsed frames and tells it about gaps. A book
is trusted only after a `book` snapshot; a gap (a reconnect, a silent connection, a malformed frame
for the token, a delta that disagrees with the server's own best prices) marks it stale until the
next snapshot. Trusted books come out as the same `Book` values the REST parser builds, so the
poll's quote and fill code reads them unchanged. Only watched tokens are kept (bounded memory).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, NamedTuple

from prescientd.core.prices import BookSide, merged_levels
from prescientd.models import ONE, ZERO, Book

# A real book has a few hundred levels a side at most; more means a runaway feed.
MAX_LEVELS_PER_SIDE: Final = 5000
# Sizes are stored as integer micro-units in SQLite's 64-bit integers (as jsonsafe.SIZE_LIMIT).
_SIDE_TOTAL_LIMIT: Final = Decimal(10**12)

# Why a book is not trusted (the client counts and logs these).
NO_SNAPSHOT: Final = "no_snapshot"
DISCONNECTED: Final = "disconnected"
MALFORMED: Final = "malformed"
BEST_MISMATCH: Final = "best_mismatch"
CROSSED: Final = "crossed"
TOO_MANY_LEVELS: Final = "too_many_levels"
OUT_OF_RANGE: Final = "out_of_range"


class LevelChange(NamedTuple):
    """One `price_changes[]` entry: the new aggregate size at a price (0 removes the level).

    A NamedTuple rather than a frozen dataclass: a busy channel builds ~100,000 a second.
    """

    side: BookSide
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookDelta:
    """What one price_change frame changes in one token's book, in frame order.

    `best_bid`/`best_ask` are the server's best prices after the changes when it sends them
    (None when absent); a local book that disagrees has missed something.
    """

    token_id: str
    condition_id: str
    timestamp_ms: int
    hash: str
    changes: tuple[LevelChange, ...]
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    """A token's new minimum tick (`tick_size_change`)."""

    token_id: str
    condition_id: str
    tick_size: Decimal
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class LastTrade:
    """A trade (`last_trade_price`); the REST book's last_trade_price is market-level."""

    token_id: str
    condition_id: str
    price: Decimal
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class AssetFault:
    """A frame for this token was malformed: its book can no longer be trusted."""

    token_id: str
    reason: str


BookEvent = Book | BookDelta | TickSizeChange | LastTrade | AssetFault


class Applied(NamedTuple):
    """What applying one event did: tokens whose trusted book changed, tokens that went stale."""

    changed: tuple[str, ...] = ()
    went_stale: tuple[str, ...] = ()
    ignored: bool = False


_IGNORED = Applied(ignored=True)
_NOTHING = Applied()


@dataclass(slots=True)
class _LocalBook:
    """Mutable levels of one token plus the Book fields that travel with them."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    condition_id: str = ""
    timestamp_ms: int = 0
    hash: str = ""
    tick_size: Decimal | None = None
    min_order_size: Decimal | None = None
    last_trade_price: Decimal | None = None
    neg_risk: bool = False
    stale_reason: str | None = NO_SNAPSHOT
    built: Book | None = None


def _best_agrees(expected: Decimal | None, levels: dict[Decimal, Decimal], bids: bool) -> bool:
    """Whether the server's best price matches the local side (an empty side reads 0, or 1)."""
    if expected is None:
        return True
    if not levels:
        return expected in (ZERO, ONE)
    return expected == (max(levels) if bids else min(levels))


class LocalBooks:
    """The streamed books of the watched tokens, each trusted or stale with a reason."""

    def __init__(self, *, max_levels_per_side: int = MAX_LEVELS_PER_SIDE) -> None:
        self._books: dict[str, _LocalBook] = {}
        self._by_condition: dict[str, set[str]] = {}
        self._max_levels = max_levels_per_side

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._books

    def __len__(self) -> int:
        return len(self._books)

    def watch(self, token_ids: Iterable[str]) -> None:
        """Start keeping these tokens (untrusted until their first snapshot)."""
        for token in token_ids:
            self._books.setdefault(token, _LocalBook())

    def unwatch(self, token_ids: Iterable[str]) -> None:
        """Forget these tokens and their books."""
        for token in token_ids:
            local = self._books.pop(token, None)
            if local is not None and local.condition_id:
                self._unindex(token, local.condition_id)

    def tokens_of(self, condition_id: str) -> frozenset[str]:
        """Watched tokens known (from a snapshot) to belong to this market."""
        return frozenset(self._by_condition.get(condition_id, ()))

    def trusted_count(self) -> int:
        """Watched tokens with a trusted book."""
        return sum(1 for local in self._books.values() if local.stale_reason is None)

    def stale_reason(self, token_id: str) -> str | None:
        """Why a watched token's book is not trusted (None = trusted); KeyError if not watched."""
        return self._books[token_id].stale_reason

    def is_trusted(self, token_id: str) -> bool:
        """True when the token is watched and its book trusted."""
        local = self._books.get(token_id)
        return local is not None and local.stale_reason is None

    def book(self, token_id: str) -> Book | None:
        """The trusted book of a token, or None when stale, unwatched or out of range."""
        local = self._books.get(token_id)
        if local is None or local.stale_reason is not None:
            return None
        if local.built is None:
            if (
                sum(local.bids.values(), ZERO) >= _SIDE_TOTAL_LIMIT
                or sum(local.asks.values(), ZERO) >= _SIDE_TOTAL_LIMIT
            ):
                self._stale(local, OUT_OF_RANGE)
                return None
            local.built = Book(
                token_id=token_id,
                condition_id=local.condition_id,
                bids=merged_levels(local.bids, "bids"),
                asks=merged_levels(local.asks, "asks"),
                timestamp_ms=local.timestamp_ms,
                hash=local.hash,
                tick_size=local.tick_size,
                min_order_size=local.min_order_size,
                last_trade_price=local.last_trade_price,
                neg_risk=local.neg_risk,
            )
        return local.built

    def mark_stale(self, token_ids: Iterable[str], reason: str) -> tuple[str, ...]:
        """Mark books stale; returns the tokens that were trusted until now."""
        went: list[str] = []
        for token in token_ids:
            local = self._books.get(token)
            if local is not None and local.stale_reason is None:
                self._stale(local, reason)
                went.append(token)
        return tuple(went)

    def apply(self, event: BookEvent) -> Applied:
        """Apply one parsed frame; events for unwatched tokens are ignored."""
        if isinstance(event, LastTrade):
            return self._apply_last_trade(event)
        local = self._books.get(event.token_id)
        if local is None:
            return _IGNORED
        if isinstance(event, Book):
            self._apply_snapshot(event, local)
            return Applied(changed=(event.token_id,))
        if isinstance(event, AssetFault):
            return self._went_stale(event.token_id, local, MALFORMED)
        if isinstance(event, TickSizeChange):
            local.tick_size = event.tick_size
            local.built = None
            trusted = local.stale_reason is None
            return Applied(changed=(event.token_id,)) if trusted else _NOTHING
        return self._apply_delta(event, local)

    def _apply_snapshot(self, book: Book, local: _LocalBook) -> None:
        if local.condition_id != book.condition_id:
            if local.condition_id:
                self._unindex(book.token_id, local.condition_id)
            self._by_condition.setdefault(book.condition_id, set()).add(book.token_id)
        local.bids = {level.price: level.size for level in book.bids}
        local.asks = {level.price: level.size for level in book.asks}
        local.condition_id = book.condition_id
        local.timestamp_ms = book.timestamp_ms
        local.hash = book.hash
        local.tick_size = book.tick_size
        local.min_order_size = book.min_order_size
        local.last_trade_price = book.last_trade_price
        local.neg_risk = book.neg_risk
        local.stale_reason = None
        # The parsed snapshot is already the Book the REST parser would build.
        local.built = book

    def _apply_delta(self, delta: BookDelta, local: _LocalBook) -> Applied:
        if local.stale_reason is not None:
            return _NOTHING  # nothing to build on until the next snapshot
        for change in delta.changes:
            levels = local.bids if change.side == "bids" else local.asks
            if change.size:
                levels[change.price] = change.size
            else:
                levels.pop(change.price, None)
        local.timestamp_ms = delta.timestamp_ms
        local.hash = delta.hash
        local.built = None
        token = delta.token_id
        if len(local.bids) > self._max_levels or len(local.asks) > self._max_levels:
            return self._went_stale(token, local, TOO_MANY_LEVELS)
        if not (
            _best_agrees(delta.best_bid, local.bids, bids=True)
            and _best_agrees(delta.best_ask, local.asks, bids=False)
        ):
            return self._went_stale(token, local, BEST_MISMATCH)
        if local.bids and local.asks and max(local.bids) >= min(local.asks):
            return self._went_stale(token, local, CROSSED)
        return Applied(changed=(token,))

    def _apply_last_trade(self, trade: LastTrade) -> Applied:
        # The REST book carries the market's last trade on both tokens; do the same.
        tokens = set(self._by_condition.get(trade.condition_id, ()))
        if trade.token_id in self._books:
            tokens.add(trade.token_id)
        if not tokens:
            return _IGNORED
        changed: list[str] = []
        for token in sorted(tokens):
            local = self._books[token]
            if local.last_trade_price != trade.price:
                local.last_trade_price = trade.price
                local.built = None
                if local.stale_reason is None:
                    changed.append(token)
        return Applied(changed=tuple(changed))

    def _went_stale(self, token_id: str, local: _LocalBook, reason: str) -> Applied:
        if local.stale_reason is not None:
            return _NOTHING
        self._stale(local, reason)
        return Applied(went_stale=(token_id,))

    @staticmethod
    def _stale(local: _LocalBook, reason: str) -> None:
        local.stale_reason = reason
        local.built = None
        # The levels are useless until a snapshot replaces them; free them now.
        local.bids = {}
        local.asks = {}

    def _unindex(self, token_id: str, condition_id: str) -> None:
        tokens = self._by_condition.get(condition_id)
        if tokens is not None:
            tokens.discard(token_id)
            if not tokens:
                del self._by_condition[condition_id]
