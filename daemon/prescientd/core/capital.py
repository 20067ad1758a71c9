"""How the paper money was used: return per dollar-day of capital locked, and P&L by config version.

Both read the ledger rows directly (models.Trade / models.Settlement, or the tagged wrappers below
when the strategy and config version are known), one strategy at a time: each strategy is its own
paper account, so its rows are folded with core.ledger on their own.

Conventions:
- Capital locked by a position is its cost basis (notional + fees, average-cost method as in
  core.ledger); it is locked from the buy until the settlement, or until `now` while open. A partial
  sale reduces the cost locked from the moment of the sale. Time is exact: days = seconds / 86400.
- P&L is realized + unrealized, the open positions marked at `marks` (price per share, the same
  mark the portfolio uses: best bid). A position without a mark is valued at cost, and counted.
- Annualized return = return per dollar-day x 365 (simple, not compounded).
- P&L by version: each buy belongs to the config version in force when it executed (its own tag if
  given); realized P&L is attributed to the buys as core.ledger.buy_outcomes does, unrealized P&L to
  the buys still open. fees_usd is the fees of the trades executed under that version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from prescientd.core import ledger
from prescientd.models import ZERO, Position, Settlement, Side, Trade

DEFAULT_STRATEGY = "default"
DAYS_PER_YEAR = 365
SECONDS_PER_DAY = Decimal(86400)
_MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class TaggedTrade:
    """A ledger trade with the strategy that made it and, when known, its config version."""

    trade: Trade
    strategy: str = DEFAULT_STRATEGY
    config_version: int | None = None


@dataclass(frozen=True, slots=True)
class TaggedSettlement:
    """A ledger settlement with the strategy whose position it closed."""

    settlement: Settlement
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """One loaded configuration (the config_versions ledger): when, and which keys changed."""

    version: int
    loaded_at: datetime
    changed_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CapitalUse:
    """One strategy's P&L against its starting balance and against the capital it locked."""

    strategy: str
    starting_balance_usd: Decimal
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal
    pnl_usd: Decimal
    fees_usd: Decimal
    return_on_balance: Decimal | None
    dollar_days: Decimal
    return_per_dollar_day: Decimal | None
    annualized_return: Decimal | None
    capital_locked_usd: Decimal
    average_locked_usd: Decimal | None
    trade_count: int
    open_positions: int
    unmarked_positions: int


@dataclass(frozen=True, slots=True)
class VersionPnl:
    """P&L of the entries one strategy made under one config version (None = no version known)."""

    strategy: str
    config_version: int | None
    loaded_at: datetime | None
    changed_keys: tuple[str, ...]
    entries: int
    trade_count: int
    cost_usd: Decimal
    fees_usd: Decimal
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal
    pnl_usd: Decimal

    @property
    def return_on_cost(self) -> Decimal | None:
        """P&L per dollar the version's entries cost, or None without entries."""
        return self.pnl_usd / self.cost_usd if self.cost_usd > 0 else None


TradeRow = Trade | TaggedTrade
SettlementRow = Settlement | TaggedSettlement


def tag_trade(row: TradeRow) -> TaggedTrade:
    """A trade row with its strategy: its tag, else the strategy the ledger row names."""
    if isinstance(row, TaggedTrade):
        return row
    return TaggedTrade(row, row.strategy)


def tag_settlement(row: SettlementRow) -> TaggedSettlement:
    """A settlement row with its strategy, as tag_trade."""
    if isinstance(row, TaggedSettlement):
        return row
    return TaggedSettlement(row, row.strategy)


@dataclass(frozen=True, slots=True)
class _Account:
    strategy: str
    starting_balance_usd: Decimal
    trades: tuple[TaggedTrade, ...]
    settlements: tuple[Settlement, ...]


