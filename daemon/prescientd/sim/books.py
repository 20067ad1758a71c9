"""Deterministic prices and CLOB order books for the simulator.

Prices are integers in units of 1/10,000 (`SCALE`) so that every tick size Polymarket uses (0.01,
0.001, 0.0025) is a whole number of units and formatting is a table lookup. Everything here is a
pure O(1) function of (market price parameters, step): no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from decimal import Decimal

SCALE = 10_000
"""Price units per 1.0 (a price of 0.43 is 4300 units)."""

_M64 = (1 << 64) - 1
_STEP_MIX = 0xD1B54A32D192ED03
_LEVEL_MIX = 0x8CB92BA72F3D8DD7


def _format_units(units: int) -> str:
    text = format(Decimal(units).scaleb(-4).normalize(), "f")
    return text


PRICE_STR: tuple[str, ...] = tuple(_format_units(u) for u in range(SCALE + 1))
"""Decimal text of every price unit, as the CLOB writes it ("0.43", "0.0025", "1")."""


def _make_size_pool(n: int) -> tuple[str, ...]:
    # Sizes look like live books: mostly 2 decimals, some whole, some 1 decimal; 5 to ~250k shares.
    rng = random.Random("prescientd-sim-sizes")
    pool = []
    for _ in range(n):
        size = math.exp(rng.uniform(math.log(5.0), math.log(250_000.0)))
        style = rng.random()
        if style < 0.5:
            text = f"{size:.2f}"
        elif style < 0.8:
            text = str(round(size))
        else:
            text = f"{size:.1f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        pool.append(text)
    return tuple(pool)


SIZE_POOL: tuple[str, ...] = _make_size_pool(1024)


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a fast, well-spread, platform-independent 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def units_to_decimal(units: int) -> Decimal:
    """Price units to an exact Decimal (4300 -> Decimal("0.43"))."""
    return Decimal(PRICE_STR[units])


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class PriceParams:
    """How a token's fair price moves: base + amplitude*sin(...) + hashed noise, on a tick grid."""

    seed: int
    base: float
    amplitude: float
    period_steps: int
    phase: float
    noise: float
    tick_units: int
    spread_ticks: int
    wide: bool
    levels: int
    moves: bool
    static_ts_ms: int

    @property
    def tick_size(self) -> str:
        """Tick size text as the book shows it ("0.01", "0.001", "0.0025")."""
        return PRICE_STR[self.tick_units]


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of one token's book at one step, in price units."""

    bid_units: int
    ask_units: int
    last_units: int

    @property
    def best_bid(self) -> Decimal:
        """Best bid price."""
        return units_to_decimal(self.bid_units)

    @property
    def best_ask(self) -> Decimal:
        """Best ask price."""
        return units_to_decimal(self.ask_units)

    @property
    def last_trade(self) -> Decimal:
        """Last trade price (market-level)."""
        return units_to_decimal(self.last_units)

    @property
    def spread(self) -> Decimal:
        """Best ask minus best bid."""
        return units_to_decimal(self.ask_units - self.bid_units)

    @property
    def mid(self) -> Decimal:
        """Midpoint of best bid and best ask (may be half a tick)."""
        return Decimal(self.bid_units + self.ask_units) / Decimal(2 * SCALE)

    @property
    def display(self) -> Decimal:
        """Shown price: the midpoint, or the last trade when the spread exceeds 0.10."""
        if self.ask_units - self.bid_units > SCALE // 10:
            return self.last_trade
        return self.mid

    def display_text(self) -> str:
        """The display price as plain decimal text."""
        return _plain(self.display)

    def mid_text(self) -> str:
        """The midpoint as plain decimal text."""
        return _plain(self.mid)


def effective_step(params: PriceParams, step: int) -> int:
    """The step a token's book is computed at: static books never leave step 0."""
    return step if params.moves else 0


