"""The paper portfolios as the daemon sees them: read from the ledger, their markets, their value.

Every strategy is its own paper account (its deposit, cash, positions and P&L); the default
strategy's is the one a single-strategy installation has. Jobs, the mirrors, `prescientd status`
and the HTTP API all ask this service, so there is one definition of current positions. Reading
costs what changed, not the history: the service keeps every strategy's last replayed Portfolio
with the ledger `seq` it reached, and each read folds only the trades and settlements recorded
after that seq (`core.ledger.advance`), each into its own strategy's portfolio. The store is the
only writer of the ledger and the ledger is append-only, so that cached prefix never goes stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from prescientd.core import accounts, ledger
from prescientd.models import DEFAULT_STRATEGY, ZERO, Market, Portfolio, Valuation
from prescientd.store.db import Store
from prescientd.store.prices import last_price


@dataclass(frozen=True, slots=True)
class TrackedMarkets:
    """The markets whose books are polled: eligible for new trades, or held by any strategy."""

    eligible: tuple[Market, ...]
    held: tuple[Market, ...]

    def by_id(self) -> dict[str, Market]:
        """Every tracked market once: the eligible ones, then held ones no longer eligible."""
        markets = {m.market_id: m for m in self.eligible}
        for market in self.held:
            markets.setdefault(market.market_id, market)
        return markets


class PortfolioService:
    """Read, track and value the paper portfolio of every strategy of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._folded_seq = 0  # every ledger entry up to this seq is in _portfolios
        self._portfolios: dict[str, Portfolio] = {}
        self._lock = asyncio.Lock()  # one fold at a time; the others then find it done

    @classmethod
    def of(cls, store: Store) -> PortfolioService:
        """The service that lives as long as the store (so its replay is shared by every caller)."""
        return store.attachment(cls, cls)

    async def read_all(self) -> dict[str, Portfolio]:
        """Every strategy with an account (active or retired) and its portfolio now: "default"
        first, then the others by name. Folds only the ledger entries recorded since the last
        read."""
        async with self._lock:
            deposits, trades, settlements = await self._store.ledger_since(self._folded_seq)
            portfolios = dict(self._portfolios)
            for name, balance in deposits.items():
                if name not in portfolios:
                    portfolios[name] = ledger.opening(balance, name)
            for name in {t.strategy for t in trades} | {s.strategy for s in settlements}:
                # an entry before its deposit cannot pass the cash trigger; opened at 0 if so
                start = portfolios.get(name) or ledger.opening(ZERO, name)
                portfolios[name] = ledger.advance(
                    start,
                    [t for t in trades if t.strategy == name],
                    [s for s in settlements if s.strategy == name],
                )
            self._folded_seq = max(
                [self._folded_seq, *(t.seq for t in trades), *(s.seq for s in settlements)]
            )
            self._portfolios = {n: portfolios[n] for n in accounts.ordered(portfolios)}
            return dict(self._portfolios)

    async def read(self, strategy: str = DEFAULT_STRATEGY) -> Portfolio:
        """One strategy's portfolio now (all cash at 0 before its account is opened)."""
        found = (await self.read_all()).get(strategy)
        return found if found is not None else ledger.opening(ZERO, strategy)

    async def strategies(self) -> tuple[str, ...]:
        """Every strategy with an account, active or retired: "default" first, then by name."""
        return tuple(await self.read_all())

    async def tracked(self, *portfolios: Portfolio) -> TrackedMarkets:
        """The markets of the latest eligible set and the markets the portfolios hold (every
        strategy's, active or retired, when none are given)."""
        held_by = portfolios or tuple((await self.read_all()).values())
        eligible = await self._store.eligible_markets()
        held = await self._store.markets_by_id(accounts.held_markets(held_by))
        return TrackedMarkets(tuple(eligible), tuple(held.values()))

    async def value(self, portfolio: Portfolio, now: datetime, max_age_s: float) -> Valuation:
        """The portfolio marked at the latest stored quotes (last known price where none is ok)."""
        return (await self._value_many([portfolio], now, max_age_s))[0]

    async def _value_many(
        self, portfolios: Sequence[Portfolio], now: datetime, max_age_s: float
    ) -> list[Valuation]:
        """Several portfolios marked at once: one read of the quotes of all their tokens."""
        tokens = sorted({t for p in portfolios for t in p.positions})
        rows = await self._store.latest_quotes(tokens)  # the one read: quotes and last prices
        quotes = {t: r.quote for t, r in rows.items() if r.status == "ok"}
        last_prices = {t: p for t, r in rows.items() if (p := last_price(r.quote)) is not None}
        return [ledger.value(p, quotes, last_prices, now, max_age_s) for p in portfolios]

    async def valued(
        self, now: datetime, max_age_s: float, strategy: str = DEFAULT_STRATEGY
    ) -> tuple[Portfolio, Valuation]:
        """read() and value() together: one strategy's portfolio now and its mark to market."""
        portfolio = await self.read(strategy)
        return portfolio, await self.value(portfolio, now, max_age_s)

    async def valued_all(
        self, now: datetime, max_age_s: float
    ) -> dict[str, tuple[Portfolio, Valuation]]:
        """Every strategy's portfolio now and its mark to market, in read_all's order."""
        portfolios = await self.read_all()
        valuations = await self._value_many(list(portfolios.values()), now, max_age_s)
        return {
            name: (portfolio, valuation)
            for (name, portfolio), valuation in zip(portfolios.items(), valuations, strict=True)
        }
