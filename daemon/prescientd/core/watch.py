"""Which tokens to stream: held markets first, then the markets nearest to a strategy threshold.

Pure: values in, a watch set out. One WebSocket connection carries a few hundred tokens, so only
the markets that can act soon are streamed; the poll still covers every tracked market. Both tokens
of a market are watched together (a NO position is marked on its own book, a YES price decides the
signal) and the set is capped at `max_assets` tokens without splitting a market.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from prescientd.core.filters import id_key
from prescientd.models import Market, PriceSource, Quote


@dataclass(frozen=True, slots=True)
class WatchMarket:
    """A market as the watch set sees it: its tokens and latest YES price (None = unknown)."""

    market_id: str
    token_ids: tuple[str, ...]
    yes_price: Decimal | None

    @classmethod
    def of(cls, market: Market, yes_price: Decimal | None) -> WatchMarket:
        """The watch view of a Gamma market with the latest YES price the poll saw."""
        return cls(market.market_id, market.token_ids, yes_price)


@dataclass(frozen=True, slots=True)
class WatchSet:
    """Tokens to stream, grouped by market (a group never splits), highest priority first."""

    groups: tuple[tuple[str, ...], ...]
    held_markets: int
    near_markets: int
    dropped_markets: int

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every watched token, in priority order."""
        return tuple(token for group in self.groups for token in group)


@dataclass(frozen=True, slots=True)
class WatchRule:
    """One active strategy as the watch set sees it: its threshold and the price it compares."""

    threshold: Decimal
    price_source: PriceSource


def threshold_distance(yes_price: Decimal, thresholds: Sequence[Decimal]) -> Decimal:
    """How far a YES price is from the nearest threshold."""
    return min(abs(yes_price - threshold) for threshold in thresholds)


def rule_distance(yes_quote: Quote | None, rules: Sequence[WatchRule]) -> Decimal | None:
    """How far a market's YES quote is from the nearest strategy threshold, each strategy reading
    its own price source; None when no strategy can price it."""
    if yes_quote is None:
        return None
    distances = [
        abs(price - rule.threshold)
        for rule in rules
        if (price := yes_quote.price(rule.price_source)) is not None
    ]
    return min(distances, default=None)


def select_watch(
    held_tokens: Collection[str],
    markets: Sequence[WatchMarket],
    thresholds: Sequence[Decimal],
    *,
    watch_band: Decimal,
    max_assets: int,
) -> WatchSet:
    """Held markets (and held tokens of unknown markets), then markets within watch_band of a
    threshold nearest first, capped at max_assets tokens without splitting a market."""

    def distance(market: WatchMarket) -> Decimal | None:
        if market.yes_price is None or not thresholds:
            return None
        return threshold_distance(market.yes_price, thresholds)

    return _select(held_tokens, markets, distance, watch_band, max_assets)


def select_watch_rules(
    held_tokens: Collection[str],
    markets: Sequence[Market],
    yes_quotes: Mapping[str, Quote],
    rules: Sequence[WatchRule],
    *,
    watch_band: Decimal,
    max_assets: int,
) -> WatchSet:
    """select_watch for binary markets priced by their latest YES quotes (by YES token id), each
    strategy reading its own price source: the nearest threshold of any rule counts."""
    distances = {m.market_id: rule_distance(yes_quotes.get(m.yes_token_id), rules) for m in markets}
    watch = [WatchMarket.of(m, None) for m in markets]
    return _select(held_tokens, watch, lambda m: distances[m.market_id], watch_band, max_assets)


def _select(
    held_tokens: Collection[str],
    markets: Sequence[WatchMarket],
    distance_of: Callable[[WatchMarket], Decimal | None],
    watch_band: Decimal,
    max_assets: int,
) -> WatchSet:
    unique = list({m.market_id: m for m in markets}.values())
    held = sorted(
        (m for m in unique if any(t in held_tokens for t in m.token_ids)),
        key=lambda m: id_key(m.market_id),
    )
    held_ids = {m.market_id for m in held}
    known = {t for m in unique for t in m.token_ids}
    lone = sorted(t for t in held_tokens if t not in known)
    near: list[tuple[Decimal, tuple[int, str], WatchMarket]] = []
    for m in unique:
        distance = None if m.market_id in held_ids else distance_of(m)
        if distance is not None and distance <= watch_band:
            near.append((distance, id_key(m.market_id), m))
    near.sort(key=lambda item: item[:2])

    candidates = [
        *((m.token_ids, "held") for m in held),
        *(((token,), "held") for token in lone),
        *((m.token_ids, "near") for _, _, m in near),
    ]
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    counts = {"held": 0, "near": 0, "dropped": 0}
    for tokens, kind in candidates:
        group = tuple(t for t in dict.fromkeys(tokens) if t not in seen)
        if not group:
            continue
        if len(seen) + len(group) > max_assets:
            counts["dropped"] += 1
            continue
        groups.append(group)
        seen.update(group)
        counts[kind] += 1
    return WatchSet(tuple(groups), counts["held"], counts["near"], counts["dropped"])
