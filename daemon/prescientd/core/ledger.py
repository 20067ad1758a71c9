"""Positions and P&L derived from the append-only ledger, marking, and market resolution.

The ledger (trades and settlements sharing one increasing `seq`) is the only input: `replay`
folds it into a Portfolio, so the portfolio after a crash is exactly the portfolio before it;
`advance` folds only the entries after a portfolio's `last_seq` into it, with the same result.
Sells use the average-cost method; the cost they remove is rounded to micro-dollars (the store's
unit), and the same rounded amount leaves the position and enters realized P&L, so
realized + unrealized == equity - starting balance holds exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from prescientd.core.keys import idempotency_key
from prescientd.models import (
    DEFAULT_STRATEGY,
    ONE,
    ZERO,
    ClobMarket,
    MarkedPosition,
    Market,
    Portfolio,
    PortfolioSnapshot,
    Position,
    Quote,
    Settlement,
    SettlementIntent,
    Side,
    Trade,
    Valuation,
)

USD_QUANTUM = Decimal("0.000001")
HALF = Decimal("0.5")

ResolutionStatus = Literal["open", "pending", "resolved"]


class LedgerError(ValueError):
    """The ledger contradicts itself (a sell or settlement of shares that are not held)."""


@dataclass(frozen=True, slots=True)
class ResolutionCheck:
    """Whether a market has resolved and, if so, what each of its tokens pays per share."""

    status: ResolutionStatus
    payouts: Mapping[str, Decimal]
    reason: str


def settlement_key(
    market_id: str, token_id: str, entry_number: int, strategy: str = DEFAULT_STRATEGY
) -> str:
    """Idempotency key of the settlement of a position opened by the given entry of a market."""
    return idempotency_key(f"settle|{market_id}|{token_id}|entry{entry_number}", strategy)


@dataclass(frozen=True, slots=True)
class BuyOutcome:
    """What became of one buy: its share of realized P&L and how it was closed."""

    realized_pnl_usd: Decimal
    open_shares: Decimal
    status: Literal["open", "partly_closed", "closed", "settled"]


def _in_seq_order(
    trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> list[Trade | Settlement]:
    entries: list[tuple[int, int, Trade | Settlement]] = [(t.seq, 0, t) for t in trades]
    entries += [(s.seq, 1, s) for s in settlements]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry for _, _, entry in entries]


def _fold(
    starting_balance_usd: Decimal, trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> _State:
    state = _State(starting_balance_usd, track_lots=True)
    state.apply_all(_in_seq_order(trades, settlements))
    return state


def buy_outcomes(
    starting_balance_usd: Decimal, trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> dict[int, BuyOutcome]:
    """Per buy trade id: realized P&L attributed to it and its status.

    Under average cost, each sale or settlement realizes P&L on the whole position; it is shared
    among the buys still open in proportion to their remaining shares, so the attributions of all
    buys add up to the ledger's realized P&L.
    """
    state = _fold(starting_balance_usd, trades, settlements)
    out: dict[int, BuyOutcome] = {}
    for trade in trades:
        if trade.side is not Side.BUY:
            continue
        remaining = state.lot_open_shares.get(trade.trade_id, ZERO)
        if remaining > 0:
            status: Literal["open", "partly_closed", "closed", "settled"] = (
                "open" if remaining == trade.shares else "partly_closed"
            )
        else:
            status = state.lot_closed_by.get(trade.trade_id, "closed")
        out[trade.trade_id] = BuyOutcome(
            state.lot_realized.get(trade.trade_id, ZERO), remaining, status
        )
    return out


def opening(starting_balance_usd: Decimal, strategy: str = DEFAULT_STRATEGY) -> Portfolio:
    """The portfolio of a strategy before its first ledger entry: the deposit, all cash."""
    return _State(starting_balance_usd, strategy=strategy).portfolio()


def advance(
    portfolio: Portfolio, trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> Portfolio:
    """Fold ledger entries after the portfolio's last_seq into it, in seq order.

    `advance(replay(start, t1, s1), t2, s2) == replay(start, t1 + t2, s1 + s2)`: the cost follows
    the new entries, not the history. An entry at or before last_seq is refused (LedgerError), as
    folding it twice would count it twice.
    """
    if not trades and not settlements:
        return portfolio
    state = _State.resume(portfolio)
    state.apply_all(_in_seq_order(trades, settlements))
    return state.portfolio()


def replay(
    starting_balance_usd: Decimal,
    trades: Sequence[Trade],
    settlements: Sequence[Settlement],
    strategy: str = DEFAULT_STRATEGY,
) -> Portfolio:
    """Fold one strategy's ledger, in seq order, into cash, open positions and realized P&L."""
    return advance(opening(starting_balance_usd, strategy), trades, settlements)


