"""One decision about the paper accounts at a time: the poll's and the stream's share one lock.

Two paths trade: a poll's evaluation step (on the books it fetched) and the stream's evaluation of
a changed market (on its live local books). Each holds `TradeGuard.lock` only around reading every
portfolio, deciding and recording — never across an HTTP fetch — so the stream waits at most for
one evaluation step, not for a poll's `POST /books`. Inside the lock the portfolio read is fresh,
so whichever path comes second sees the first one's trade (the market is held, the cash is spent)
and skips it; should two decisions ever meet without the lock, they compute the same idempotency
key from the same portfolio and the UNIQUE constraint keeps one.

Settlement checks are HTTP calls per held market, so they run outside the lock: the poll marks
the markets it is settling (under the lock, as it reads the portfolios it will settle from), and
the stream leaves those markets alone until the poll is done — no exit or entry can slip between
the read a settlement is computed from and its record. The guard is bound to the store (one per
database), so every writer of one ledger shares it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from prescientd.models import Portfolio
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store


class TradeGuard:
    """The trade lock of one store and the markets being settled."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.lock = asyncio.Lock()
        self._settling: Counter[str] = Counter()

    @classmethod
    def of(cls, store: Store) -> TradeGuard:
        """The guard that lives as long as the store (shared by every job and the stream)."""
        return store.attachment(cls, cls)

    def settling(self, market_id: str) -> bool:
        """True while a settlement check of the market runs (the stream must not trade it)."""
        return self._settling[market_id] > 0

    @asynccontextmanager
    async def settlement(self, market_ids: Iterable[str]) -> AsyncIterator[dict[str, Portfolio]]:
        """Mark the markets as being settled and read every portfolio, both under the lock; the
        block settles from those portfolios; the marks are removed when it ends."""
        ids = list(dict.fromkeys(market_ids))
        portfolios = PortfolioService.of(self._store)
        if not ids:  # nothing to settle: nothing to fence off, no need to wait for the lock
            yield await portfolios.read_all()
            return
        async with self.lock:
            self._settling.update(ids)
            try:
                read = await portfolios.read_all()
            except BaseException:
                self._settling.subtract(ids)
                raise
        try:
            yield read
        finally:
            self._settling.subtract(ids)
            self._settling = +self._settling  # drop the zeros
