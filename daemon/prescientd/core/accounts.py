"""Several strategies side by side: which accounts exist, what they hold, how they compare.

Each strategy trades its own paper account (DESIGN.md §10). A strategy is *active* while the
config names it (`[strategy]` is "default", each `[strategies.NAME]` a variant) and *retired*
once a reload drops its table: a retired account is still marked and settled, and makes no new
trades. Pure: values in, values out — the live poll and a replay run strategies through the
same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from prescientd.config import StrategySpec
from prescientd.core import execution, ledger, strategy
from prescientd.models import (
    DEFAULT_STRATEGY,
    ONE,
    ZERO,
    Book,
    EvaluationBatch,
    Market,
    Portfolio,
    PortfolioSnapshot,
    Quote,
    SettlementIntent,
    TradeIntent,
    Valuation,
)

AccountStatus = Literal["active", "retired"]


def ordered(names: Iterable[str]) -> list[str]:
    """Strategy names in display order: "default" first, then the others by name."""
    return sorted(set(names), key=lambda name: (name != DEFAULT_STRATEGY, name))


def held_markets(portfolios: Iterable[Portfolio]) -> frozenset[str]:
    """Every market any of the portfolios holds a position in."""
    return frozenset(market for p in portfolios for market in p.held_markets())


def status(name: str, active: Iterable[str]) -> AccountStatus:
    """Whether the config still names the strategy (active) or a reload dropped it (retired)."""
    return "active" if name in set(active) else "retired"


def new_accounts(
    starting_balances_usd: Mapping[str, Decimal], opened: Iterable[str]
) -> dict[str, Decimal]:
    """The active strategies that have no account yet, with the deposit each is to get."""
    have = set(opened)
    return {name: usd for name, usd in starting_balances_usd.items() if name not in have}


@dataclass(frozen=True, slots=True)
class StrategyFigures:
    """One strategy's account compared with the others (strategies.csv, `status`)."""

    strategy: str
    status: AccountStatus
    starting_balance_usd: Decimal
    cash_usd: Decimal
    positions_value_usd: Decimal
    equity_usd: Decimal
    total_pnl_usd: Decimal
    cumulative_return: Decimal | None
    max_drawdown: Decimal
    win_rate: Decimal | None
    trade_count: int
    settled_positions: int
    settled_wins: int
    fees_usd: Decimal
    capital_locked_usd: Decimal
    open_positions: int
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal


def max_drawdown(starting_balance_usd: Decimal, equities_usd: Sequence[Decimal]) -> Decimal:
    """The deepest fall of equity from its running peak (which starts at the deposit), as a
    ratio <= 0: -0.05 is 5% below the peak. The rule of performance_daily.csv."""
    peak, deepest = starting_balance_usd, ZERO
    for equity in equities_usd:
        peak = max(peak, equity)
        if peak > 0:
            deepest = min(deepest, equity / peak - ONE)
    return deepest


def figures(
    portfolio: Portfolio,
    valuation: Valuation,
    snapshots: Sequence[PortfolioSnapshot],
    account_status: AccountStatus,
) -> StrategyFigures:
    """A strategy's comparison figures now.

    Max drawdown runs over its evening snapshots' equity (date order) followed by the equity now;
    win rate is settled wins / settled positions; capital locked is the cost (fees included) of
    its open positions.
    """
    start = portfolio.starting_balance_usd
    ordered_snapshots = sorted(snapshots, key=lambda s: (s.local_date, s.taken_at))
    equities = [s.equity_usd for s in ordered_snapshots] + [valuation.equity_usd]
    settled = portfolio.settled_positions
    return StrategyFigures(
        strategy=portfolio.strategy,
        status=account_status,
        starting_balance_usd=start,
        cash_usd=valuation.cash_usd,
        positions_value_usd=valuation.positions_value_usd,
        equity_usd=valuation.equity_usd,
        total_pnl_usd=valuation.equity_usd - start,
        cumulative_return=valuation.equity_usd / start - ONE if start > 0 else None,
        max_drawdown=max_drawdown(start, equities),
        win_rate=Decimal(portfolio.settled_wins) / Decimal(settled) if settled else None,
        trade_count=portfolio.trade_count,
        settled_positions=settled,
        settled_wins=portfolio.settled_wins,
        fees_usd=valuation.fees_usd,
        capital_locked_usd=sum((p.cost_usd for p in portfolio.positions.values()), ZERO),
        open_positions=len(portfolio.positions),
        realized_pnl_usd=valuation.realized_pnl_usd,
        unrealized_pnl_usd=valuation.unrealized_pnl_usd,
    )


def _account(portfolios: Mapping[str, Portfolio], spec: StrategySpec) -> Portfolio:
    """The strategy's portfolio; a new account (its deposit, all cash) when it has none yet."""
    found = portfolios.get(spec.name)
    return found if found is not None else ledger.opening(spec.starting_balance_usd, spec.name)


def evaluate(
    specs: Sequence[StrategySpec],
    portfolios: Mapping[str, Portfolio],
    markets: Sequence[Market],
    quotes: Mapping[str, Quote],
    books: Mapping[str, Book],
    *,
    max_price_age_s: float,
    max_slippage: Decimal,
    fees_enabled: bool,
    now: datetime,
) -> list[EvaluationBatch]:
    """Every active strategy's signals and entries on the same quotes and books.

    Each strategy decides on its own account (its cash, holdings, entry counts and keys); the
    markets, quotes and books are the one poll's, shared, so adding a strategy costs no request.
    """
    by_id = {m.market_id: m for m in markets}
    batches = []
    for spec in specs:
        portfolio = _account(portfolios, spec)
        signals = strategy.decide(markets, quotes, portfolio, spec.rule, max_price_age_s, now)
        plan = execution.plan_entries(
            signals,
            books,
            by_id,
            portfolio,
            max_slippage=max_slippage,
            fees_enabled=fees_enabled,
            cash_reserve_usd=spec.rule.cash_reserve_usd,
        )
        final = execution.with_skips(signals, plan.skipped)
        batches.append(EvaluationBatch(spec.name, len(markets), tuple(final), plan.intents))
    return batches


def plan_exits(
    specs: Sequence[StrategySpec],
    portfolios: Mapping[str, Portfolio],
    books: Mapping[str, Book],
    markets: Mapping[str, Market],
    *,
    max_slippage: Decimal,
    fees_enabled: bool,
) -> tuple[TradeIntent, ...]:
    """The take-profit and stop-loss sales of every active strategy, each by its own rule (a
    retired strategy makes no new trade, exits included: its positions run to settlement)."""
    intents: list[TradeIntent] = []
    for spec in specs:
        if spec.name in portfolios:
            intents += execution.plan_exits(
                portfolios[spec.name],
                books,
                markets,
                take_profit_price=spec.rule.take_profit_price,
                stop_loss_price=spec.rule.stop_loss_price,
                max_slippage=max_slippage,
                fees_enabled=fees_enabled,
            )
    return tuple(intents)


def settlement_intents(
    portfolios: Iterable[Portfolio], check: ledger.ResolutionCheck, market_id: str
) -> list[SettlementIntent]:
    """The settlements of a resolved market for every strategy holding it, active or retired:
    one verdict, each position paid into its own account under its own key."""
    return [
        intent
        for portfolio in portfolios
        for intent in ledger.settlement_intents(portfolio, check, market_id)
    ]