class _State:
    """The mutable accumulator behind replay; never leaves this module.

    Per-buy lots (for buy_outcomes) are tracked only when asked: a Portfolio does not carry them.
    """

    def __init__(
        self,
        starting_balance_usd: Decimal,
        *,
        track_lots: bool = False,
        strategy: str = DEFAULT_STRATEGY,
    ) -> None:
        self.strategy = strategy
        self.starting_balance_usd = starting_balance_usd
        self.last_seq = 0
        self.track_lots = track_lots
        self.cash_usd = starting_balance_usd
        self.positions: dict[str, Position] = {}
        self.realized_pnl_usd = ZERO
        self.fees_usd = ZERO
        self.trade_count = 0
        self.entries_by_market: dict[str, int] = {}
        self.settled_positions = 0
        self.settled_wins = 0
        # per buy ("lot"): open shares, realized P&L attributed, and what closed it
        self.lot_open_shares: dict[int, Decimal] = {}
        self.lot_realized: dict[int, Decimal] = {}
        self.lot_closed_by: dict[int, Literal["closed", "settled"]] = {}
        self._lots_of_token: dict[str, list[int]] = {}

    @classmethod
    def resume(cls, portfolio: Portfolio) -> _State:
        """A state that continues from portfolio (whose mappings are copied, never changed)."""
        state = cls(portfolio.starting_balance_usd, strategy=portfolio.strategy)
        state.last_seq = portfolio.last_seq
        state.cash_usd = portfolio.cash_usd
        state.positions = dict(portfolio.positions)
        state.realized_pnl_usd = portfolio.realized_pnl_usd
        state.fees_usd = portfolio.fees_usd
        state.trade_count = portfolio.trade_count
        state.entries_by_market = dict(portfolio.entries_by_market)
        state.settled_positions = portfolio.settled_positions
        state.settled_wins = portfolio.settled_wins
        return state

    def portfolio(self) -> Portfolio:
        """The state as a Portfolio, which takes over its mappings: apply nothing after this."""
        return Portfolio(
            starting_balance_usd=self.starting_balance_usd,
            cash_usd=self.cash_usd,
            positions=self.positions,
            realized_pnl_usd=self.realized_pnl_usd,
            fees_usd=self.fees_usd,
            trade_count=self.trade_count,
            entries_by_market=self.entries_by_market,
            settled_positions=self.settled_positions,
            settled_wins=self.settled_wins,
            last_seq=self.last_seq,
            strategy=self.strategy,
        )

    def apply_all(self, entries: Sequence[Trade | Settlement]) -> None:
        """Apply entries given in seq order, each after the last one applied."""
        for entry in entries:
            if entry.seq <= self.last_seq:
                raise LedgerError(
                    f"ledger entry seq {entry.seq} is not after seq {self.last_seq}, already folded"
                )
            if isinstance(entry, Trade):
                self.apply_trade(entry)
            else:
                self.apply_settlement(entry)
            self.last_seq = entry.seq

    def _attribute(
        self,
        token_id: str,
        held_shares: Decimal,
        closed_shares: Decimal,
        realized: Decimal,
        closed_by: Literal["closed", "settled"],
    ) -> None:
        lots = self._lots_of_token.get(token_id, [])
        for lot in lots:
            open_shares = self.lot_open_shares[lot]
            weight = open_shares / held_shares
            self.lot_realized[lot] += realized * weight
            self.lot_open_shares[lot] = (
                ZERO if closed_shares == held_shares else open_shares - closed_shares * weight
            )
            if self.lot_open_shares[lot] == 0:
                self.lot_closed_by[lot] = closed_by
        if closed_shares == held_shares:
            self._lots_of_token.pop(token_id, None)

    def apply_trade(self, trade: Trade) -> None:
        self.cash_usd += trade.cash_delta_usd
        self.fees_usd += trade.fees_usd
        self.trade_count += 1
        if trade.side is Side.BUY:
            self._buy(trade)
        else:
            self._sell(trade)

    def _buy(self, trade: Trade) -> None:
        if self.track_lots:
            self.lot_open_shares[trade.trade_id] = trade.shares
            self.lot_realized[trade.trade_id] = ZERO
            self._lots_of_token.setdefault(trade.token_id, []).append(trade.trade_id)
        market_id = trade.market_id
        self.entries_by_market[market_id] = self.entries_by_market.get(market_id, 0) + 1
        held = self.positions.get(trade.token_id)
        if held is None:
            self.positions[trade.token_id] = Position(
                market_id=market_id,
                event_id=trade.event_id,
                token_id=trade.token_id,
                outcome=trade.outcome,
                question=trade.question,
                shares=trade.shares,
                cost_usd=trade.notional_usd + trade.fees_usd,
                fees_usd=trade.fees_usd,
                opened_at=trade.executed_at,
            )
            return
        self.positions[trade.token_id] = replace(
            held,
            shares=held.shares + trade.shares,
            cost_usd=held.cost_usd + trade.notional_usd + trade.fees_usd,
            fees_usd=held.fees_usd + trade.fees_usd,
        )

    def _sell(self, trade: Trade) -> None:
        held = self.positions.get(trade.token_id)
        if held is None or trade.shares > held.shares:
            have = held.shares if held else ZERO
            raise LedgerError(
                f"trade seq {trade.seq} sells {trade.shares} shares of {trade.token_id}, "
                f"only {have} held"
            )
        left = held.shares - trade.shares
        if left == 0:
            cost_removed, fees_removed = held.cost_usd, held.fees_usd
        else:
            cost_removed = _micro(held.cost_usd * trade.shares / held.shares)
            fees_removed = _micro(held.fees_usd * trade.shares / held.shares)
        realized = trade.notional_usd - trade.fees_usd - cost_removed
        self.realized_pnl_usd += realized
        self._attribute(trade.token_id, held.shares, trade.shares, realized, "closed")
        if left == 0:
            del self.positions[trade.token_id]
        else:
            self.positions[trade.token_id] = replace(
                held,
                shares=left,
                cost_usd=held.cost_usd - cost_removed,
                fees_usd=held.fees_usd - fees_removed,
            )

    def apply_settlement(self, settlement: Settlement) -> None:
        held = self.positions.get(settlement.token_id)
        if held is None or held.shares != settlement.shares:
            have = held.shares if held else ZERO
            raise LedgerError(
                f"settlement seq {settlement.seq} closes {settlement.shares} shares of "
                f"{settlement.token_id}, but {have} are held"
            )
        self.cash_usd += settlement.payout_usd
        # the position's own cost (not the recorded copy) keeps the P&L identity exact
        self.realized_pnl_usd += settlement.payout_usd - held.cost_usd
        self._attribute(
            settlement.token_id,
            held.shares,
            held.shares,
            settlement.payout_usd - held.cost_usd,
            "settled",
        )
        self.settled_positions += 1
        if settlement.payout_usd > held.cost_usd:
            self.settled_wins += 1
        del self.positions[settlement.token_id]