def _accounts(
    trades: Sequence[TradeRow],
    settlements: Sequence[SettlementRow],
    starting_balances_usd: Mapping[str, Decimal],
) -> list[_Account]:
    """The rows of each strategy, for every strategy with a balance or a row, default first."""
    tagged = [tag_trade(t) for t in trades]
    closed = [tag_settlement(s) for s in settlements]
    # display order, as strategies.csv: "default" first, then by name
    names = sorted(
        {*starting_balances_usd, *(t.strategy for t in tagged)},
        key=lambda name: (name != DEFAULT_STRATEGY, name),
    )
    out = []
    for name in names:
        balance = starting_balances_usd.get(name)
        if balance is None:
            raise ValueError(f"strategy {name!r} has trades but no starting balance")
        own_trades = tuple(t for t in tagged if t.strategy == name)
        own_settlements = tuple(s.settlement for s in closed if s.strategy == name)
        out.append(_Account(name, balance, own_trades, own_settlements))
    return out


def dollar_days(
    trades: Sequence[Trade], settlements: Sequence[Settlement], now: datetime
) -> Decimal:
    """Sum over positions of cost locked x days locked, for one strategy's ledger rows."""
    entries: list[tuple[int, datetime, Trade | Settlement]] = [
        (t.seq, t.executed_at, t) for t in trades
    ]
    entries += [(s.seq, s.settled_at, s) for s in settlements]
    entries.sort(key=lambda entry: entry[0])
    # per token: shares held, cost locked, and since when that cost has been locked
    held: dict[str, tuple[Decimal, Decimal, datetime]] = {}
    total = ZERO
    for _, at, entry in entries:
        shares, cost, since = held.get(entry.token_id, (ZERO, ZERO, at))
        total += cost * _days(since, at)
        if isinstance(entry, Settlement):
            shares, cost = ZERO, ZERO
        elif entry.side is Side.BUY:
            shares, cost = shares + entry.shares, cost + entry.notional_usd + entry.fees_usd
        elif entry.shares >= shares:
            shares, cost = ZERO, ZERO
        else:  # the same average-cost removal, rounded to micro-dollars, as core.ledger
            removed = (cost * entry.shares / shares).quantize(_MICRO, rounding=ROUND_HALF_EVEN)
            shares, cost = shares - entry.shares, cost - removed
        if shares > 0:
            held[entry.token_id] = (shares, cost, at)
        else:
            held.pop(entry.token_id, None)
    return total + sum((cost * _days(since, now) for _, cost, since in held.values()), ZERO)


def _days(start: datetime, end: datetime) -> Decimal:
    """Exact days from start to end; never negative (a clock step back locks nothing)."""
    if end <= start:
        return ZERO
    delta = end - start
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 10**6
    return seconds / SECONDS_PER_DAY


def _unrealized(
    portfolio_positions: Mapping[str, Position], marks: Mapping[str, Decimal]
) -> tuple[Decimal, int]:
    unrealized = ZERO
    unmarked = 0
    for position in portfolio_positions.values():
        mark = marks.get(position.token_id)
        if mark is None:
            unmarked += 1
            continue
        unrealized += position.shares * mark - position.cost_usd
    return unrealized, unmarked


def capital_use(
    trades: Sequence[TradeRow],
    settlements: Sequence[SettlementRow],
    *,
    starting_balances_usd: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
    now: datetime,
) -> tuple[CapitalUse, ...]:
    """Per strategy: P&L, plain return on the starting balance, and return per dollar-day locked."""
    out = []
    for account in _accounts(trades, settlements, starting_balances_usd):
        plain = [t.trade for t in account.trades]
        portfolio = ledger.replay(account.starting_balance_usd, plain, account.settlements)
        unrealized, unmarked = _unrealized(portfolio.positions, marks)
        pnl = portfolio.realized_pnl_usd + unrealized
        locked_days = dollar_days(plain, account.settlements, now)
        per_dollar_day = pnl / locked_days if locked_days > 0 else None
        first = min((t.executed_at for t in plain), default=None)
        period_days = _days(first, now) if first is not None else ZERO
        balance = account.starting_balance_usd
        out.append(
            CapitalUse(
                strategy=account.strategy,
                starting_balance_usd=balance,
                realized_pnl_usd=portfolio.realized_pnl_usd,
                unrealized_pnl_usd=unrealized,
                pnl_usd=pnl,
                fees_usd=portfolio.fees_usd,
                return_on_balance=pnl / balance if balance > 0 else None,
                dollar_days=locked_days,
                return_per_dollar_day=per_dollar_day,
                annualized_return=(
                    per_dollar_day * DAYS_PER_YEAR if per_dollar_day is not None else None
                ),
                capital_locked_usd=sum((p.cost_usd for p in portfolio.positions.values()), ZERO),
                average_locked_usd=locked_days / period_days if period_days > 0 else None,
                trade_count=portfolio.trade_count,
                open_positions=len(portfolio.positions),
                unmarked_positions=unmarked,
            )
        )
    return tuple(out)


