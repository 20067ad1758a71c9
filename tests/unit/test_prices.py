"""Tests for prescientd.core.prices: level sorting, quotes from books, depth and staleness."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES
from prescientd.config import PricesConfig
from prescientd.core.prices import (
    BookSide,
    complement_display,
    is_stale,
    quote_from_book,
    sort_levels,
)
from prescientd.models import Book, Level

NOW = datetime(2026, 10, 6, 12, 0, tzinfo=UTC)
CFG = PricesConfig(depth_window=Decimal("0.02"), display_spread_max=Decimal("0.10"))
D = Decimal


def _fixture_dir() -> Path:
    return FIXTURES


def levels(*pairs: tuple[str, str]) -> tuple[Level, ...]:
    """Levels from (price, size) text pairs, in the order given."""
    return tuple(Level(D(price), D(size)) for price, size in pairs)


def make_book(
    bids: tuple[Level, ...] = (),
    asks: tuple[Level, ...] = (),
    last: str | None = None,
) -> Book:
    """A book whose levels are sorted best first, as the CLOB parser hands them over."""
    return Book(
        token_id="111",
        condition_id="0x" + "cd" * 32,
        bids=sort_levels(bids, "bids"),
        asks=sort_levels(asks, "asks"),
        timestamp_ms=1791258810641,
        hash="6bd013d5f211e2eaecf60fbf357b1f936422049f",
        tick_size=D("0.01"),
        min_order_size=D(5),
        last_trade_price=D(last) if last is not None else None,
    )


def _book_from_fixture(name: str, order: str) -> Book:
    """Parse a recorded /book body; order = recorded | reversed | shuffled rearranges its levels."""
    raw: dict[str, Any] = json.loads((_fixture_dir() / name).read_text(encoding="utf-8"))

    def side(key: str) -> list[Level]:
        out = [Level(D(lv["price"]), D(lv["size"])) for lv in raw[key]]
        if order == "reversed":
            out.reverse()
        elif order == "shuffled":
            random.Random(7).shuffle(out)
        return out

    last = raw.get("last_trade_price")
    return Book(
        token_id=raw["asset_id"],
        condition_id=raw["market"],
        bids=sort_levels(side("bids"), "bids"),
        asks=sort_levels(side("asks"), "asks"),
        timestamp_ms=int(raw["timestamp"]),
        hash=raw["hash"],
        tick_size=D(raw["tick_size"]) if "tick_size" in raw else None,
        min_order_size=D(raw["min_order_size"]) if "min_order_size" in raw else None,
        last_trade_price=D(last) if last else None,
    )


def parse_levels(text: str) -> tuple[Level, ...]:
    """Levels from "price:size price:size ..." text, in the order written."""
    return tuple(Level(D(p), D(q)) for p, q in (item.split(":") for item in text.split()))


@pytest.mark.parametrize(
    ("side", "given", "expected"),
    [
        ("bids", "0.1:1 0.3:2 0.2:3", "0.3:2 0.2:3 0.1:1"),
        ("asks", "0.5:1 0.3:2 0.4:3", "0.3:2 0.4:3 0.5:1"),
        ("bids", "0.30:1 0.3:2.5 0.2:3", "0.30:3.5 0.2:3"),
        ("asks", "0.4:0 0.5:1", "0.5:1"),
        ("asks", "0.4:2 0.4:0", "0.4:2"),
        ("bids", "", ""),
    ],
)
def test_sort_levels(side: BookSide, given: str, expected: str) -> None:
    """Bids sort high to low, asks low to high; equal prices merge; zero sizes go."""
    result = sort_levels(parse_levels(given), side)
    assert result == parse_levels(expected)


def test_sort_levels_rejects_unknown_side() -> None:
    """A side other than bids/asks is an error rather than a silent ascending sort."""
    with pytest.raises(ValueError, match="side"):
        sort_levels(levels(("0.1", "1")), "bid")  # type: ignore[arg-type]


# Read by hand from clob_book_rest_2024.json:
#   bids (recorded ascending) 0.01x1000, 0.06x200, 0.08x120, 0.09x294, 0.1x125  -> best bid 0.1
#   asks (recorded descending) 0.98x5000 ... 0.38x192.3, 0.2x70, 0.14x705       -> best ask 0.14
#   spread 0.14 - 0.1 = 0.04, mid 0.12; no last_trade_price in this 2024 capture -> display = mid.
#   depth 0.02: bids >= 0.08 -> 125 + 294 + 120 = 539 shares, 12.5 + 26.46 + 9.6 = 48.56 USD;
#               asks <= 0.16 -> 705 shares, 98.70 USD.
# Read by hand from clob_book_rest_2026-10_many_levels.json (23 bids, 137 asks):
#   best bid 0.024 x 7838.1, best ask 0.025 x 3563.48 -> spread 0.001, mid 0.0245; last 0.024
#   depth 0.002: bids >= 0.022 -> 7838.1 + 104394.73 + 35535.99 = 147768.82 shares,
#                188.1144 + 2401.07879 + 781.79178 = 3370.98497 USD;
#                asks <= 0.027 -> 3563.48 + 10335.22 + 24779.9 = 38678.60 shares,
#                89.087 + 268.71572 + 669.0573 = 1026.86002 USD.
RECORDED_BOOKS = [
    (
        "clob_book_rest_2024.json",
        Decimal("0.02"),
        {
            "best_bid": D("0.1"),
            "best_ask": D("0.14"),
            "spread": D("0.04"),
            "mid": D("0.12"),
            "display": D("0.12"),
            "last_trade": None,
            "bid_depth_shares": D(539),
            "bid_depth_usd": D("48.56"),
            "ask_depth_shares": D(705),
            "ask_depth_usd": D("98.70"),
            "tick_size": None,
            "min_order_size": None,
            "book_timestamp_ms": 1728799418260,
            "book_hash": "2fc4a3d6a98bc164e057589bcb74981852b87412",
        },
    ),
    (
        "clob_book_rest_2026-10_many_levels.json",
        Decimal("0.002"),
        {
            "best_bid": D("0.024"),
            "best_ask": D("0.025"),
            "spread": D("0.001"),
            "mid": D("0.0245"),
            "display": D("0.0245"),
            "last_trade": D("0.024"),
            "bid_depth_shares": D("147768.82"),
            "bid_depth_usd": D("3370.98497"),
            "ask_depth_shares": D("38678.60"),
            "ask_depth_usd": D("1026.86002"),
            "tick_size": D("0.001"),
            "min_order_size": D(5),
            "book_timestamp_ms": 1791258810641,
            "book_hash": "6bd013d5f211e2eaecf60fbf357b1f936422049f",
        },
    ),
]


@pytest.mark.parametrize("order", ["recorded", "reversed", "shuffled"])
@pytest.mark.parametrize(("name", "window", "expected"), RECORDED_BOOKS)
def test_recorded_books_quote(
    name: str, window: Decimal, expected: dict[str, object], order: str
) -> None:
    """Recorded books give the hand-read prices and depth whatever order their levels arrive in."""
    book = _book_from_fixture(name, order)
    cfg = CFG.model_copy(update={"depth_window": window})
    quote = quote_from_book(book, NOW, cfg)
    actual = {key: getattr(quote, key) for key in expected}
    assert actual == expected
    assert quote.token_id == book.token_id
    assert quote.fetched_at == NOW


@pytest.mark.parametrize(
    ("bids", "asks", "last", "mid", "spread", "display"),
    [
        # spread 0.15 > 0.10: display is the last trade
        ("0.30:10", "0.45:10", "0.40", "0.375", "0.15", "0.40"),
        # wide spread but no last trade: fall back to mid
        ("0.30:10", "0.45:10", None, "0.375", "0.15", "0.375"),
        # spread exactly 0.10 still shows the mid
        ("0.40:10", "0.50:10", "0.70", "0.45", "0.10", "0.45"),
        # tight spread ignores the last trade
        ("0.62:10", "0.64:10", "0.50", "0.63", "0.02", "0.63"),
        # one-sided or empty books: no mid or spread; display = last trade when known
        ("0.62:10", "", "0.61", None, None, "0.61"),
        ("", "0.64:10", None, None, None, None),
        ("", "", "0.5", None, None, "0.5"),
        ("", "", None, None, None, None),
    ],
)
def test_display_rule(
    bids: str,
    asks: str,
    last: str | None,
    mid: str | None,
    spread: str | None,
    display: str | None,
) -> None:
    """Display = mid when spread <= 0.10, else the last trade (or mid); one-sided: last or None."""
    quote = quote_from_book(make_book(parse_levels(bids), parse_levels(asks), last), NOW, CFG)

    def dec(text: str | None) -> Decimal | None:
        return D(text) if text is not None else None

    assert (quote.mid, quote.spread, quote.display) == (dec(mid), dec(spread), dec(display))


def test_one_sided_book_best_prices_and_depth() -> None:
    """A bids-only book has a best bid and bid depth, no best ask and zero ask depth."""
    quote = quote_from_book(make_book(levels(("0.62", "10"), ("0.61", "5")), ()), NOW, CFG)
    assert (quote.best_bid, quote.best_ask) == (D("0.62"), None)
    assert (quote.bid_depth_shares, quote.bid_depth_usd) == (D(15), D("9.25"))
    assert (quote.ask_depth_shares, quote.ask_depth_usd) == (D(0), D(0))


@pytest.mark.parametrize(
    ("window", "bid_shares", "bid_usd", "ask_shares", "ask_usd"),
    [
        # bids 0.50x10, 0.49x20, 0.47x40, 0.40x100 ; asks 0.52x10, 0.53x20, 0.55x40, 0.60x100
        ("0", "10", "5.00", "10", "5.20"),
        ("0.01", "30", "14.80", "30", "15.80"),
        ("0.03", "70", "33.60", "70", "37.80"),
        ("0.02", "30", "14.80", "30", "15.80"),
        ("0.10", "170", "73.60", "170", "97.80"),
        ("1", "170", "73.60", "170", "97.80"),
    ],
)
def test_depth_window(
    window: str, bid_shares: str, bid_usd: str, ask_shares: str, ask_usd: str
) -> None:
    """Depth sums shares and USD of the levels within the window of the best price, inclusive."""
    book = make_book(
        levels(("0.50", "10"), ("0.49", "20"), ("0.47", "40"), ("0.40", "100")),
        levels(("0.52", "10"), ("0.53", "20"), ("0.55", "40"), ("0.60", "100")),
    )
    quote = quote_from_book(book, NOW, CFG.model_copy(update={"depth_window": D(window)}))
    assert quote.bid_depth_shares == D(bid_shares)
    assert quote.bid_depth_usd == D(bid_usd)
    assert quote.ask_depth_shares == D(ask_shares)
    assert quote.ask_depth_usd == D(ask_usd)


def test_quote_copies_book_metadata() -> None:
    """Timestamp, hash, tick size and minimum size are copied from the book."""
    book = make_book(levels(("0.4", "1")), levels(("0.5", "1")))
    quote = quote_from_book(book, NOW, CFG)
    assert (quote.book_timestamp_ms, quote.book_hash) == (1791258810641, book.hash)
    assert (quote.tick_size, quote.min_order_size) == (D("0.01"), D(5))


@pytest.mark.parametrize(
    ("age_s", "max_age_s", "expected"),
    [
        (0, 600, False),
        (599.9, 600, False),
        (600, 600, False),
        (600.001, 600, True),
        (3600, 600, True),
        (-5, 600, False),
    ],
)
def test_is_stale(age_s: float, max_age_s: float, expected: bool) -> None:
    """A quote is stale once it is older than max_age_s (exactly max_age_s is still fresh)."""
    quote = quote_from_book(make_book(), NOW - timedelta(seconds=age_s), CFG)
    assert is_stale(quote, NOW, max_age_s) is expected


def test_missing_quote_is_stale() -> None:
    """No quote at all counts as stale."""
    assert is_stale(None, NOW, 600) is True


def test_no_display_is_one_minus_yes_display() -> None:
    """The NO token's display price is 1 - YES display, whatever its own book's last trade."""
    yes_book = Book(
        "y", "c", levels(("0.40", "10")), levels(("0.60", "10")), 1, "h", None, None, D("0.43")
    )
    no_book = Book(
        "n", "c", levels(("0.40", "10")), levels(("0.60", "10")), 1, "h", None, None, D("0.43")
    )  # market-level last trade: the same text on both books
    yes = quote_from_book(yes_book, NOW, CFG)
    no = complement_display(yes, quote_from_book(no_book, NOW, CFG))
    assert (yes.display, no.display) == (D("0.43"), D("0.57"))