def _micro(amount: Decimal) -> Decimal:
    return amount.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


def value(
    portfolio: Portfolio,
    quotes: Mapping[str, Quote],
    last_prices: Mapping[str, Decimal],
    now: datetime,
    max_age_s: float,
) -> Valuation:
    """Mark every open position at its best bid (what a sale would get) and total the equity.

    Without a quote (the book vanished) the token's last known price is used and book_missing is
    set; without any price the mark is 0. A quote with an empty bid side marks at 0: nobody buys.
    """
    marked: list[MarkedPosition] = []
    for position in portfolio.positions.values():
        quote = quotes.get(position.token_id)
        if quote is not None:
            mark = quote.best_bid if quote.best_bid is not None else ZERO
            stale = quote.age_s(now) > max_age_s
            missing = False
        else:
            mark = last_prices.get(position.token_id, ZERO)
            # a price from a book that no longer exists is not current, whatever its age
            stale = True
            missing = True
        value_usd = position.shares * mark
        marked.append(
            MarkedPosition(
                position=position,
                best_bid=quote.best_bid if quote is not None else None,
                display_price=quote.display if quote is not None else None,
                mark_price=mark,
                value_usd=value_usd,
                unrealized_pnl_usd=value_usd - position.cost_usd,
                price_stale=stale,
                book_missing=missing,
            )
        )
    positions_value_usd = sum((m.value_usd for m in marked), ZERO)
    return Valuation(
        cash_usd=portfolio.cash_usd,
        positions=tuple(marked),
        positions_value_usd=positions_value_usd,
        equity_usd=portfolio.cash_usd + positions_value_usd,
        realized_pnl_usd=portfolio.realized_pnl_usd,
        unrealized_pnl_usd=sum((m.unrealized_pnl_usd for m in marked), ZERO),
        fees_usd=portfolio.fees_usd,
    )


