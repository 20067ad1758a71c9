"""Frozen value types shared by the core, the edges and the jobs.

Prices, sizes and money are `Decimal` everywhere in memory (never float); the store converts them to
integer micro-units. Token ids are decimal strings of 76-78 digits and stay strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

ZERO = Decimal(0)
ONE = Decimal(1)
# The strategy of `[strategy]`: the one account a database made before several strategies had.
DEFAULT_STRATEGY = "default"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's taker fee: fee = shares x rate x (p x (1 - p)) ** exponent."""

    rate: Decimal
    exponent: Decimal = ONE
    taker_only: bool = True


@dataclass(frozen=True, slots=True)
class Market:
    """One Gamma market, normalised. Index 0 of outcomes/token_ids plays YES, index 1 plays NO."""

    market_id: str
    event_id: str
    condition_id: str
    slug: str
    question: str
    outcomes: tuple[str, ...]
    token_ids: tuple[str, ...]
    outcome_prices: tuple[Decimal, ...]
    active: bool
    closed: bool
    accepting_orders: bool
    enable_order_book: bool
    uma_resolution_status: str | None
    uma_resolution_statuses: tuple[str, ...]
    end_date: datetime | None
    liquidity_usd: Decimal
    volume_usd: Decimal
    volume_24h_usd: Decimal
    tick_size: Decimal | None
    min_order_size: Decimal | None
    fee_schedule: FeeSchedule | None
    neg_risk: bool
    neg_risk_other: bool = False
    fees_enabled: bool = False

    @property
    def yes_token_id(self) -> str:
        """The token that plays YES (outcome 0)."""
        return self.token_ids[0]

    @property
    def no_token_id(self) -> str:
        """The token that plays NO (outcome 1)."""
        return self.token_ids[1]


@dataclass(frozen=True, slots=True)
class Event:
    """One Gamma event with its child markets (all of them, eligible or not)."""

    event_id: str
    slug: str
    title: str
    tags: tuple[str, ...]
    active: bool
    closed: bool
    end_date: datetime | None
    liquidity_usd: Decimal
    volume_usd: Decimal
    volume_24h_usd: Decimal
    neg_risk: bool
    markets: tuple[Market, ...]
    # every child market Gamma listed, (market id, question), placeholders and closed ones too,
    # kept when `markets` is cut down to the eligible ones; complete when none failed to parse
    children: tuple[tuple[str, str], ...] = ()
    children_complete: bool = False


class Level(msgspec.Struct, frozen=True, gc=False):
    """One price level of an order book: price in 0..1, size in shares.

    A frozen msgspec Struct rather than a frozen dataclass: the same fields, positional and keyword
    construction, equality, hashing and immutability, but built ~9x faster (a full-universe poll
    builds millions of them) and, holding only Decimals, never tracked by the cyclic GC.
    """

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """A CLOB order book. bids are sorted best (highest) first, asks best (lowest) first."""

    token_id: str
    condition_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    timestamp_ms: int
    hash: str
    tick_size: Decimal | None
    min_order_size: Decimal | None
    last_trade_price: Decimal | None
    neg_risk: bool = False


class PriceSource(StrEnum):
    """Which price of a token the strategy compares with its threshold."""

    DISPLAY = "display"
    MID = "mid"
    BEST_BID = "best_bid"
    BEST_ASK = "best_ask"
    LAST = "last"


@dataclass(frozen=True, slots=True)
class Quote:
    """The price model of one token at one fetch: what the strategy, fills and mirrors read."""

    token_id: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    mid: Decimal | None
    spread: Decimal | None
    display: Decimal | None
    last_trade: Decimal | None
    bid_depth_shares: Decimal
    bid_depth_usd: Decimal
    ask_depth_shares: Decimal
    ask_depth_usd: Decimal
    tick_size: Decimal | None
    min_order_size: Decimal | None
    book_timestamp_ms: int
    book_hash: str
    fetched_at: datetime

    def price(self, source: PriceSource) -> Decimal | None:
        """The price named by source, or None when the book cannot give it."""
        return {
            PriceSource.DISPLAY: self.display,
            PriceSource.MID: self.mid,
            PriceSource.BEST_BID: self.best_bid,
            PriceSource.BEST_ASK: self.best_ask,
            PriceSource.LAST: self.last_trade,
        }[source]

    def age_s(self, now: datetime) -> float:
        """Seconds since this quote was fetched."""
        return (now - self.fetched_at).total_seconds()


