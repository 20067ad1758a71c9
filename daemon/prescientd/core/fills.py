"""Paper fills: walk a CLOB book level by level, cap the slippage, charge Polymarket's taker fee.

Everything is exact Decimal arithmetic: shares are whole cents of a share (0.01), notional is
shares x price, and each level's fee is rounded to 5 decimals as Polymarket does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from prescientd.models import ONE, ZERO, Book, FeeSchedule, Fill, FillLevel, Level, Side

SHARE_STEP = Decimal("0.01")
FEE_STEP = Decimal("0.00001")
# Polymarket charges at least this much whenever a fee is due at all.
MIN_FEE_USD = FEE_STEP
DEFAULT_MIN_ORDER_SIZE = Decimal(5)
# Enough digits that an integer power of p(1-p) (8 decimals per factor at most) is never rounded.
_EXACT_PRECISION = 200


@dataclass(frozen=True, slots=True)
class NoFill:
    """A simulated order that could not be filled, and why."""

    reason: str


def taker_fee(shares: Decimal, price: Decimal, schedule: FeeSchedule | None) -> Decimal:
    """Taker fee in USD: shares x rate x (p x (1 - p)) ** exponent, HALF_UP to 5 dp, min 0.00001."""
    if schedule is None or shares <= 0 or schedule.rate <= 0:
        return ZERO
    base = price * (ONE - price)
    if base <= 0:
        return ZERO
    exponent = schedule.exponent
    with localcontext() as ctx:
        # Exact for integer exponents; a fractional one has no exact decimal value and is correctly
        # rounded to 40 digits (200 would be 100x slower), far below the 5-dp rounding that follows.
        ctx.prec = _EXACT_PRECISION if exponent == exponent.to_integral_value() else 40
        raw = shares * schedule.rate * base**exponent
        fee = raw.quantize(FEE_STEP, rounding=ROUND_HALF_UP)
    if fee == 0 and raw > 0:
        return MIN_FEE_USD
    return fee


def _floor_shares(amount: Decimal) -> Decimal:
    return amount.quantize(SHARE_STEP, rounding=ROUND_DOWN)


def _affordable_shares(budget_usd: Decimal, price: Decimal) -> Decimal:
    # integer division is exact, unlike budget / price which rounds at the context precision
    cents = (budget_usd * 100) // price
    return cents * SHARE_STEP


def _total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def simulate_buy(
    book: Book,
    stake_usd: Decimal,
    *,
    max_slippage: Decimal,
    fee_schedule: FeeSchedule | None,
    min_order_size: Decimal,
) -> Fill | NoFill:
    """Spend up to stake_usd of notional on the asks, best first, never above best ask + slippage.

    Fees come on top of the stake; what the capped book cannot absorb is reported as unfilled_usd.
    """
    if stake_usd <= 0:
        return NoFill(f"stake must be positive, got {stake_usd}")
    asks = _sorted_levels(book.asks, best_first_descending=False)
    if not asks:
        return NoFill("no asks")
    best_ask = asks[0].price
    price_cap = best_ask + max_slippage
    remaining_usd = stake_usd
    taken: list[FillLevel] = []
    for level in asks:
        if level.price > price_cap or remaining_usd <= 0:
            break
        affordable = _affordable_shares(remaining_usd, level.price)
        if affordable <= 0:
            # the budget left cannot buy 0.01 share here, and later levels only cost more
            break
        shares = _floor_shares(min(level.size, affordable))
        if shares <= 0:
            continue  # a level smaller than 0.01 share
        notional_usd = shares * level.price
        taken.append(FillLevel(level.price, shares, taker_fee(shares, level.price, fee_schedule)))
        remaining_usd -= notional_usd
    return _finish(book, Side.BUY, taken, remaining_usd, min_order_size)


def simulate_sell(
    book: Book,
    shares: Decimal,
    *,
    max_slippage: Decimal,
    fee_schedule: FeeSchedule | None,
    min_order_size: Decimal,
) -> Fill | NoFill:
    """Sell up to shares into the bids, best first, never below best bid - slippage.

    notional_usd is the gross proceeds; the fee (fees_usd) is deducted from them by the ledger.
    Shares the capped book cannot absorb stay unsold (compare fill.shares with the request).
    """
    if shares <= 0:
        return NoFill(f"nothing to sell ({shares} shares)")
    bids = _sorted_levels(book.bids, best_first_descending=True)
    if not bids:
        return NoFill("no bids")
    best_bid = bids[0].price
    price_floor = best_bid - max_slippage
    remaining = shares
    taken: list[FillLevel] = []
    for level in bids:
        if level.price < price_floor or _floor_shares(remaining) <= 0:
            break
        sold = _floor_shares(min(level.size, remaining))
        if sold <= 0:
            continue  # a level smaller than 0.01 share
        taken.append(FillLevel(level.price, sold, taker_fee(sold, level.price, fee_schedule)))
        remaining -= sold
    return _finish(book, Side.SELL, taken, ZERO, min_order_size)


def _sorted_levels(levels: tuple[Level, ...], *, best_first_descending: bool) -> list[Level]:
    # Book promises best-first order; sorting again is cheap insurance for the walk's early exit.
    usable = [level for level in levels if level.price > 0 and level.size > 0]
    return sorted(usable, key=lambda level: level.price, reverse=best_first_descending)


def _finish(
    book: Book,
    side: Side,
    taken: list[FillLevel],
    unfilled_usd: Decimal,
    min_order_size: Decimal,
) -> Fill | NoFill:
    total_shares = _total(level.shares for level in taken)
    if total_shares < min_order_size:
        return NoFill(
            f"below minimum order size: {total_shares} shares fillable within the slippage cap, "
            f"minimum {min_order_size}"
        )
    return Fill(
        token_id=book.token_id,
        side=side,
        shares=total_shares,
        notional_usd=_total(level.price * level.shares for level in taken),
        fees_usd=_total(level.fees_usd for level in taken),
        levels=tuple(taken),
        unfilled_usd=unfilled_usd,
    )