def resolve(market: Market, clob: ClobMarket | None) -> ResolutionCheck:
    """Decide from Gamma (cross-checked with the CLOB when given) whether a market has resolved."""
    uma = market.uma_resolution_status or (
        market.uma_resolution_statuses[-1] if market.uma_resolution_statuses else None
    )
    if not market.closed:
        if uma is None:
            return ResolutionCheck("open", {}, "market open")
        return _pending(
            "resolution proposed" if uma == "proposed" else f"resolution {uma}, not closed"
        )
    if len(market.token_ids) != 2 or len(market.outcome_prices) != 2:
        return _pending(
            f"closed with {len(market.token_ids)} tokens and "
            f"{len(market.outcome_prices)} outcome prices; expected 2 and 2"
        )
    if market.uma_resolution_status != "resolved":
        return _pending(f"closed, UMA resolution status {uma!r} is not final")
    yes_token, no_token = market.token_ids
    prices = market.outcome_prices
    # Only an exact 1/0 pair names a winner; "1.0" and "1" compare equal as Decimal.
    winner = {(ONE, ZERO): 0, (ZERO, ONE): 1}.get((prices[0], prices[1]))
    # UNVERIFIED shape: no recorded 50-50 resolution exists (docs/polymarket-api.md section 3);
    # a resolved market at exactly 0.5/0.5 is read as a 50-50 split.
    gamma_split = prices == (HALF, HALF)
    split = {yes_token: HALF, no_token: HALF}
    if clob is not None:
        conflict = _clob_conflict(market, clob, winner, gamma_split)
        if conflict:
            return _pending(conflict)
        if clob.is_50_50_outcome:
            return ResolutionCheck("resolved", split, "resolved 50-50 (CLOB is_50_50_outcome)")
    if winner is not None:
        payouts = {yes_token: ZERO, no_token: ZERO}
        payouts[market.token_ids[winner]] = ONE
        agrees = " (CLOB agrees)" if clob is not None and _clob_winners(clob) else ""
        return ResolutionCheck(
            "resolved", payouts, f"resolved: {market.outcomes[winner]!r} won{agrees}"
        )
    if gamma_split:
        return ResolutionCheck("resolved", split, "resolved 50-50 (Gamma prices 0.5/0.5)")
    shown = ", ".join(str(price) for price in prices)
    return _pending(f"closed without an exact 1/0 outcome pair (prices {shown})")


def _pending(reason: str) -> ResolutionCheck:
    return ResolutionCheck("pending", {}, reason)


def _clob_winners(clob: ClobMarket) -> frozenset[str]:
    return frozenset(token.token_id for token in clob.tokens if token.winner)


def _clob_conflict(
    market: Market, clob: ClobMarket, winner: int | None, gamma_split: bool
) -> str | None:
    """Why the CLOB contradicts Gamma's resolution, or None when it does not."""
    if clob.condition_id and market.condition_id and clob.condition_id != market.condition_id:
        return f"conflict: CLOB market {clob.condition_id} is not {market.condition_id}"
    winners = _clob_winners(clob)
    if winner is not None:
        gamma_winner = market.token_ids[winner]
        if clob.is_50_50_outcome:
            return f"conflict: Gamma says {gamma_winner} won, the CLOB says 50-50"
        if winners and winners != {gamma_winner}:
            return f"conflict: Gamma says {gamma_winner} won, the CLOB says {sorted(winners)}"
    elif winners and (gamma_split or clob.is_50_50_outcome):
        return f"conflict: a 50-50 resolution, but the CLOB names winner(s) {sorted(winners)}"
    return None


def settlement_intents(
    portfolio: Portfolio, check: ResolutionCheck, market_id: str
) -> list[SettlementIntent]:
    """The settlements that close every open position the portfolio's strategy holds in a
    resolved market (each strategy settles from the same verdict, under its own keys)."""
    if check.status != "resolved":
        return []
    entry_number = portfolio.entries_by_market.get(market_id, 0)
    intents: list[SettlementIntent] = []
    for position in portfolio.positions.values():
        if position.market_id != market_id or position.token_id not in check.payouts:
            continue
        payout_per_share = check.payouts[position.token_id]
        payout_usd = position.shares * payout_per_share
        intents.append(
            SettlementIntent(
                idempotency_key=settlement_key(
                    market_id, position.token_id, entry_number, portfolio.strategy
                ),
                market_id=market_id,
                token_id=position.token_id,
                outcome=position.outcome,
                shares=position.shares,
                payout_per_share=payout_per_share,
                payout_usd=payout_usd,
                cost_basis_usd=position.cost_usd,
                realized_pnl_usd=payout_usd - position.cost_usd,
                resolution=check.reason,
                strategy=portfolio.strategy,
            )
        )
    return intents


def snapshot(
    portfolio: Portfolio, valuation: Valuation, local_date: str, taken_at: datetime
) -> PortfolioSnapshot:
    """The evening snapshot of a portfolio and its valuation for one local date."""
    return PortfolioSnapshot(
        local_date=local_date,
        taken_at=taken_at,
        cash_usd=valuation.cash_usd,
        positions_value_usd=valuation.positions_value_usd,
        equity_usd=valuation.equity_usd,
        realized_pnl_usd=valuation.realized_pnl_usd,
        unrealized_pnl_usd=valuation.unrealized_pnl_usd,
        fees_usd=valuation.fees_usd,
        trade_count=portfolio.trade_count,
        open_positions=len(portfolio.positions),
        settled_positions=portfolio.settled_positions,
        settled_wins=portfolio.settled_wins,
        strategy=portfolio.strategy,
    )
