"""Watch-set selection: held markets first, then nearest to a threshold, capped by markets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from prescientd.core.watch import WatchMarket, WatchSet, select_watch, threshold_distance

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
