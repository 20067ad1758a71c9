"""Every JSON/CSV mirror of DESIGN.md §3, rebuilt from SQLite (never read back).

Each `write_*` function reads the store and replaces its files atomically. A failure to write one
file (disk full, permissions) is logged and leaves the old file in place; the next rebuild retries.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ParamSpec

import structlog

from prescientd.clock import iso_utc
from prescientd.config import Config
from prescientd.core import filters, performance
from prescientd.core.schedule import local_instant
from prescientd.mirrors import rows
from prescientd.mirrors.files import write_csv, write_json, write_json_append_only
from prescientd.mirrors.raw_backup import write_raw_backup
from prescientd.models import Market
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store

log = structlog.get_logger(__name__)
P = ParamSpec("P")


class Mirror(StrEnum):
    """Groups of files rebuilt together."""

    EVENTS = "events"
    PRICES = "prices"
    SIGNALS = "signals"
    PORTFOLIO = "portfolio"
    HISTORY = "history"


class Layout:
    """Where each mirror lives under data_dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.events_dir = data_dir / "events"
        self.markets_dir = data_dir / "markets"
        self.trades_dir = data_dir / "trades"
        self.history_dir = data_dir / "history"
        self.exports_dir = data_dir / "exports"

    def daily_prices(self, day: date) -> Path:
        """markets/daily_prices_YYYY-MM-DD.json."""
        return self.markets_dir / f"daily_prices_{day.isoformat()}.json"

    def signals_archive(self, month: str) -> Path:
        """history/signals_archive_YYYY-MM.json."""
        return self.history_dir / f"signals_archive_{month}.json"


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
        self.portfolio = PortfolioService.of(store)

    def _write_csv(self, name: str, csv_rows: Sequence[Mapping[str, Any]]) -> None:
        write_csv(self.layout.exports_dir / name, csv_rows, rows.CSV_COLUMNS[name])

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
            await write_raw_backup(self.store, layout.events_dir / "raw_events_backup.json")
        self._write_csv("events_filtered.csv", event_rows)
        self._write_csv("markets_extracted.csv", market_rows)

    # ------------------------------------------------------------------------------------------
    # prices
    async def _tracked_markets(self) -> list[Market]:
        tracked = await self.portfolio.tracked(await self.portfolio.read())
        return list(tracked.by_id().values())

    @_guard("prices")
    async def write_prices(self, now: datetime) -> None:
        """market_cache.json and markets_current.csv."""
        markets = sorted(await self._tracked_markets(), key=lambda m: (m.event_id, m.market_id))
        quotes = await self.store.latest_quotes([t for m in markets for t in m.token_ids])
        max_age_s = self.config.schedule.price_max_age_s
        cache = {
            token: rows.token_cache_entry(market, index, quotes.get(token), now, max_age_s)
            for market in markets
            for index, token in enumerate(market.token_ids)
        }
        write_json(
            self.layout.markets_dir / "market_cache.json",
            {"generated_at": iso_utc(now), "max_price_age_s": max_age_s, "tokens": cache},
            compact=True,
        )
        self._write_csv(
            "markets_current.csv",
            [rows.market_current_row(m, quotes, now, max_age_s) for m in markets],
        )

    @_guard("daily_prices")
    async def write_daily_prices(self, day: date) -> None:
        """markets/daily_prices_YYYY-MM-DD.json for one local date."""
        tz = self.config.tz
        start = local_instant(day, time(0, 0), tz)
        end = local_instant(day + timedelta(days=1), time(0, 0), tz)
        bars = await self.store.daily_bars(day.isoformat())
        token_markets = await self._token_index([b.token_id for b in bars])
        tokens = {
            bar.token_id: rows.price_bar_row(bar, *token_markets.get(bar.token_id, (None, "")))
            for bar in bars
        }
        write_json(
            self.layout.daily_prices(day),
            {
                "date": day.isoformat(),
                "timezone": self.config.timezone,
                "prices": "open/high/low/close: mid; display_price_*: Polymarket display price",
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
            signal_rows: list[rows.Row] = []
        else:
            evaluation, signals = latest
            signal_rows = [rows.signal_row(s) for s in signals]
            payload = {
                "evaluation_id": evaluation.evaluation_id,
                "evaluated_at": iso_utc(evaluation.evaluated_at),
                "config_version": evaluation.config_version,
                "markets_considered": evaluation.markets_considered,
                "actionable": evaluation.actionable,
                "skipped": evaluation.signals - evaluation.actionable,
                "signals": signal_rows,
            }
        write_json(self.layout.trades_dir / "current_signals.json", payload)
        self._write_csv("signals_current.csv", signal_rows)

    @_guard("signals_archive")
    async def write_signals_archive(self, month: str, through: date) -> None:
        """history/signals_archive_YYYY-MM.json: the month's signals up to `through`."""
        first = f"{month}-01"
        last = min(through, _month_end(month)).isoformat()
        signals = await self.store.signal_archive(first, last)
        write_json(self.layout.signals_archive(month), rows.archive_entries(signals))

    # ------------------------------------------------------------------------------------------
    # portfolio
    @_guard("portfolio")
    async def write_portfolio(self, now: datetime) -> None:
        """paper_trades.json, portfolio.json, positions_current.csv, trades_summary.csv."""
        max_age_s = self.config.schedule.price_max_age_s
        portfolio, valuation = await self.portfolio.valued(now, max_age_s)
        trades, settlements = await self.store.ledger()
        levels = await self.store.trade_levels()
        entries = rows.ledger_entries(trades, settlements, levels)
        write_json_append_only(self.layout.trades_dir / "paper_trades.json", entries)
        positions = [rows.position_row(mp) for mp in valuation.positions]
        summary = rows.portfolio_summary(portfolio, valuation)
        write_json(
            self.layout.trades_dir / "portfolio.json",
            {"generated_at": iso_utc(now), **summary, "mark": "best_bid", "positions": positions},
        )
        self._write_csv("positions_current.csv", positions)
        start = portfolio.starting_balance_usd
        self._write_csv("trades_summary.csv", rows.trade_summary_rows(start, trades, settlements))

    @_guard("history")
    async def write_history(self) -> None:
        """portfolio_history.json, portfolio_history.csv and performance_daily.csv."""
        snapshots = await self.store.portfolio_snapshots()
        start = await self.store.starting_balance()
        history = [performance.history_entry(s) for s in snapshots]
        write_json_append_only(self.layout.history_dir / "portfolio_history.json", history)
        self._write_csv("portfolio_history.csv", history)
        self._write_csv("performance_daily.csv", performance.performance_rows(snapshots, start))


def _month_end(month: str) -> date:
    year, mon = (int(p) for p in month.split("-"))
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return nxt - timedelta(days=1)
