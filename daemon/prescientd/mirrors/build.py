"""Every JSON/CSV mirror of DESIGN.md §3, rebuilt from SQLite (never read back).

Each `write_*` function reads the store and replaces its files atomically. A failure to write one
file (disk full, permissions) is logged and leaves the old file in place; the next rebuild retries.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec

import structlog

from prescientd.clock import iso_utc
from prescientd.config import Config
from prescientd.core import filters, ledger, performance
from prescientd.core.schedule import local_instant
from prescientd.mirrors.files import write_atomic, write_csv, write_json, write_json_append_only
from prescientd.models import Market, Portfolio, Quote, Settlement, Side, Trade, Valuation
from prescientd.store.db import QuoteRow, SignalRow, Store

log = structlog.get_logger(__name__)
P = ParamSpec("P")


async def read_portfolio(store: Store) -> Portfolio:
    """The portfolio replayed from the ledger (the one definition of current positions)."""
    trades, settlements = await store.ledger()
    return ledger.replay(await store.starting_balance(), trades, settlements)


async def tracked_markets(store: Store, portfolio: Portfolio) -> tuple[list[Market], list[Market]]:
    """(markets eligible for new trades, held markets): their tokens are the tracked tokens."""
    eligible = await store.eligible_markets()
    held = list((await store.markets_by_id(portfolio.held_markets())).values())
    return eligible, held


class Mirror(StrEnum):
    """Groups of files rebuilt together."""

    EVENTS = "events"
    PRICES = "prices"
    SIGNALS = "signals"
    PORTFOLIO = "portfolio"
    HISTORY = "history"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each mirror lives under data_dir."""

    data_dir: Path

    @property
    def events_dir(self) -> Path:
        """data/events."""
        return self.data_dir / "events"

    @property
    def markets_dir(self) -> Path:
        """data/markets."""
        return self.data_dir / "markets"

    @property
    def trades_dir(self) -> Path:
        """data/trades."""
        return self.data_dir / "trades"

    @property
    def history_dir(self) -> Path:
        """data/history."""
        return self.data_dir / "history"

    @property
    def exports_dir(self) -> Path:
        """data/exports."""
        return self.data_dir / "exports"

    def daily_prices(self, day: date) -> Path:
        """markets/daily_prices_YYYY-MM-DD.json."""
        return self.markets_dir / f"daily_prices_{day.isoformat()}.json"

    def signals_archive(self, month: str) -> Path:
        """history/signals_archive_YYYY-MM.json."""
        return self.history_dir / f"signals_archive_{month}.json"


