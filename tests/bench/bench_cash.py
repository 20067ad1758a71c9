"""Benchmark: the never-negative cash check costs the same at any ledger size.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_cash.py [--flows 50000] [--rounds 200]

Builds two SQLite files through the real store, one holding only the deposits, one holding
`--flows` earlier cash flows (trades of two strategies), then times, median of `--rounds`, one
`record_trades` transaction of one buy (its cash flow passes the trigger that reads the strategy's
running balance in `cash_balances`). For reference it also times the query the trigger ran before
migration 0003 (`SUM(amount)` over every cash flow) on the big file.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from prescientd.models import Fill, FillLevel, Side, TradeIntent
from prescientd.store.db import Store

T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)
BATCH = 1_000


def _intent(key: str, strategy: str) -> TradeIntent:
    price, shares = Decimal("0.01"), Decimal(5)
    fill = Fill(
        token_id=key,
        side=Side.BUY,
        shares=shares,
        notional_usd=price * shares,
        fees_usd=Decimal(0),
        levels=(FillLevel(price, shares, Decimal(0)),),
    )
    return TradeIntent(key, key, "e", key, "No", "Q?", fill, "bench", strategy)


async def _store(path: Path, flows: int) -> Store:
    store = await Store.open(path, starting_balance_usd=Decimal(10**8))
    await store.ensure_deposits({"variant": Decimal(10**8)}, T0)
    for start in range(0, flows, BATCH):
        batch = [
            _intent(f"h{n}", "variant" if n % 2 else "default")
            for n in range(start, min(flows, start + BATCH))
        ]
        await store.record_trades(batch, T0)
    return store


async def _median_ms(store: Store, label: str, rounds: int) -> float:
    samples = []
    for n in range(rounds):
        intent = _intent(f"{label}{n}", "variant")
        t0 = time.perf_counter()
        await store.record_trades([intent], T0)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def main(flows: int, rounds: int) -> None:
    """Print the per-trade cost on a fresh and on a long ledger."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = await _store(Path(tmp) / "fresh.db", 0)
        big = await _store(Path(tmp) / "big.db", flows)
        try:
            fresh_ms = await _median_ms(fresh, "f", rounds)
            big_ms = await _median_ms(big, "b", rounds)
            t0 = time.perf_counter()
            for _ in range(20):
                await big.db.read_one("SELECT COALESCE(SUM(amount), 0) FROM cash_flows")
            sum_ms = (time.perf_counter() - t0) * 1000 / 20
        finally:
            await fresh.close()
            await big.close()
    print(f"one buy + cash flow, fresh ledger:          {fresh_ms:.3f} ms (median of {rounds})")
    print(
        f"one buy + cash flow, {flows:,} flows before: {big_ms:.3f} ms ({big_ms / fresh_ms:.2f}x)"
    )
    print(f"the old trigger's SUM over {flows:,} flows:   {sum_ms:.3f} ms per insert")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.flows, args.rounds))
