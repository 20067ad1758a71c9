"""Which tokens to stream: held markets first, then the markets nearest to a strategy threshold.

Pure: values in, a watch set out. One WebSocket connection carries a few hundred tokens, so only
the markets that can act soon are streamed; the poll still covers every tracked market. Both tokens
of a market are watched together (a NO position is marked on its own book, a YES price decides the
signal) and the set is capped at `max_assets` tokens without splitting a market.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from prescientd.core.filters import id_key
from prescientd.models import Market


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


def threshold_distance(yes_price: Decimal, thresholds: Sequence[Decimal]) -> Decimal:
    """How far a YES price is from the nearest threshold."""
    return min(abs(yes_price - threshold) for threshold in thresholds)


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
    unique = list({m.market_id: m for m in markets}.values())
    held = sorted(
        (m for m in unique if any(t in held_tokens for t in m.token_ids)),
        key=lambda m: id_key(m.market_id),
    )
    held_ids = {m.market_id for m in held}
    known = {t for m in unique for t in m.token_ids}
    lone = sorted(t for t in held_tokens if t not in known)
    near: list[tuple[Decimal, tuple[int, str], WatchMarket]] = []
    if thresholds:
        for m in unique:
            if m.market_id in held_ids or m.yes_price is None:
                continue
            distance = threshold_distance(m.yes_price, thresholds)
            if distance <= watch_band:
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
