"""The rows the mirrors are made of: pure functions of store values, shared by every output.

A row is a dict of plain values (numbers through `vocabulary.number`, timestamps through
`vocabulary.timestamp`) named as in the README's Vocabulary table; `prescientd status --json`
shows the same position rows, and the HTTP API will show these rows too. Every row of a ledger,
signal, position or snapshot names its `strategy`. Each CSV's columns are declared once, in
`mirrors.columns.EXPORTS`; the rows here carry exactly those keys (a test checks it), so adding a
field to a row means adding its column there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from prescientd.core import accounts, ledger
from prescientd.core.accounts import StrategyFigures
from prescientd.models import (
    DEFAULT_STRATEGY,
    ZERO,
    MarkedPosition,
    Market,
    Portfolio,
    Settlement,
    Side,
    Trade,
    Valuation,
)
from prescientd.store.db import PriceBar, QuoteRow, SignalRow
from prescientd.vocabulary import number, timestamp

Row = dict[str, Any]


def _outcome(market: Market, index: int) -> str:
    return market.outcomes[index] if index < len(market.outcomes) else ""


# market_cache.json: one array per token, its values in this order (the file lists them once as
# "columns"). Static facts (question, outcome, tick size...) live in events/filtered_markets.json.
CACHE_COLUMNS = (
    "market_id",
    "status",
    "best_bid",
    "best_ask",
    "mid",
    "spread",
    "display_price",
    "last_trade",
    "bid_depth_shares",
    "bid_depth_usd",
    "ask_depth_shares",
    "ask_depth_usd",
    "book_time",
    "fetched_at",
    "stale",
)


def token_cache_row(
    market_id: str, row: QuoteRow | None, now: datetime, max_age_s: float
) -> list[Any]:
    """One token of market_cache.json, valued as CACHE_COLUMNS: its fetch status and prices."""
    if row is None:
        return [market_id, "never_fetched", *([None] * 12), True]
    q = row.quote
    book_time = None
    if q.book_timestamp_ms:
        book_time = datetime.fromtimestamp(q.book_timestamp_ms / 1000, tz=now.tzinfo)
    return [
        market_id,
        row.status,
        number(q.best_bid),
        number(q.best_ask),
        number(q.mid),
        number(q.spread),
        number(q.display),
        number(q.last_trade),
        number(q.bid_depth_shares),
        number(q.bid_depth_usd),
        number(q.ask_depth_shares),
        number(q.ask_depth_usd),
        timestamp(book_time),
        timestamp(q.fetched_at),
        row.status != "ok" or q.age_s(now) > max_age_s,
    ]


def with_as_of(rows: Sequence[Row], as_of: datetime | None) -> list[Row]:
    """rows with the instant the snapshot describes as their `as_of` column (the CSV's view)."""
    return [{**row, "as_of": as_of} for row in rows]


def market_current_row(
    market: Market, quotes: Mapping[str, QuoteRow], now: datetime, max_age_s: float
) -> Row:
    """One market of markets_current.csv: YES and NO prices side by side."""
    yes = quotes.get(market.token_ids[0]) if market.token_ids else None
    no = quotes.get(market.token_ids[1]) if len(market.token_ids) > 1 else None
    yq, nq = (yes.quote if yes else None), (no.quote if no else None)
    ages = [q.age_s(now) for q in (yq, nq) if q is not None]
    age_s = max(ages) if ages else None
    stale = (
        age_s is None or age_s > max_age_s or any(r is None or r.status != "ok" for r in (yes, no))
    )
    return {
        "market_id": market.market_id,
        "question": market.question,
        "event_id": market.event_id,
        "outcome_yes": _outcome(market, 0),
        "outcome_no": _outcome(market, 1),
        "yes_bid": number(yq.best_bid) if yq else None,
        "yes_ask": number(yq.best_ask) if yq else None,
        "yes_mid": number(yq.mid) if yq else None,
        "no_bid": number(nq.best_bid) if nq else None,
        "no_ask": number(nq.best_ask) if nq else None,
        "no_mid": number(nq.mid) if nq else None,
        "display_price": number(yq.display) if yq else None,
        "spread": number(yq.spread) if yq else None,
        "yes_bid_depth_usd": number(yq.bid_depth_usd) if yq else None,
        "yes_ask_depth_usd": number(yq.ask_depth_usd) if yq else None,
        "no_ask_depth_usd": number(nq.ask_depth_usd) if nq else None,
        "age_s": round(age_s, 3) if age_s is not None else None,
        "stale": stale,
    }


def price_bar_row(bar: PriceBar, market: Market | None, outcome: str) -> Row:
    """One token of daily_prices_YYYY-MM-DD.json: the day's OHLC of the mid and display price."""
    return {
        "market_id": market.market_id if market else None,
        "question": market.question if market else None,
        "outcome": outcome,
        # DESIGN.md: OHLC of the polled mid; the display price's OHLC beside it
        **{name: number(getattr(bar.mid, name)) for name in ("open", "high", "low", "close")},
        **{
            f"display_price_{name}": number(getattr(bar.display, name))
            for name in ("open", "high", "low", "close")
        },
        "last_bid": number(bar.last_bid),
        "last_ask": number(bar.last_ask),
        "snapshots": bar.snapshots,
    }


def signal_row(row: SignalRow) -> Row:
    """One signal of current_signals.json and signals_current.csv."""
    s = row.signal
    return {
        "strategy": s.strategy,
        "evaluated_at": timestamp(row.evaluated_at),
        "config_version": row.config_version,
        "market_id": s.market_id,
        "event_id": s.event_id,
        "question": s.question,
        "status": s.status.value,
        "skip_reason": s.skip_reason.value if s.skip_reason else None,
        "reason": s.reason,
        "action": s.action.value,
        "token_id": s.token_id,
        "outcome": s.outcome,
        "price_source": s.price_source.value,
        "yes_price": number(s.yes_price),
        "threshold": number(s.threshold),
        "confidence": number(s.confidence),
        "stake_usd": number(s.stake_usd),
        "liquidity_usd": number(s.liquidity_usd),
        "idempotency_key": s.idempotency_key,
    }


def archive_entries(signals: Sequence[SignalRow]) -> list[Row]:
    """One entry per (date, market, action, verdict, config version), with its sightings.

    A market above the threshold signals at every poll; listing each of those would make the archive
    hundreds of MB a month, so repeated identical verdicts are counted instead of repeated.
    `date` stays the first key: the monthly file is extended by date (`mirrors.arrays`).
    """
    entries = []
    for row in signals:
        s = row.signal
        entries.append(
            {
                "date": row.local_date,  # first: see the docstring
                "strategy": s.strategy,
                "market_id": s.market_id,
                "event_id": s.event_id,
                "question": s.question,
                "action": s.action.value,
                "token_id": s.token_id,
                "outcome": s.outcome,
                "status": s.status.value,
                "skip_reason": s.skip_reason.value if s.skip_reason else None,
                "config_version": row.config_version,
                "price_source": s.price_source.value,
                "threshold": number(s.threshold),
                "first_at": timestamp(row.first_at),
                "last_at": timestamp(row.evaluated_at),
                "evaluations": row.evaluations,
                "yes_price_first": number(row.first_yes_price),
                "yes_price_last": number(s.yes_price),
                "yes_price_min": number(row.min_yes_price),
                "yes_price_max": number(row.max_yes_price),
                "reason": s.reason,
            }
        )
    return entries


def _trade_entry(t: Trade, levels: list[list[str]]) -> Row:
    return {
        "seq": t.seq,
        "kind": "trade",
        "strategy": t.strategy,
        "trade_id": t.trade_id,
        "time": timestamp(t.executed_at),
        "market_id": t.market_id,
        "event_id": t.event_id,
        "question": t.question,
        "token_id": t.token_id,
        "outcome": t.outcome,
        "side": t.side.value,
        "shares": number(t.shares),
        "avg_price": number(t.notional_usd / t.shares),
        "notional_usd": number(t.notional_usd),
        "fees_usd": number(t.fees_usd),
        "cash_delta_usd": number(t.cash_delta_usd),
        "levels": [
            {
                "price": number(Decimal(p)),
                "shares": number(Decimal(s)),
                "fees_usd": number(Decimal(f)),
            }
            for p, s, f in levels
        ],
        "reason": t.reason,
        "idempotency_key": t.idempotency_key,
    }


def _settlement_entry(s: Settlement) -> Row:
    return {
        "seq": s.seq,
        "kind": "settlement",
        "strategy": s.strategy,
        "settlement_id": s.settlement_id,
        "time": timestamp(s.settled_at),
        "market_id": s.market_id,
        "token_id": s.token_id,
        "outcome": s.outcome,
        "shares": number(s.shares),
        "payout_per_share": number(s.payout_per_share),
        "payout_usd": number(s.payout_usd),
        "cost_basis_usd": number(s.cost_basis_usd),
        "realized_pnl_usd": number(s.realized_pnl_usd),
        "cash_delta_usd": number(s.payout_usd),
        "resolution": s.resolution,
        "idempotency_key": s.idempotency_key,
    }


def ledger_entries(
    trades: Sequence[Trade],
    settlements: Sequence[Settlement],
    levels: Mapping[int, list[list[str]]],
) -> list[Row]:
    """paper_trades.json: every trade and settlement in ledger order; entries never change later."""
    entries = [(t.seq, _trade_entry(t, levels.get(t.trade_id, []))) for t in trades]
    entries += [(s.seq, _settlement_entry(s)) for s in settlements]
    return [entry for _, entry in sorted(entries, key=lambda e: e[0])]


def _buy_outcomes(
    trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> dict[int, ledger.BuyOutcome]:
    """Every buy's outcome, each strategy's ledger folded on its own (its own account)."""
    outcomes: dict[int, ledger.BuyOutcome] = {}
    for name in {t.strategy for t in trades}:
        own_trades = [t for t in trades if t.strategy == name]
        own_settlements = [s for s in settlements if s.strategy == name]
        outcomes.update(ledger.buy_outcomes(ZERO, own_trades, own_settlements))
    return outcomes


def trade_summary_rows(trades: Sequence[Trade], settlements: Sequence[Settlement]) -> list[Row]:
    """trades_summary.csv: one row per trade; a buy shows its status and its realized P&L.

    Realized P&L is attributed to the buys (see ledger.buy_outcomes), so the column adds up to
    each strategy's realized P&L; sell rows show their proceeds.
    """
    outcomes = _buy_outcomes(trades, settlements)
    settled_at = {(s.strategy, s.token_id): s for s in settlements}
    rows = []
    for t in trades:
        buy = t.side is Side.BUY
        outcome = outcomes.get(t.trade_id)
        settlement = (
            settled_at.get((t.strategy, t.token_id))
            if outcome and outcome.status == "settled"
            else None
        )
        realized = outcome.realized_pnl_usd if outcome and outcome.status != "open" else None
        rows.append(
            {
                "strategy": t.strategy,
                "time": timestamp(t.executed_at),
                "trade_id": t.trade_id,
                "market_id": t.market_id,
                "question": t.question,
                "outcome": t.outcome,
                "side": t.side.value,
                "shares": number(t.shares),
                "avg_price": number(t.notional_usd / t.shares),
                "fees_usd": number(t.fees_usd),
                "cost_usd": number(t.notional_usd + t.fees_usd) if buy else None,
                "proceeds_usd": None if buy else number(t.notional_usd - t.fees_usd),
                "status": outcome.status if outcome else "exit",
                "open_shares": number(outcome.open_shares) if outcome else None,
                "realized_pnl_usd": number(realized),
                "settlement_payout_per_share": number(settlement.payout_per_share)
                if settlement
                else None,
                "settled_at": timestamp(settlement.settled_at) if settlement else None,
                "token_id": t.token_id,
            }
        )
    return rows


def position_row(mp: MarkedPosition, strategy: str = DEFAULT_STRATEGY) -> Row:
    """One open position of a strategy marked to market (portfolio.json, positions_current.csv,
    status)."""
    p = mp.position
    display = mp.display_price
    return {
        "strategy": strategy,
        "market_id": p.market_id,
        "question": p.question,
        "outcome": p.outcome,
        "token_id": p.token_id,
        "event_id": p.event_id,
        "shares": number(p.shares),
        "avg_entry_price": number(p.avg_entry_price),
        "cost_usd": number(p.cost_usd),
        "fees_usd": number(p.fees_usd),
        "best_bid": number(mp.best_bid),
        "display_price": number(display),
        "mark_price": number(mp.mark_price),
        "value_usd": number(mp.value_usd),
        "value_at_display_usd": number(p.shares * display) if display is not None else None,
        "unrealized_pnl_usd": number(mp.unrealized_pnl_usd),
        # what `status` flags: a price past max_price_age_s, or a book that is gone
        "stale": mp.price_stale or mp.book_missing,
        "book_missing": mp.book_missing,
        "opened_at": timestamp(p.opened_at),
    }


def portfolio_document(
    now: datetime, valued: Mapping[str, tuple[Portfolio, Valuation]], active: Sequence[str]
) -> Row:
    """portfolio.json (and GET /api/v1/portfolio): the default strategy's account at the top
    level, as with one strategy, and every account, active or retired, in `strategies`."""
    listed = [
        {
            **portfolio_summary(portfolio, valuation),
            "status": accounts.status(name, active),
            "positions": [position_row(mp, name) for mp in valuation.positions],
        }
        for name, (portfolio, valuation) in valued.items()
    ]
    default = next(a for a in listed if a["strategy"] == DEFAULT_STRATEGY)
    return {
        "generated_at": timestamp(now),
        **{k: v for k, v in default.items() if k not in ("status", "positions")},
        "mark": "best_bid",
        "positions": default["positions"],
        "strategies": listed,
    }


def portfolio_summary(portfolio: Portfolio, valuation: Valuation) -> Row:
    """The account's figures (portfolio.json and status): cash, equity, P&L, fees and counts."""
    start = portfolio.starting_balance_usd
    return {
        "strategy": portfolio.strategy,
        "starting_balance_usd": number(start),
        "cash_usd": number(valuation.cash_usd),
        "positions_value_usd": number(valuation.positions_value_usd),
        "equity_usd": number(valuation.equity_usd),
        "realized_pnl_usd": number(valuation.realized_pnl_usd),
        "unrealized_pnl_usd": number(valuation.unrealized_pnl_usd),
        "total_pnl_usd": number(valuation.equity_usd - start),
        "fees_usd": number(valuation.fees_usd),
        "trade_count": portfolio.trade_count,
        "open_positions": len(valuation.positions),
        "settled_positions": portfolio.settled_positions,
        "settled_wins": portfolio.settled_wins,
    }


def strategy_row(f: StrategyFigures) -> Row:
    """One strategy of strategies.csv and of `status`'s comparison: its account side by side."""
    return {
        "strategy": f.strategy,
        "status": f.status,
        "starting_balance_usd": number(f.starting_balance_usd),
        "equity_usd": number(f.equity_usd),
        "cumulative_return": number(f.cumulative_return),
        "max_drawdown": number(f.max_drawdown),
        "win_rate": number(f.win_rate),
        "trade_count": f.trade_count,
        "fees_usd": number(f.fees_usd),
        "capital_locked_usd": number(f.capital_locked_usd),
        "total_pnl_usd": number(f.total_pnl_usd),
        "realized_pnl_usd": number(f.realized_pnl_usd),
        "unrealized_pnl_usd": number(f.unrealized_pnl_usd),
        "cash_usd": number(f.cash_usd),
        "positions_value_usd": number(f.positions_value_usd),
        "open_positions": f.open_positions,
        "settled_positions": f.settled_positions,
        "settled_wins": f.settled_wins,
    }
