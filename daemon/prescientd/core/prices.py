"""The price model: an order book summarised into one Quote per token.

Pure: values in, values out. The display price follows Polymarket's rule: the midpoint, or the last
trade when the spread is wider than `display_spread_max`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from prescientd.config import PricesConfig
from prescientd.models import ONE, ZERO, Book, Level, Quote

BookSide = Literal["bids", "asks"]

_TWO = Decimal(2)


def sort_levels(levels: Iterable[Level], side: BookSide) -> tuple[Level, ...]:
    """Levels best first (bids descending, asks ascending), equal prices merged, zero sizes out."""
    _check_side(side)
    sizes: dict[Decimal, Decimal] = {}
    for level in levels:
        sizes[level.price] = sizes.get(level.price, ZERO) + level.size
    return merged_levels(sizes, side)


def merged_levels(sizes: Mapping[Decimal, Decimal], side: BookSide) -> tuple[Level, ...]:
    """Levels from total size per price, best first (bids descending, asks ascending), zeros out.

    The book parser merges equal prices while it reads, then calls this; one Level per price.
    """
    _check_side(side)
    # Sorting the Decimal keys alone is cheaper than sorting (price, size) tuples.
    best_first = sorted(sizes, reverse=side == "bids")
    return tuple([Level(price, size) for price in best_first if (size := sizes[price]) > ZERO])


def _check_side(side: str) -> None:
    if side not in ("bids", "asks"):
        raise ValueError(f"side must be 'bids' or 'asks', got {side!r}")


def _depth(levels: tuple[Level, ...], inside: Decimal, bids: bool) -> tuple[Decimal, Decimal]:
    """Shares and USD of the levels at or better than `inside` (levels sorted best first)."""
    # A plain loop that stops at the first level outside the window: the same additions in the
    # same order as summing the filtered levels, several times faster (it runs for every token
    # every poll and most of a book lies outside the window).
    shares = usd = ZERO
    for level in levels:
        price = level.price
        if (price < inside) if bids else (price > inside):
            break
        size = level.size
        shares += size
        usd += size * price
    return shares, usd


def quote_from_book(book: Book, fetched_at: datetime, cfg: PricesConfig) -> Quote:
    """Summarise a book (levels already best first) into best prices, display price and depth."""
    best_bid = book.bids[0].price if book.bids else None
    best_ask = book.asks[0].price if book.asks else None
    mid: Decimal | None = None
    spread: Decimal | None = None
    display = book.last_trade_price
    if best_bid is not None and best_ask is not None:
        mid = (best_bid + best_ask) / _TWO
        spread = best_ask - best_bid
        if spread <= cfg.display_spread_max or book.last_trade_price is None:
            display = mid
    bid_shares = bid_usd = ask_shares = ask_usd = ZERO
    if best_bid is not None:
        bid_shares, bid_usd = _depth(book.bids, best_bid - cfg.depth_window, bids=True)
    if best_ask is not None:
        ask_shares, ask_usd = _depth(book.asks, best_ask + cfg.depth_window, bids=False)
    return Quote(
        token_id=book.token_id,
        best_bid=best_bid,
        best_ask=best_ask,
        mid=mid,
        spread=spread,
        display=display,
        last_trade=book.last_trade_price,
        bid_depth_shares=bid_shares,
        bid_depth_usd=bid_usd,
        ask_depth_shares=ask_shares,
        ask_depth_usd=ask_usd,
        tick_size=book.tick_size,
        min_order_size=book.min_order_size,
        book_timestamp_ms=book.timestamp_ms,
        book_hash=book.hash,
        fetched_at=fetched_at,
    )


def is_stale(quote: Quote | None, now: datetime, max_age_s: float) -> bool:
    """True when there is no quote or it was fetched more than max_age_s seconds before now."""
    return quote is None or quote.age_s(now) > max_age_s


def complement_display(yes: Quote, no: Quote) -> Quote:
    """The NO token's display price as Polymarket shows it: 1 - the YES display price.

    The CLOB's last_trade_price is market-level (the same text on both books), so the display
    rule applied to a wide NO book would show the YES side's last trade; outcome prices sum to 1.
    """
    if yes.display is None:
        return no
    return replace(no, display=ONE - yes.display)
