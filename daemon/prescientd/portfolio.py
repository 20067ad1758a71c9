"""The paper portfolio as the daemon sees it: read from the ledger, its markets, its value.

Jobs, the mirrors, `prescientd status` (and later the HTTP API) all ask this service, so there is
one definition of current positions. Reading costs what changed, not the history: the service
keeps the last replayed Portfolio with the ledger `seq` it reached, and each read folds only the
trades and settlements recorded after that seq (`core.ledger.advance`). The store is the only
writer of the ledger and the ledger is append-only, so that cached prefix never goes stale.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from prescientd.core import ledger
from prescientd.models import Market, Portfolio, Valuation
from prescientd.store.db import Store
from prescientd.store.prices import last_price


@dataclass(frozen=True, slots=True)
class TrackedMarkets:
    """The markets whose books are polled: eligible for new trades, or held."""

    eligible: tuple[Market, ...]
    held: tuple[Market, ...]

    def by_id(self) -> dict[str, Market]:
        """Every tracked market once: the eligible ones, then held ones no longer eligible."""
        markets = {m.market_id: m for m in self.eligible}
        for market in self.held:
            markets.setdefault(market.market_id, market)
        return markets


class PortfolioService:
    """Read, track and value the paper portfolio of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._replayed: Portfolio | None = None
        self._lock = asyncio.Lock()  # one fold at a time; the others then find it done

    @classmethod
    def of(cls, store: Store) -> PortfolioService:
        """The service that lives as long as the store (so its replay is shared by every caller)."""
        return store.attachment(cls, cls)

    async def read(self) -> Portfolio:
        """The portfolio now: the last replay plus the ledger entries recorded since."""
        async with self._lock:
            portfolio = self._replayed
            if portfolio is None:
                portfolio = ledger.opening(await self._store.starting_balance())
            trades, settlements = await self._store.ledger(after_seq=portfolio.last_seq)
            portfolio = ledger.advance(portfolio, trades, settlements)
            self._replayed = portfolio
            return portfolio

    async def tracked(self, portfolio: Portfolio) -> TrackedMarkets:
        """The markets of the latest eligible set and the markets portfolio holds."""
        eligible = await self._store.eligible_markets()
        held = await self._store.markets_by_id(portfolio.held_markets())
        return TrackedMarkets(tuple(eligible), tuple(held.values()))

    async def value(self, portfolio: Portfolio, now: datetime, max_age_s: float) -> Valuation:
        """The portfolio marked at the latest stored quotes (last known price where none is ok)."""
        rows = await self._store.latest_quotes(list(portfolio.positions))  # one read
        quotes = {t: r.quote for t, r in rows.items() if r.status == "ok"}
        last_prices = {t: p for t, r in rows.items() if (p := last_price(r.quote)) is not None}
        return ledger.value(portfolio, quotes, last_prices, now, max_age_s)

    async def valued(self, now: datetime, max_age_s: float) -> tuple[Portfolio, Valuation]:
        """read() and value() together: the portfolio now and its mark to market."""
        portfolio = await self.read()
        return portfolio, await self.value(portfolio, now, max_age_s)