def quote_at(params: PriceParams, step: int) -> Quote:
    """Best bid/ask/last of a token at a step, O(1)."""
    s = effective_step(params, step)
    h = mix64(params.seed ^ ((s * _STEP_MIX) & _M64))
    unit_noise = (h >> 11) / float(1 << 53)
    # Prices near 0 or 1 move little in absolute terms (a 0.4-cent long shot does not jump to
    # 2 cents every minute): scale the movement by 4p(1-p), 1 at 0.50.
    scale = min(1.0, 4.0 * params.base * (1.0 - params.base))
    fair = params.base + scale * (
        params.amplitude * math.sin(2.0 * math.pi * s / params.period_steps + params.phase)
        + params.noise * (2.0 * unit_noise - 1.0)
    )
    tu = params.tick_units
    n_ticks = SCALE // tu
    fair_t = min(max(round(fair * n_ticks), 1), n_ticks - 1)
    spread_t = params.spread_ticks if params.wide else params.spread_ticks + ((h >> 8) & 1)
    spread_t = max(1, min(spread_t, n_ticks - 2))
    bid_t = fair_t - spread_t // 2
    ask_t = bid_t + spread_t
    if bid_t < 1:
        bid_t, ask_t = 1, 1 + spread_t
    if ask_t > n_ticks - 1:
        ask_t = n_ticks - 1
        bid_t = ask_t - spread_t
    last_t = bid_t if (h >> 16) & 1 else ask_t
    return Quote(bid_units=bid_t * tu, ask_units=ask_t * tu, last_units=last_t * tu)


# (i * _LEVEL_MIX) & _M64 for the level index i: books have at most a few dozen levels a side
_LEVEL_SALTS = tuple((i * _LEVEL_MIX) & _M64 for i in range(64))


def _side_levels(
    params: PriceParams, start_t: int, direction: int, salt: int
) -> list[tuple[int, str]]:
    """Levels best-first: (price units, size text), stepping 1-3 ticks away from the best price.

    mix64 is inlined: a full-universe poll builds millions of levels, and the call was a third
    of the simulator's time serving it.
    """
    tu = params.tick_units
    max_t = SCALE // tu - 1
    levels: list[tuple[int, str]] = []
    t = start_t
    n_levels = params.levels
    for i in range(n_levels):
        if not 1 <= t <= max_t:
            break
        level_salt = _LEVEL_SALTS[i] if i < len(_LEVEL_SALTS) else (i * _LEVEL_MIX) & _M64
        x = ((salt ^ level_salt) + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        h = x ^ (x >> 31)  # mix64(salt ^ level_salt)
        levels.append((t * tu, SIZE_POOL[h & 1023]))
        t += direction * (1 + ((h >> 10) & 3 == 0) + ((h >> 12) & 7 == 0))
    return levels


def book_levels(
    params: PriceParams, quote: Quote, step: int
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Bids and asks of a token's book, each best-first, consistent with `quote`."""
    s = effective_step(params, step)
    salt = mix64(params.seed ^ 0x5EED ^ ((s * _STEP_MIX) & _M64))
    tu = params.tick_units
    bids = _side_levels(params, quote.bid_units // tu, -1, salt)
    asks = _side_levels(params, quote.ask_units // tu, +1, salt ^ 0xA5A5A5A5)
    return bids, asks


_LEVEL_JSON_HEAD: tuple[str, ...] = tuple(f'{{"price":"{text}","size":"' for text in PRICE_STR)


def _levels_json(levels: list[tuple[int, str]]) -> str:
    head = _LEVEL_JSON_HEAD
    return ",".join([head[u] + size + '"}' for u, size in levels])


def encode_book(
    *,
    condition_id: str,
    asset_id: str,
    timestamp_ms: int,
    bids_best_first: list[tuple[int, str]],
    asks_best_first: list[tuple[int, str]],
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> bytes:
    """Serialise a book like live `GET /book`: bids ascending, asks descending (best LAST)."""
    bids = _levels_json(bids_best_first[::-1])
    asks = _levels_json(asks_best_first[::-1])
    neg = "true" if neg_risk else "false"
    content = f"{condition_id}|{asset_id}|{bids}|{asks}|{tick_size}|{neg}|{last_trade_price}"
    digest = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()
    return (
        f'{{"market":"{condition_id}","asset_id":"{asset_id}","timestamp":"{timestamp_ms}",'
        f'"hash":"{digest}","bids":[{bids}],"asks":[{asks}],"min_order_size":"5",'
        f'"tick_size":"{tick_size}","neg_risk":{neg},"last_trade_price":"{last_trade_price}"}}'
    ).encode()


def mirror_levels(levels: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The other outcome's side: price 1 - p, same size, same best-first order."""
    return [(SCALE - u, size) for u, size in levels]