class Action(StrEnum):
    """What an actionable signal buys."""

    BUY_NO = "buy_no"
    BUY_YES = "buy_yes"


class SignalStatus(StrEnum):
    """Whether a signal will be executed."""

    ACTIONABLE = "actionable"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    """Why a market that crossed the threshold is not traded."""

    STALE_PRICE = "stale_price"
    PRICE_BAND = "price_band"
    SPREAD = "spread"
    THIN_BOOK = "thin_book"
    HELD = "held"
    NOT_BEST_IN_EVENT = "not_best_in_event"
    MAX_OPEN_POSITIONS = "max_open_positions"
    CASH_RESERVE = "cash_reserve"
    NO_FILL = "no_fill"


@dataclass(frozen=True, slots=True)
class Signal:
    """One market that crossed the threshold in one evaluation."""

    market_id: str
    event_id: str
    question: str
    action: Action
    token_id: str
    outcome: str
    price_source: PriceSource
    yes_price: Decimal
    threshold: Decimal
    confidence: Decimal
    stake_usd: Decimal
    status: SignalStatus
    reason: str
    skip_reason: SkipReason | None
    idempotency_key: str
    liquidity_usd: Decimal = ZERO
    strategy: str = DEFAULT_STRATEGY


class Side(StrEnum):
    """Direction of a paper trade."""

    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class FillLevel:
    """The part of a fill taken at one book level."""

    price: Decimal
    shares: Decimal
    fees_usd: Decimal


@dataclass(frozen=True, slots=True)
class Fill:
    """A simulated execution: shares at a volume-weighted price plus taker fees."""

    token_id: str
    side: Side
    shares: Decimal
    notional_usd: Decimal
    fees_usd: Decimal
    levels: tuple[FillLevel, ...]
    unfilled_usd: Decimal = ZERO

    @property
    def avg_price(self) -> Decimal:
        """Volume-weighted average price before fees."""
        return self.notional_usd / self.shares if self.shares else ZERO


@dataclass(frozen=True, slots=True)
class TradeIntent:
    """A fill ready to be written to the ledger, with its idempotency key."""

    idempotency_key: str
    market_id: str
    event_id: str
    token_id: str
    outcome: str
    question: str
    fill: Fill
    reason: str
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class EvaluationBatch:
    """One strategy's part of a poll's evaluation: what it considered, signalled and enters."""

    strategy: str
    markets_considered: int
    signals: tuple[Signal, ...]
    intents: tuple[TradeIntent, ...]


@dataclass(frozen=True, slots=True)
class Trade:
    """A paper trade as recorded in the ledger."""

    trade_id: int
    seq: int
    idempotency_key: str
    executed_at: datetime
    market_id: str
    event_id: str
    token_id: str
    outcome: str
    question: str
    side: Side
    shares: Decimal
    notional_usd: Decimal
    fees_usd: Decimal
    reason: str
    strategy: str = DEFAULT_STRATEGY

    @property
    def cash_delta_usd(self) -> Decimal:
        """Cash change caused by this trade (a buy pays notional plus fee)."""
        if self.side is Side.BUY:
            return -(self.notional_usd + self.fees_usd)
        return self.notional_usd - self.fees_usd