def version_in_force(versions: Sequence[ConfigVersion], at: datetime) -> ConfigVersion | None:
    """The latest config version loaded at or before `at`, or None before the first one."""
    loaded = [v for v in versions if v.loaded_at <= at]
    return max(loaded, key=lambda v: (v.loaded_at, v.version), default=None)


def _group_by_version(
    account: _Account, versions: Sequence[ConfigVersion]
) -> dict[int | None, list[Trade]]:
    groups: dict[int | None, list[Trade]] = {}
    for tagged in account.trades:
        number = tagged.config_version
        if number is None:
            found = version_in_force(versions, tagged.trade.executed_at)
            number = found.version if found is not None else None
        groups.setdefault(number, []).append(tagged.trade)
    return groups


def _open_lots_pnl(
    buys: Sequence[Trade],
    outcomes: Mapping[int, ledger.BuyOutcome],
    positions: Mapping[str, Position],
    marks: Mapping[str, Decimal],
) -> Decimal:
    """Unrealized P&L of the still-open part of each buy (unmarked positions count as at cost)."""
    total = ZERO
    for buy in buys:
        open_shares = outcomes[buy.trade_id].open_shares
        position = positions.get(buy.token_id)
        mark = marks.get(buy.token_id)
        if open_shares > 0 and position is not None and mark is not None:
            # the open part of a buy carries its share of the averaged position cost
            total += open_shares * mark - position.cost_usd * open_shares / position.shares
    return total


def pnl_by_version(
    trades: Sequence[TradeRow],
    settlements: Sequence[SettlementRow],
    *,
    starting_balances_usd: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
    versions: Sequence[ConfigVersion],
) -> tuple[VersionPnl, ...]:
    """P&L of each strategy's entries grouped by the config version they were made under."""
    by_number = {v.version: v for v in versions}
    rows: list[VersionPnl] = []
    for account in _accounts(trades, settlements, starting_balances_usd):
        plain = [t.trade for t in account.trades]
        balance = account.starting_balance_usd
        outcomes = ledger.buy_outcomes(balance, plain, account.settlements)
        positions = ledger.replay(balance, plain, account.settlements).positions
        groups = _group_by_version(account, versions)
        for number in sorted(groups, key=lambda n: -1 if n is None else n):
            version = by_number.get(number) if number is not None else None
            members = groups[number]
            buys = [t for t in members if t.side is Side.BUY]
            realized = sum((outcomes[t.trade_id].realized_pnl_usd for t in buys), ZERO)
            unrealized = _open_lots_pnl(buys, outcomes, positions, marks)
            rows.append(
                VersionPnl(
                    strategy=account.strategy,
                    config_version=number,
                    loaded_at=version.loaded_at if version is not None else None,
                    changed_keys=version.changed_keys if version is not None else (),
                    entries=len(buys),
                    trade_count=len(members),
                    cost_usd=sum((t.notional_usd + t.fees_usd for t in buys), ZERO),
                    fees_usd=sum((t.fees_usd for t in members), ZERO),
                    realized_pnl_usd=realized,
                    unrealized_pnl_usd=unrealized,
                    pnl_usd=realized + unrealized,
                )
            )
    return tuple(rows)