def _num(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    return float(value)


def _guard(
    name: str,
) -> Callable[[Callable[P, Awaitable[None]]], Callable[P, Awaitable[bool]]]:
    """Decorator: a mirror that cannot be written is logged and skipped (True = written).

    Mirrors are copies: a full disk, a permission problem or odd data in one of them must not stop
    trading; the old file stays and the next rebuild tries again.
    """

    def wrap(fn: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[bool]]:
        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> bool:
            try:
                await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.error("mirror_write_failed", mirror=name, error=f"{type(exc).__name__}: {exc}")
                return False
            return True

        return inner

    return wrap


class MirrorBuilder:
    """Rebuilds mirrors from the store for one configuration."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.layout = Layout(config.paths.data_dir)

    # ------------------------------------------------------------------------------------------
    async def write(self, mirror: Mirror, now: datetime) -> bool:
        """Rebuild one group of mirrors; False if a file could not be written."""
        if mirror is Mirror.EVENTS:
            return await self.write_events()
        if mirror is Mirror.PRICES:
            return await self.write_prices(now)
        if mirror is Mirror.SIGNALS:
            return await self.write_signals()
        if mirror is Mirror.PORTFOLIO:
            return await self.write_portfolio(now)
        return await self.write_history()

    async def write_many(self, mirrors: set[Mirror], now: datetime) -> bool:
        """Rebuild several groups, in a fixed order; False if any file could not be written."""
        ok = True
        for mirror in sorted(mirrors):
            ok = await self.write(mirror, now) and ok
        return ok

    async def write_all(self, now: datetime) -> bool:
        """Rebuild every mirror, including every dated file that has data."""
        ok = await self.write_fixed(now)
        for month in await self.store.signal_months():
            ok = await self.write_signals_archive(month, date.max) and ok
        for day in await self._price_days():
            ok = await self.write_daily_prices(day) and ok
        return ok

    async def write_fixed(self, now: datetime) -> bool:
        """Rebuild every fixed-name mirror (all groups; not the dated files)."""
        return await self.write_many(set(Mirror), now)

    async def _price_days(self) -> list[date]:
        days = {snap.local_date for snap in await self.store.portfolio_snapshots()}
        return sorted(date.fromisoformat(d) for d in days)

    # ------------------------------------------------------------------------------------------
    # morning
    @_guard("events")
    async def write_events(self) -> None:
        """filtered_events.json, filtered_markets.json, raw backup, events/markets CSVs."""
        events = await self.store.eligible_events()
        market_rows = [filters.market_row(e, m) for e in events for m in e.markets]
        event_rows = [filters.event_row(e) for e in events]
        events_json = [
            {**row, "markets": [filters.market_row(e, m) for m in e.markets]}
            for row, e in zip(event_rows, events, strict=True)
        ]
        layout = self.layout
        write_json(layout.events_dir / "filtered_events.json", events_json)
        write_json(layout.events_dir / "filtered_markets.json", market_rows)
        if self.config.mirrors.raw_events_backup:
            raw = await self.store.raw_events_payload()
            if raw is not None:
                write_atomic(layout.events_dir / "raw_events_backup.json", raw)
        write_csv(
            layout.exports_dir / "events_filtered.csv",
            event_rows,
            key_columns=("event_id", "slug", "title"),
            fallback_columns=("event_id", "slug", "title"),
        )
        write_csv(
            layout.exports_dir / "markets_extracted.csv",
            market_rows,
            key_columns=("event_id", "market_id", "question"),
            fallback_columns=("event_id", "market_id", "question"),
        )

    # ------------------------------------------------------------------------------------------
    # prices
    async def _tracked_markets(self) -> list[Market]:
        eligible, held = await tracked_markets(self.store, await read_portfolio(self.store))
        markets = {m.market_id: m for m in eligible}
        for market in held:
            markets.setdefault(market.market_id, market)
        return list(markets.values())

    @_guard("prices")
    async def write_prices(self, now: datetime) -> None:
        """market_cache.json and markets_current.csv."""
        markets = await self._tracked_markets()
        tokens = [t for m in markets for t in m.token_ids]
        quotes = await self.store.latest_quotes(tokens)
        max_age_s = self.config.schedule.price_max_age_s
        cache: dict[str, Any] = {}
        rows = []
        for market in sorted(markets, key=lambda m: (m.event_id, m.market_id)):
            for index, token in enumerate(market.token_ids):
                row = quotes.get(token)
                entry: dict[str, Any] = {
                    "market_id": market.market_id,
                    "question": market.question,
                    "outcome": market.outcomes[index] if index < len(market.outcomes) else "",
                    "status": "never_fetched" if row is None else row.status,
                }
                if row is not None:
                    entry.update(_quote_json(row.quote, now, max_age_s))
                    if row.status != "ok":
                        entry["stale"] = True
                else:
                    entry["stale"] = True
                cache[token] = entry
            rows.append(_market_current_row(market, quotes, now, max_age_s))
        write_json(
            self.layout.markets_dir / "market_cache.json",
            {
                "generated_at": iso_utc(now),
                "max_price_age_s": max_age_s,
                "tokens": cache,
            },
            compact=True,
        )
        write_csv(
            self.layout.exports_dir / "markets_current.csv",
            rows,
            key_columns=("market_id", "question"),
            fallback_columns=("market_id", "question"),
        )

    @_guard("daily_prices")
    async def write_daily_prices(self, day: date) -> None:
        """markets/daily_prices_YYYY-MM-DD.json for one local date."""
        tz = self.config.tz
        start = local_instant(day, time(0, 0), tz)
        end = local_instant(day + timedelta(days=1), time(0, 0), tz)
        bars = await self.store.price_bars(start, end)
        token_markets = await self._token_index([b.token_id for b in bars])
        tokens = {}
        for bar in bars:
            market, outcome = token_markets.get(bar.token_id, (None, ""))
            tokens[bar.token_id] = {
                "market_id": market.market_id if market else None,
                "question": market.question if market else None,
                "outcome": outcome,
                # DESIGN.md: OHLC of the polled mid; the display price's OHLC beside it
                "open": _num(bar.mid.open),
                "high": _num(bar.mid.high),
                "low": _num(bar.mid.low),
                "close": _num(bar.mid.close),
                "display_open": _num(bar.display.open),
                "display_high": _num(bar.display.high),
                "display_low": _num(bar.display.low),
                "display_close": _num(bar.display.close),
                "last_bid": _num(bar.last_bid),
                "last_ask": _num(bar.last_ask),
                "snapshots": bar.snapshots,
            }
        write_json(
            self.layout.daily_prices(day),
            {
                "date": day.isoformat(),
                "timezone": self.config.timezone,
                "prices": "open/high/low/close: mid; display_*: Polymarket display price",
                "from": iso_utc(start),
                "to": iso_utc(end),
                "tokens": tokens,
            },
        )

    async def _token_index(self, tokens: Iterable[str]) -> dict[str, tuple[Market, str]]:
        wanted = set(tokens)
        markets = await self._tracked_markets()
        index: dict[str, tuple[Market, str]] = {}
        for market in markets:
            for i, token in enumerate(market.token_ids):
                if token in wanted:
                    outcome = market.outcomes[i] if i < len(market.outcomes) else ""
                    index[token] = (market, outcome)
        return index

    # ------------------------------------------------------------------------------------------
    # signals
    @_guard("signals")
    async def write_signals(self) -> None:
        """current_signals.json and signals_current.csv from the latest evaluation."""
        latest = await self.store.latest_evaluation()
        if latest is None:
            payload: dict[str, Any] = {"evaluated_at": None, "config_version": None, "signals": []}
            rows: list[dict[str, Any]] = []
        else:
            evaluation, signals = latest
            rows = [_signal_json(s) for s in signals]
            payload = {
                "evaluation_id": evaluation.evaluation_id,
                "evaluated_at": iso_utc(evaluation.evaluated_at),
                "config_version": evaluation.config_version,
                "markets_considered": evaluation.markets_considered,
                "actionable": evaluation.actionable,
                "skipped": evaluation.signals - evaluation.actionable,
                "signals": rows,
            }
        write_json(self.layout.trades_dir / "current_signals.json", payload)
        write_csv(
            self.layout.exports_dir / "signals_current.csv",
            rows,
            key_columns=("evaluated_at", "market_id", "question", "status", "reason"),
            fallback_columns=("evaluated_at", "market_id", "question", "status", "reason"),
        )

    @_guard("signals_archive")
    async def write_signals_archive(self, month: str, through: date) -> None:
        """history/signals_archive_YYYY-MM.json: the month's signals up to `through`."""
        first = f"{month}-01"
        last = min(through, _month_end(month)).isoformat()
        signals = await self.store.signal_archive(first, last)
        write_json(self.layout.signals_archive(month), archive_entries(signals))

    # ------------------------------------------------------------------------------------------
    # portfolio
    async def valuation(self, now: datetime) -> tuple[Portfolio, Valuation]:
        """Portfolio and its mark to market from the latest stored quotes."""
        portfolio = await read_portfolio(self.store)
        tokens = list(portfolio.positions)
        rows = await self.store.latest_quotes(tokens)
        quotes = {t: r.quote for t, r in rows.items() if r.status == "ok"}
        last_prices = await self.store.last_prices(tokens)
        value = ledger.value(
            portfolio, quotes, last_prices, now, self.config.schedule.price_max_age_s
        )
        return portfolio, value

    @_guard("portfolio")
    async def write_portfolio(self, now: datetime) -> None:
        """paper_trades.json, portfolio.json, positions_current.csv, trades_summary.csv."""
        portfolio, valuation = await self.valuation(now)
        trades, settlements = await self.store.ledger()
        levels = await self.store.trade_levels()
        entries = ledger_entries(trades, settlements, levels)
        write_json_append_only(self.layout.trades_dir / "paper_trades.json", entries)
        positions = [_position_row(mp) for mp in valuation.positions]
        write_json(
            self.layout.trades_dir / "portfolio.json",
            {
                "generated_at": iso_utc(now),
                "starting_balance_usd": _num(portfolio.starting_balance_usd),
                "cash_usd": _num(valuation.cash_usd),
                "positions_value_usd": _num(valuation.positions_value_usd),
                "equity_usd": _num(valuation.equity_usd),
                "realized_pnl_usd": _num(valuation.realized_pnl_usd),
                "unrealized_pnl_usd": _num(valuation.unrealized_pnl_usd),
                "total_pnl_usd": _num(valuation.equity_usd - portfolio.starting_balance_usd),
                "fees_paid_usd": _num(valuation.fees_paid_usd),
                "trade_count": portfolio.trade_count,
                "open_positions": len(valuation.positions),
                "settled_positions": portfolio.settled_count,
                "settled_wins": portfolio.settled_wins,
                "mark": "best_bid",
                "positions": positions,
            },
        )
        write_csv(
            self.layout.exports_dir / "positions_current.csv",
            positions,
            key_columns=("market_id", "question", "outcome", "shares"),
            fallback_columns=("market_id", "question", "outcome", "shares", "value_usd"),
        )
        write_csv(
            self.layout.exports_dir / "trades_summary.csv",
            trade_summary_rows(portfolio.starting_balance_usd, trades, settlements),
            key_columns=("time", "market_id", "question", "outcome", "side"),
            fallback_columns=("time", "market_id", "question", "outcome", "side", "shares"),
        )

    @_guard("history")
    async def write_history(self) -> None:
        """portfolio_history.json, portfolio_history.csv and performance_daily.csv."""
        snapshots = await self.store.portfolio_snapshots()
        start = await self.store.starting_balance()
        history = [performance.history_entry(s) for s in snapshots]
        write_json_append_only(self.layout.history_dir / "portfolio_history.json", history)
        write_csv(
            self.layout.exports_dir / "portfolio_history.csv",
            history,
            key_columns=("date",),
            fallback_columns=("date", "equity_usd"),
        )
        write_csv(
            self.layout.exports_dir / "performance_daily.csv",
            performance.performance_rows(snapshots, start),
            key_columns=("date",),
            fallback_columns=("date", "equity_usd", "daily_return", "drawdown"),
        )


def _month_end(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _quote_json(quote: Quote, now: datetime, max_age_s: float) -> dict[str, Any]:
    age_s = quote.age_s(now)
    return {
        "best_bid": _num(quote.best_bid),
        "best_ask": _num(quote.best_ask),
        "mid": _num(quote.mid),
        "spread": _num(quote.spread),
        "display": _num(quote.display),
        "last_trade": _num(quote.last_trade),
        "bid_depth_shares": _num(quote.bid_depth_shares),
        "bid_depth_usd": _num(quote.bid_depth_usd),
        "ask_depth_shares": _num(quote.ask_depth_shares),
        "ask_depth_usd": _num(quote.ask_depth_usd),
        "tick_size": _num(quote.tick_size),
        "min_order_size": _num(quote.min_order_size),
        "book_time": iso_utc(datetime.fromtimestamp(quote.book_timestamp_ms / 1000, tz=now.tzinfo))
        if quote.book_timestamp_ms
        else None,
        "book_hash": quote.book_hash,
        "fetched_at": iso_utc(quote.fetched_at),
        "age_s": round(age_s, 3),
        "stale": age_s > max_age_s,
    }


def _market_current_row(
    market: Market, quotes: Mapping[str, QuoteRow], now: datetime, max_age_s: float
) -> dict[str, Any]:
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
        "outcome_yes": market.outcomes[0] if market.outcomes else "",
        "outcome_no": market.outcomes[1] if len(market.outcomes) > 1 else "",
        "yes_bid": _num(yq.best_bid) if yq else None,
        "yes_ask": _num(yq.best_ask) if yq else None,
        "yes_mid": _num(yq.mid) if yq else None,
        "no_bid": _num(nq.best_bid) if nq else None,
        "no_ask": _num(nq.best_ask) if nq else None,
        "no_mid": _num(nq.mid) if nq else None,
        "display_price": _num(yq.display) if yq else None,
        "spread": _num(yq.spread) if yq else None,
        "yes_bid_depth_usd": _num(yq.bid_depth_usd) if yq else None,
        "yes_ask_depth_usd": _num(yq.ask_depth_usd) if yq else None,
        "no_ask_depth_usd": _num(nq.ask_depth_usd) if nq else None,
        "age_s": round(age_s, 3) if age_s is not None else None,
        "stale": stale,
    }


def _signal_json(row: SignalRow) -> dict[str, Any]:
    s = row.signal
    return {
        "evaluated_at": iso_utc(row.evaluated_at),
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
        "yes_price": _num(s.yes_price),
        "threshold": _num(s.threshold),
        "confidence": _num(s.confidence),
        "stake_usd": _num(s.stake_usd),
        "liquidity_usd": _num(s.liquidity_usd),
        "idempotency_key": s.idempotency_key,
    }


def archive_entries(signals: Sequence[SignalRow]) -> list[dict[str, Any]]:
    """One entry per (date, market, action, verdict, config version), with its sightings.

    A market above the threshold signals at every poll; listing each of those would make the archive
    hundreds of MB a month, so repeated identical verdicts are counted instead of repeated.
    """
    entries = []
    for row in signals:
        s = row.signal
        entries.append(
            {
                "date": row.local_date,
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
                "threshold": _num(s.threshold),
                "first_at": iso_utc(row.first_at),
                "last_at": iso_utc(row.evaluated_at),
                "evaluations": row.evaluations,
                "yes_price_first": _num(row.first_yes_price),
                "yes_price_last": _num(s.yes_price),
                "yes_price_min": _num(row.min_yes_price),
                "yes_price_max": _num(row.max_yes_price),
                "reason": s.reason,
            }
        )
    return entries


def ledger_entries(
    trades: Sequence[Any], settlements: Sequence[Any], levels: Mapping[int, list[list[str]]]
) -> list[dict[str, Any]]:
    """paper_trades.json: every trade and settlement in ledger order; entries never change later."""
    entries: list[tuple[int, dict[str, Any]]] = []
    for t in trades:
        entries.append(
            (
                t.seq,
                {
                    "seq": t.seq,
                    "kind": "trade",
                    "trade_id": t.trade_id,
                    "time": iso_utc(t.executed_at),
                    "market_id": t.market_id,
                    "event_id": t.event_id,
                    "question": t.question,
                    "token_id": t.token_id,
                    "outcome": t.outcome,
                    "side": t.side.value,
                    "shares": _num(t.shares),
                    "avg_price": _num(_round6(t.notional_usd / t.shares)),
                    "notional_usd": _num(t.notional_usd),
                    "fee_usd": _num(t.fee_usd),
                    "cash_delta_usd": _num(t.cash_delta_usd),
                    "levels": [
                        {"price": float(p), "shares": float(s), "fee_usd": float(f)}
                        for p, s, f in levels.get(t.trade_id, [])
                    ],
                    "reason": t.reason,
                    "idempotency_key": t.idempotency_key,
                },
            )
        )
    for s in settlements:
        entries.append(
            (
                s.seq,
                {
                    "seq": s.seq,
                    "kind": "settlement",
                    "settlement_id": s.settlement_id,
                    "time": iso_utc(s.settled_at),
                    "market_id": s.market_id,
                    "token_id": s.token_id,
                    "outcome": s.outcome,
                    "shares": _num(s.shares),
                    "payout_per_share": _num(s.payout_per_share),
                    "payout_usd": _num(s.payout_usd),
                    "cost_basis_usd": _num(s.cost_basis_usd),
                    "realized_pnl_usd": _num(s.realized_pnl_usd),
                    "cash_delta_usd": _num(s.payout_usd),
                    "resolution": s.resolution,
                    "idempotency_key": s.idempotency_key,
                },
            )
        )
    return [entry for _, entry in sorted(entries, key=lambda e: e[0])]


def _round6(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"))


def trade_summary_rows(
    starting_balance_usd: Decimal, trades: Sequence[Trade], settlements: Sequence[Settlement]
) -> list[dict[str, Any]]:
    """trades_summary.csv: one row per trade; a buy shows its status and its realized P&L.

    Realized P&L is attributed to the buys (see ledger.buy_outcomes), so the column adds up to the
    portfolio's realized P&L; sell rows show their proceeds.
    """
    outcomes = ledger.buy_outcomes(starting_balance_usd, trades, settlements)
    settled_at = {s.token_id: s for s in settlements}
    rows = []
    for t in trades:
        buy = t.side is Side.BUY
        outcome = outcomes.get(t.trade_id)
        settlement = settled_at.get(t.token_id) if outcome and outcome.status == "settled" else None
        realized = outcome.realized_pnl_usd if outcome and outcome.status != "open" else None
        rows.append(
            {
                "time": iso_utc(t.executed_at),
                "trade_id": t.trade_id,
                "market_id": t.market_id,
                "question": t.question,
                "outcome": t.outcome,
                "side": t.side.value,
                "shares": _num(t.shares),
                "avg_price": _num(_round6(t.notional_usd / t.shares)),
                "fees_usd": _num(t.fee_usd),
                "cost_usd": _num(t.notional_usd + t.fee_usd) if buy else None,
                "proceeds_usd": None if buy else _num(t.notional_usd - t.fee_usd),
                "status": outcome.status if outcome else "exit",
                "open_shares": _num(outcome.open_shares) if outcome else None,
                "realized_pnl_usd": _num(_round6(realized)) if realized is not None else None,
                "settlement_payout_per_share": _num(settlement.payout_per_share)
                if settlement
                else None,
                "settled_at": iso_utc(settlement.settled_at) if settlement else None,
                "token_id": t.token_id,
            }
        )
    return rows


def _position_row(mp: Any) -> dict[str, Any]:
    p = mp.position
    return {
        "market_id": p.market_id,
        "question": p.question,
        "outcome": p.outcome,
        "token_id": p.token_id,
        "event_id": p.event_id,
        "shares": _num(p.shares),
        "avg_entry_price": _num(_round6(p.avg_entry_price)),
        "cost_usd": _num(p.cost_usd),
        "fees_usd": _num(p.fees_usd),
        "best_bid": _num(mp.best_bid),
        "display_price": _num(mp.display),
        "mark_price": _num(mp.mark_price),
        "value_usd": _num(mp.value_usd),
        "value_at_display_usd": _num(p.shares * mp.display) if mp.display is not None else None,
        "unrealized_pnl_usd": _num(mp.unrealized_pnl_usd),
        "price_stale": mp.price_stale,
        "book_missing": mp.book_missing,
        "opened_at": iso_utc(p.opened_at),
    }
