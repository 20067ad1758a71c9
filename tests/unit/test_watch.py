"""Watch-set selection: held markets first, then nearest to a threshold, capped by markets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conftest import T0, make_book, make_market
from prescientd.config import PricesConfig
from prescientd.core.prices import quote_from_book
from prescientd.core.watch import (
    WatchMarket,
    WatchRule,
    WatchSet,
    rule_distance,
    select_watch,
    select_watch_rules,
    threshold_distance,
)
from prescientd.models import PriceSource, Quote

D = Decimal


def market(market_id: str, yes: str | None) -> WatchMarket:
    """A binary market whose tokens are named after its id (`<id>y`, `<id>n`)."""
    price = None if yes is None else D(yes)
    return WatchMarket(market_id, (f"{market_id}y", f"{market_id}n"), price)


MARKETS = [
    market("1", "0.20"),  # far from 0.50
    market("2", "0.52"),  # 0.02 away
    market("3", "0.47"),  # 0.03 away
    market("4", "0.55"),  # 0.05 away: on the band's edge, included
    market("5", "0.551"),  # just outside
    market("6", None),  # no price yet
    market("10", "0.48"),  # 0.02 away, ties with 2: numeric id order puts 2 first
]


@pytest.mark.parametrize(
    ("held", "thresholds", "band", "cap", "groups", "counts"),
    [
        # nearest first, ties by numeric id, edge of the band included, unknown prices skipped
        (set(), ["0.50"], "0.05", 100, ["2", "10", "3", "4"], (0, 4, 0)),
        # held markets come first, whatever their price (and are not listed twice)
        ({"1n", "3y"}, ["0.50"], "0.05", 100, ["1", "3", "2", "10", "4"], (2, 3, 0)),
        # the cap counts tokens and never splits a market
        (set(), ["0.50"], "0.05", 5, ["2", "10"], (0, 2, 2)),
        ({"1y"}, ["0.50"], "0.05", 3, ["1"], (1, 0, 4)),
        # held beyond the cap are dropped too (polled only)
        ({"1y", "2y"}, ["0.50"], "0.05", 2, ["1"], (1, 0, 4)),
        # several thresholds: the nearest one counts
        (set(), ["0.50", "0.21"], "0.01", 100, ["1"], (0, 1, 0)),
        (set(), ["0.21", "0.53"], "0.02", 100, ["1", "2", "4"], (0, 3, 0)),
        # no thresholds (no strategy active): held only
        ({"6n"}, [], "0.05", 100, ["6"], (1, 0, 0)),
        (set(), ["0.50"], "0", 100, [], (0, 0, 0)),
        (set(), ["0.50"], "0.05", 0, [], (0, 0, 4)),
    ],
)
def test_select_watch(
    held: set[str],
    thresholds: list[str],
    band: str,
    cap: int,
    groups: list[str],
    counts: tuple[int, int, int],
) -> None:
    """Held first, then within the band nearest first; whole markets only, up to the cap."""
    watch = select_watch(
        held, MARKETS, [D(t) for t in thresholds], watch_band=D(band), max_assets=cap
    )
    assert watch.groups == tuple((f"{m}y", f"{m}n") for m in groups)
    assert (watch.held_markets, watch.near_markets, watch.dropped_markets) == counts
    assert len(watch.tokens) <= cap


def test_held_tokens_of_unknown_markets_are_watched_alone_after_held_markets() -> None:
    """A held token whose market is not in the list (no longer eligible) is still streamed."""
    watch = select_watch({"77", "1y"}, MARKETS, [D("0.50")], watch_band=D("0.02"), max_assets=100)
    assert watch.groups[:2] == (("1y", "1n"), ("77",))
    assert watch.held_markets == 2


def test_duplicate_markets_and_tokens_are_watched_once() -> None:
    """The same market listed twice (held and eligible) yields one group."""
    watch = select_watch(
        {"2y"}, [*MARKETS, market("2", "0.52")], [D("0.5")], watch_band=D("0.02"), max_assets=100
    )
    assert watch.tokens.count("2y") == 1
    assert watch == WatchSet((("2y", "2n"), ("10y", "10n")), 1, 1, 0)


@pytest.mark.parametrize(
    ("price", "thresholds", "distance"),
    [("0.50", ["0.50"], "0"), ("0.61", ["0.50", "0.60"], "0.01"), ("0.1", ["0.9"], "0.8")],
)
def test_threshold_distance(price: str, thresholds: list[str], distance: str) -> None:
    """The distance to the nearest threshold."""
    assert threshold_distance(D(price), [D(t) for t in thresholds]) == D(distance)


def _quote(token: str, bid: str, ask: str, last: str) -> Quote:
    """A YES quote with the given best prices and last trade (display per Polymarket's rule)."""
    book = make_book(token, [(bid, "100")], [(ask, "100")], last=last)
    return quote_from_book(book, T0, PricesConfig())


@pytest.mark.parametrize(
    ("rules", "watched"),
    [
        # m1: bid 0.46, ask 0.48, last 0.40, display = mid 0.47 (spread 0.02)
        # m2: bid 0.40, ask 0.70, last 0.70, display = last 0.70 (spread 0.30 > 0.10), mid 0.55
        ([("0.50", "display")], ["m1"]),
        ([("0.50", "best_bid")], ["m1"]),  # 0.46 is 0.04 away
        ([("0.72", "display")], ["m2"]),  # m2's display is its last trade, not its mid
        ([("0.51", "mid")], ["m1", "m2"]),  # both 0.04 away: ties by id
        # each strategy reads its own source; the nearest threshold of any of them counts
        ([("0.50", "best_ask"), ("0.75", "last")], ["m1", "m2"]),  # 0.02 and 0.05 away
        ([("0.90", "display"), ("0.10", "mid")], []),
        ([], []),
    ],
)
def test_each_strategy_reads_its_own_price_source(
    rules: list[tuple[str, str]], watched: list[str]
) -> None:
    """select_watch_rules measures a market's distance with every strategy's own price source."""
    m1 = make_market("1", "e1")
    m2 = make_market("2", "e2")
    quotes = {
        m1.yes_token_id: _quote(m1.yes_token_id, "0.46", "0.48", "0.40"),
        m2.yes_token_id: _quote(m2.yes_token_id, "0.40", "0.70", "0.70"),
    }
    watch = select_watch_rules(
        set(),
        [m1, m2],
        quotes,
        [WatchRule(D(t), PriceSource(s)) for t, s in rules],
        watch_band=D("0.05"),
        max_assets=100,
    )
    by_name = {"m1": m1, "m2": m2}
    assert watch.groups == tuple(by_name[name].token_ids for name in watched)


def test_held_markets_are_watched_whatever_their_price_and_unpriced_markets_are_not() -> None:
    """A held market comes first even far from every threshold; a market without a YES quote
    is never near."""
    m1, m2, m3 = (make_market(str(i), f"e{i}") for i in (1, 2, 3))
    quotes = {m2.yes_token_id: _quote(m2.yes_token_id, "0.49", "0.51", "0.50")}
    watch = select_watch_rules(
        {m1.token_ids[1]},
        [m1, m2, m3],
        quotes,
        [WatchRule(D("0.5"), PriceSource.DISPLAY)],
        watch_band=D("0.05"),
        max_assets=100,
    )
    assert watch.groups == (m1.token_ids, m2.token_ids)
    assert (watch.held_markets, watch.near_markets) == (1, 1)


@pytest.mark.parametrize(
    ("bid", "ask", "last", "rules", "distance"),
    [
        ("0.46", "0.48", "0.40", [("0.50", "display")], "0.03"),
        ("0.46", "0.48", "0.40", [("0.50", "last"), ("0.45", "best_bid")], "0.01"),
        ("0.40", "0.70", "0.70", [("0.60", "display")], "0.10"),
    ],
)
def test_rule_distance(
    bid: str, ask: str, last: str, rules: list[tuple[str, str]], distance: str
) -> None:
    """The distance to the nearest threshold, each rule on its own price."""
    quote = _quote("t", bid, ask, last)
    got = rule_distance(quote, [WatchRule(D(t), PriceSource(s)) for t, s in rules])
    assert got == D(distance)
    assert rule_distance(None, [WatchRule(D("0.5"), PriceSource.MID)]) is None
