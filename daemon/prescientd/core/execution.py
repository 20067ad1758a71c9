"""Turn actionable signals and exit rules into trade intents, filled against the current books."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from prescientd.core.fills import DEFAULT_MIN_ORDER_SIZE, NoFill, simulate_buy, simulate_sell
from prescientd.core.keys import idempotency_key
from prescientd.models import (
    DEFAULT_STRATEGY,
    ZERO,
    Book,
    FeeSchedule,
    Market,
    Portfolio,
    Signal,
    SignalStatus,
    SkipReason,
    TradeIntent,
)


@dataclass(frozen=True, slots=True)
class Skip:
    """An actionable signal whose entry could not be made: why, as a code and in words."""

    signal: Signal
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The entries to execute, and the actionable signals that were not executed, with why."""

    intents: tuple[TradeIntent, ...]
    skipped: tuple[Skip, ...]


def exit_key(
    token_id: str, entry_number: int, held_shares: Decimal, strategy: str = DEFAULT_STRATEGY
) -> str:
    """Idempotency key of an exit: the token, its market's entry count and the shares then held.

    The held shares make a later exit of what a partial fill left behind a new trade, while a
    replay of the same exit decision (same holding) maps to the same key.
    """
    text = f"exit|{token_id}|entry{entry_number}|shares{format(held_shares.normalize(), 'f')}"
    return idempotency_key(text, strategy)


def min_order_size(book: Book, market: Market | None) -> Decimal:
    """The book's minimum order size, else the market's, else Polymarket's usual 5 shares."""
    if book.min_order_size:
        return book.min_order_size
    if market is not None and market.min_order_size:
        return market.min_order_size
    return DEFAULT_MIN_ORDER_SIZE


def _fee_schedule(market: Market | None, fees_enabled: bool) -> FeeSchedule | None:
    return market.fee_schedule if fees_enabled and market is not None else None


def plan_entries(
    signals: Sequence[Signal],
    books: Mapping[str, Book],
    markets: Mapping[str, Market],
    portfolio: Portfolio,
    *,
    max_slippage: Decimal,
    fees_enabled: bool,
    cash_reserve_usd: Decimal,
) -> Plan:
    """Fill each actionable signal's stake against its book while cash above the reserve lasts.

    Staleness was already judged by the strategy; here a signal is skipped when its book or market
    is missing, the book cannot fill it (NO_FILL), or its cost with fees exceeds the cash left
    above the reserve (CASH_RESERVE).
    """
    intents: list[TradeIntent] = []
    skipped: list[Skip] = []
    planned_usd = ZERO
    for signal in signals:
        if signal.status is not SignalStatus.ACTIONABLE:
            continue
        book = books.get(signal.token_id)
        if book is None:
            skipped.append(Skip(signal, SkipReason.NO_FILL, "no book"))
            continue
        market = markets.get(signal.market_id)
        if market is None:
            skipped.append(Skip(signal, SkipReason.NO_FILL, "unknown market"))
            continue
        fill = simulate_buy(
            book,
            signal.stake_usd,
            max_slippage=max_slippage,
            fee_schedule=_fee_schedule(market, fees_enabled),
            min_order_size=min_order_size(book, market),
        )
        if isinstance(fill, NoFill):
            skipped.append(Skip(signal, SkipReason.NO_FILL, fill.reason))
            continue
        cost_usd = fill.notional_usd + fill.fees_usd
        available_usd = portfolio.spendable_usd(cash_reserve_usd, planned_usd)
        if cost_usd > available_usd:
            detail = f"cash: needs {cost_usd} USD, {available_usd} available above the reserve"
            skipped.append(Skip(signal, SkipReason.CASH_RESERVE, detail))
            continue
        planned_usd += cost_usd
        intents.append(
            TradeIntent(
                idempotency_key=signal.idempotency_key,
                market_id=signal.market_id,
                event_id=signal.event_id,
                token_id=signal.token_id,
                outcome=signal.outcome,
                question=signal.question,
                fill=fill,
                reason=signal.reason,
                strategy=signal.strategy,
            )
        )
    return Plan(intents=tuple(intents), skipped=tuple(skipped))


def with_skips(signals: Sequence[Signal], skipped: Sequence[Skip]) -> list[Signal]:
    """The signals, each actionable one that could not be entered marked skipped with its reason."""
    why = {skip.signal.idempotency_key: skip for skip in skipped}
    out = []
    for signal in signals:
        skip = why.get(signal.idempotency_key)
        if skip is not None and signal.status is SignalStatus.ACTIONABLE:
            signal = replace(
                signal,
                status=SignalStatus.SKIPPED,
                skip_reason=skip.reason,
                reason=f"{signal.reason}; skipped: {skip.detail}",
            )
        out.append(signal)
    return out


def plan_exits(
    portfolio: Portfolio,
    books: Mapping[str, Book],
    markets: Mapping[str, Market],
    *,
    take_profit_price: Decimal | None,
    stop_loss_price: Decimal | None,
    max_slippage: Decimal,
    fees_enabled: bool,
) -> tuple[TradeIntent, ...]:
    """Sell whole positions whose best bid reached the take-profit or fell to the stop-loss price.

    A position without a book or bids, whose market (fee schedule) is unknown while fees are on,
    or whose sale cannot meet the minimum size, is kept.
    """
    if take_profit_price is None and stop_loss_price is None:
        return ()
    intents: list[TradeIntent] = []
    for position in portfolio.positions.values():
        book = books.get(position.token_id)
        bid_prices = [level.price for level in book.bids if level.size > 0] if book else []
        if book is None or not bid_prices:
            continue
        best_bid = max(bid_prices)
        if take_profit_price is not None and best_bid >= take_profit_price:
            reason = f"take profit: best bid {best_bid} >= {take_profit_price}"
        elif stop_loss_price is not None and best_bid <= stop_loss_price:
            reason = f"stop loss: best bid {best_bid} <= {stop_loss_price}"
        else:
            continue
        market = markets.get(position.market_id)
        if market is None and fees_enabled:
            continue  # its fee schedule is unknown, and a fee-less sale would flatter the P&L
        fill = simulate_sell(
            book,
            position.shares,
            max_slippage=max_slippage,
            fee_schedule=_fee_schedule(market, fees_enabled),
            min_order_size=min_order_size(book, market),
        )
        if isinstance(fill, NoFill):
            continue
        entry_number = portfolio.entries_by_market.get(position.market_id, 0)
        intents.append(
            TradeIntent(
                idempotency_key=exit_key(
                    position.token_id, entry_number, position.shares, portfolio.strategy
                ),
                market_id=position.market_id,
                event_id=position.event_id,
                token_id=position.token_id,
                outcome=position.outcome,
                question=position.question,
                fill=fill,
                reason=reason,
                strategy=portfolio.strategy,
            )
        )
    return tuple(intents)