@dataclass(frozen=True, slots=True)
class Settlement:
    """A position closed by market resolution, as recorded in the ledger."""

    settlement_id: int
    seq: int
    idempotency_key: str
    settled_at: datetime
    market_id: str
    token_id: str
    outcome: str
    shares: Decimal
    payout_per_share: Decimal
    payout_usd: Decimal
    cost_basis_usd: Decimal
    realized_pnl_usd: Decimal
    resolution: str
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class Position:
    """An open holding of one token, derived from the ledger."""

    market_id: str
    event_id: str
    token_id: str
    outcome: str
    question: str
    shares: Decimal
    cost_usd: Decimal
    fees_usd: Decimal
    opened_at: datetime

    @property
    def avg_entry_price(self) -> Decimal:
        """Cost per share including fees."""
        return self.cost_usd / self.shares if self.shares else ZERO


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Cash and open positions at one ledger point."""

    starting_balance_usd: Decimal
    cash_usd: Decimal
    positions: Mapping[str, Position]
    realized_pnl_usd: Decimal
    fees_usd: Decimal
    trade_count: int
    entries_by_market: Mapping[str, int]
    settled_positions: int
    settled_wins: int
    last_seq: int = 0  # the ledger entry this portfolio is replayed up to
    strategy: str = DEFAULT_STRATEGY  # whose paper account this is

    def held_markets(self) -> frozenset[str]:
        """Markets with an open position."""
        return frozenset(p.market_id for p in self.positions.values())

    def spendable_usd(self, cash_reserve_usd: Decimal, committed_usd: Decimal = ZERO) -> Decimal:
        """The one cash rule: new buys may spend cash above the reserve not yet committed."""
        return self.cash_usd - cash_reserve_usd - committed_usd


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """Summary of one job run, recorded in the job-runs ledger."""

    run_id: str
    job: str
    local_date: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    config_version: int
    counts: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ClobToken:
    """One outcome token of a CLOB market (GET /markets/{conditionId})."""

    token_id: str
    outcome: str
    price: Decimal | None
    winner: bool | None


@dataclass(frozen=True, slots=True)
class ClobMarket:
    """The CLOB's view of a market, used to cross-check a Gamma resolution."""

    condition_id: str
    closed: bool
    accepting_orders: bool
    enable_order_book: bool
    is_50_50_outcome: bool
    tokens: tuple[ClobToken, ...]


@dataclass(frozen=True, slots=True)
class SettlementIntent:
    """A position to close at resolution, ready for the ledger."""

    idempotency_key: str
    market_id: str
    token_id: str
    outcome: str
    shares: Decimal
    payout_per_share: Decimal
    payout_usd: Decimal
    cost_basis_usd: Decimal
    realized_pnl_usd: Decimal
    resolution: str
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class MarketResolution:
    """A tracked market's resolution as prescientd learned it (held or not)."""

    market_id: str
    condition_id: str
    learned_at: datetime
    payouts: Mapping[str, Decimal]  # token_id -> payout per share (1, 0 or 0.5)
    resolution: str  # as Settlement.resolution spells it
    source: str  # "settlement" | "evening"


@dataclass(frozen=True, slots=True)
class MarkedPosition:
    """An open position valued at the current book."""

    position: Position
    best_bid: Decimal | None
    display_price: Decimal | None
    mark_price: Decimal
    value_usd: Decimal
    unrealized_pnl_usd: Decimal
    price_stale: bool
    book_missing: bool


@dataclass(frozen=True, slots=True)
class Valuation:
    """A portfolio marked to market: equity = cash + sum(shares x best bid)."""

    cash_usd: Decimal
    positions: tuple[MarkedPosition, ...]
    positions_value_usd: Decimal
    equity_usd: Decimal
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal
    fees_usd: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """The evening snapshot of the portfolio for one local date."""

    local_date: str
    taken_at: datetime
    cash_usd: Decimal
    positions_value_usd: Decimal
    equity_usd: Decimal
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal
    fees_usd: Decimal
    trade_count: int
    open_positions: int
    settled_positions: int
    settled_wins: int
    strategy: str = DEFAULT_STRATEGY


JOB_CANCELLED_ERROR = "cancelled at shutdown"  # a job cut short by a stop: not a failure to retry
# Evaluations of streamed changes are recorded with run ids "stream-<hex>" (polls use the job's
# run id): current_signals.json and its route show the latest poll's evaluation, not theirs.
STREAM_RUN_PREFIX = "stream-"
