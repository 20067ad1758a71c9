"""Benchmark: a poll's portfolio reads cost the same with 20,000 historic trades as on a fresh DB.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_portfolio.py [--trades 20000] [--rounds 30]

Builds two SQLite files in a temporary directory through the real store: "fresh" holds only the
deposit, the open positions and the tracked markets; "history" holds the same plus `--trades`
closed-out trades (buy/sell pairs) and 1,000 buy/settle pairs before them. It then times, on each,
what one poll and its mirror rebuild ask of the portfolio service (`PortfolioService.read`,
`tracked`, `value`, and `read` again after one new trade), median of `--rounds`, with a warm
service as in the daemon, and for reference the cold full replay a fresh process (`status`) does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from prescientd.config import PricesConfig
from prescientd.core.prices import quote_from_book
from prescientd.models import (
    Book,
    Event,
    Fill,
    FillLevel,
    Level,
    Market,
    SettlementIntent,
    Side,
    TradeIntent,
)
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store

T0 = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)
OPEN_POSITIONS = 50
TRACKED_MARKETS = 1_000
BATCH = 500
MAX_AGE_S = 600.0


def _market(n: int) -> Market:
    return Market(
        market_id=str(n),
        event_id=str(n),
        condition_id=f"0x{n:064x}",
        slug=f"m-{n}",
        question=f"Will {n} happen?",
        outcomes=("Yes", "No"),
        token_ids=(f"{n}1", f"{n}2"),
        outcome_prices=(Decimal("0.6"), Decimal("0.4")),
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=(),
        end_date=T0 + timedelta(days=30),
        liquidity_usd=Decimal(50_000),
        volume_usd=Decimal(100_000),
        volume_24h_usd=Decimal(5_000),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        fee_schedule=None,
        neg_risk=False,
    )


def _intent(key: str, market: int, side: Side) -> TradeIntent:
    shares, price = Decimal(10), Decimal("0.5")
    fill = Fill(
        f"{market}2",
        side,
        shares,
        shares * price,
        Decimal(0),
        (FillLevel(price, shares, Decimal(0)),),
    )
    return TradeIntent(key, str(market), str(market), f"{market}2", "No", "Q?", fill, "bench")


def _settle(key: str, market: int) -> SettlementIntent:
    ten = Decimal(10)
    return SettlementIntent(
        key, str(market), f"{market}2", "No", ten, Decimal(1), ten, Decimal(5), Decimal(5), "bench"
    )


async def _history(store: Store, trades: int) -> None:
    """Closed-out history: 1,000 buy/settle pairs, then buy/sell pairs up to `trades` trades."""
    for start in range(0, 1_000, BATCH):
        markets = range(100_000 + start, 100_000 + start + BATCH)
        await store.record_trades([_intent(f"hb{m}", m, Side.BUY) for m in markets], T0)
        await store.record_settlements([_settle(f"hs{m}", m) for m in markets], T0)
    for start in range(0, trades // 2, BATCH):
        markets = range(200_000 + start, 200_000 + min(start + BATCH, trades // 2))
        await store.record_trades([_intent(f"pb{m}", m, Side.BUY) for m in markets], T0)
        await store.record_trades([_intent(f"ps{m}", m, Side.SELL) for m in markets], T0)


async def _common(store: Store) -> None:
    """The same open positions, eligible markets and quotes in both databases."""
    markets = [_market(n) for n in range(1, TRACKED_MARKETS + 1)]
    events = [
        Event(
            m.event_id,
            m.slug,
            m.question,
            (),
            True,
            False,
            None,
            Decimal(1),
            Decimal(1),
            Decimal(1),
            False,
            (m,),
        )
        for m in markets
    ]
    await store.save_refresh(
        run_id="bench",
        fetched_at=T0,
        pages=1,
        events_received=len(events),
        eligible_events=events,
        items_skipped=0,
        rejections={},
        raw_events_json=None,
    )
    await store.record_trades(
        [_intent(f"open{n}", n, Side.BUY) for n in range(1, OPEN_POSITIONS + 1)], T0
    )
    quotes = {}
    for m in markets:
        for token in m.token_ids:
            book = Book(
                token,
                m.condition_id,
                (Level(Decimal("0.48"), Decimal(500)),),
                (Level(Decimal("0.52"), Decimal(500)),),
                0,
                "h",
                Decimal("0.01"),
                Decimal(5),
                None,
            )
            quotes[token] = quote_from_book(book, T0, PricesConfig())
    await store.record_poll(
        run_id="bench",
        fetched_at=T0,
        local_date=T0.date().isoformat(),
        quotes=quotes,
        missing=[],
        rejected=[],
        requests=1,
        tokens_requested=len(quotes),
    )


async def _poll_reads(service: PortfolioService) -> None:
    portfolio = await service.read()
    tracked = await service.tracked(portfolio)
    assert len(tracked.by_id()) == TRACKED_MARKETS
    await service.value(portfolio, T0, MAX_AGE_S)


async def _measure(path: Path, rounds: int) -> dict[str, float]:
    store = await Store.open(path)
    try:
        cold = time.perf_counter()
        await PortfolioService(store).read()
        cold_s = time.perf_counter() - cold
        service = PortfolioService.of(store)
        await service.read()  # warm, as in the running daemon
        steady, after_trade = [], []
        for i in range(rounds):
            t = time.perf_counter()
            await _poll_reads(service)
            steady.append(time.perf_counter() - t)
            await store.record_trades([_intent(f"new{path.stem}{i}", 300_000 + i, Side.BUY)], T0)
            t = time.perf_counter()
            portfolio = await service.read()
            after_trade.append(time.perf_counter() - t)
            assert portfolio.trade_count > 0
        return {
            "cold_full_replay_ms": cold_s * 1000,
            "poll_reads_ms": statistics.median(steady) * 1000,
            "read_after_one_trade_ms": statistics.median(after_trade) * 1000,
        }
    finally:
        await store.close()


async def main_async(trades: int, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh, history = Path(tmp) / "fresh.db", Path(tmp) / "history.db"
        build = time.perf_counter()
        for path, with_history in ((fresh, False), (history, True)):
            store = await Store.open(path, starting_balance_usd=Decimal(100_000))
            try:
                if with_history:
                    await _history(store, trades)
                await _common(store)
            finally:
                await store.close()
        print(f"built both databases in {time.perf_counter() - build:.1f} s")
        results = {
            name: await _measure(path, rounds)
            for name, path in (("fresh", fresh), ("history", history))
        }
    print(f"{'':28}{'fresh':>10}{'history':>10}{'ratio':>8}")
    ok = True
    for key in results["fresh"]:
        a, b = results["fresh"][key], results["history"][key]
        print(f"{key:28}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")
        if key != "cold_full_replay_ms":
            ok = ok and b <= a * 1.2 + 0.5  # within 20% (plus 0.5 ms of timer noise)
    print(
        f"history: {trades + 1_000 + OPEN_POSITIONS} trades, 1,000 settlements;"
        f" {OPEN_POSITIONS} open positions, {TRACKED_MARKETS} tracked markets"
    )
    print("poll reads within 20% of a fresh database:", "yes" if ok else "NO")
    return 0 if ok else 1


def main() -> int:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    return asyncio.run(main_async(args.trades, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
