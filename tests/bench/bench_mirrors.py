"""Benchmark: what each mirror file costs (bytes, seconds) at a given number of tokens.

    .venv/bin/python tests/bench/bench_mirrors.py [--tokens 10000] [--trades 20000] [--days 30]

Not collected by pytest. Builds the store values of an account that tracks `--tokens` tokens
(binary markets, 4 per event, real-length ids and accented questions), holds open positions,
has `--trades` ledger entries, a signal for 38% of the markets each day (as measured at the full
universe) over `--days` days and a year of evening snapshots. Then runs the very functions the
mirror builder runs in its worker thread for each group (rows, encoding, write, fsync) in a
temporary data_dir, and prints one line per file group: the files, their bytes and the seconds.
It also prints what the old layouts cost (market_cache.json with a keyed object per token and its
question/outcome repeated; paper_trades.json and the month's signal archive encoded in full) next
to what a flush costs now (a new ledger entry appended; one day spliced onto the archive).

The store is not involved (bench_poll.py times a real poll with its SQLite reads at 10k tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prescientd.config import parse_config
from prescientd.mirrors import arrays, rows
from prescientd.mirrors.build import MirrorBuilder, Written
from prescientd.mirrors.files import write_json
from prescientd.models import (
    Action,
    Event,
    Market,
    PortfolioSnapshot,
    PriceSource,
    Quote,
    Settlement,
    Side,
    Signal,
    SignalStatus,
    Trade,
)
from prescientd.store.db import EvaluationRow, QuoteRow, SignalRow
from prescientd.vocabulary import number, timestamp

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
D = Decimal


class FakeStore:
    """Enough of a Store for MirrorBuilder's constructor (its attachments); no SQL is run."""

    def __init__(self) -> None:
        self._attachments: dict[type[Any], Any] = {}

    def attachment(self, kind: type[Any], build: Callable[[Any], Any]) -> Any:
        """As Store.attachment."""
        if kind not in self._attachments:
            self._attachments[kind] = build(self)
        return self._attachments[kind]


def _token(rng: random.Random) -> str:
    return str(rng.randrange(10**76, 10**77))


def _market(i: int, rng: random.Random) -> Market:
    return Market(
        market_id=str(500_000 + i),
        event_id=str(90_000 + i // 4),
        condition_id=f"0x{rng.getrandbits(256):064x}",
        slug=f"will-candidate-{i}-win-the-district-election",
        question=f"Will candidate {i} win the {i % 50} district election? (München edition)",
        outcomes=("Yes", "No"),
        token_ids=(_token(rng), _token(rng)),
        outcome_prices=(D("0.6"), D("0.4")),
        active=True,
        closed=False,
        accepting_orders=True,
        enable_order_book=True,
        uma_resolution_status=None,
        uma_resolution_statuses=(),
        end_date=datetime(2027, 1, 1, tzinfo=UTC),
        liquidity_usd=D(rng.randrange(1000, 10**6)),
        volume_usd=D(rng.randrange(1000, 10**7)),
        volume_24h_usd=D(rng.randrange(0, 10**5)),
        tick_size=D("0.001"),
        min_order_size=D(5),
        fee_schedule=None,
        neg_risk=False,
    )


def _events(markets: list[Market]) -> list[Event]:
    by_event: dict[str, list[Market]] = {}
    for m in markets:
        by_event.setdefault(m.event_id, []).append(m)
    return [
        Event(
            eid,
            f"event-{eid}",
            f"District {eid} election",
            ("politics", "elections"),
            True,
            False,
            datetime(2027, 1, 1, tzinfo=UTC),
            D(50000),
            D(100000),
            D(5000),
            False,
            tuple(ms),
        )
        for eid, ms in by_event.items()
    ]


def _quote(token: str, rng: random.Random) -> QuoteRow:
    bid = D(rng.randrange(10, 980)) / 1000
    ask = bid + D("0.01")
    quote = Quote(
        token,
        bid,
        ask,
        (bid + ask) / 2,
        ask - bid,
        (bid + ask) / 2,
        bid,
        D(rng.randrange(100, 99999)) / 100,
        D(rng.randrange(100, 999999)) / 1000,
        D(rng.randrange(100, 99999)) / 100,
        D(rng.randrange(100, 999999)) / 1000,
        D("0.001"),
        D(5),
        int(NOW.timestamp() * 1000) - 1500,
        f"{rng.getrandbits(160):040x}",
        NOW - timedelta(seconds=2),
    )
    return QuoteRow(quote, "ok", NOW)


def _signal(m: Market, day: date, n: int) -> SignalRow:
    signal = Signal(
        m.market_id,
        m.event_id,
        m.question,
        Action.BUY_NO,
        m.token_ids[1],
        "No",
        PriceSource.DISPLAY,
        D("0.61"),
        D("0.5"),
        D("0.11"),
        D(100),
        SignalStatus.SKIPPED if n % 20 else SignalStatus.ACTIONABLE,
        "display price 0.61 > 0.50 (midpoint; spread 0.010 <= 0.10)",
        None,
        f"k-{day}-{n}",
    )
    at = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
    return SignalRow(
        n,
        n,
        at,
        day.isoformat(),
        1,
        signal,
        at - timedelta(hours=5),
        60,
        D("0.6"),
        D("0.58"),
        D("0.63"),
    )


def _ledger(markets: list[Market], n: int) -> tuple[list[Trade], list[Settlement]]:
    trades, settlements = [], []
    for i in range(n):
        m = markets[i % len(markets)]
        trades.append(
            Trade(
                i + 1,
                2 * i + 1,
                f"t-{i}",
                NOW - timedelta(minutes=n - i),
                m.market_id,
                m.event_id,
                f"{m.token_ids[1][:-6]}{i:06d}",
                "No",
                m.question,
                Side.BUY,
                D("181.818181"),
                D("99.999999"),
                D("0.012345"),
                "display price",
            )
        )
        if i % 3 == 0:
            settlements.append(
                Settlement(
                    i + 1,
                    2 * i + 2,
                    f"s-{i}",
                    NOW,
                    m.market_id,
                    f"{m.token_ids[1][:-6]}{i:06d}",
                    "No",
                    D("181.818181"),
                    D(1),
                    D("181.818181"),
                    D("100.012344"),
                    D("81.805837"),
                    "resolved No",
                )
            )
    return trades, settlements


def _snapshots(days: int) -> list[PortfolioSnapshot]:
    first = NOW.date() - timedelta(days=days)
    return [
        PortfolioSnapshot(
            (first + timedelta(days=d)).isoformat(),
            NOW - timedelta(days=days - d),
            D(9000),
            D(1000 + d),
            D(10000 + d),
            D(d),
            D(0),
            D("0.5"),
            d,
            10,
            d,
            d,
        )
        for d in range(days)
    ]


def _old_cache_entry(market: Market, index: int, row: QuoteRow) -> dict[str, Any]:
    """market_cache.json's token entry before this change (keyed, question/outcome repeated)."""
    q = row.quote
    return {
        "market_id": market.market_id,
        "question": market.question,
        "outcome": market.outcomes[index],
        "status": row.status,
        **{
            k: number(getattr(q, a))
            for k, a in (
                ("best_bid", "best_bid"),
                ("best_ask", "best_ask"),
                ("mid", "mid"),
                ("spread", "spread"),
                ("display_price", "display"),
                ("last_trade", "last_trade"),
                ("bid_depth_shares", "bid_depth_shares"),
                ("bid_depth_usd", "bid_depth_usd"),
                ("ask_depth_shares", "ask_depth_shares"),
                ("ask_depth_usd", "ask_depth_usd"),
                ("tick_size", "tick_size"),
                ("min_order_size", "min_order_size"),
            )
        },
        "book_time": timestamp(NOW),
        "book_hash": q.book_hash,
        "fetched_at": timestamp(q.fetched_at),
        "age_s": 2.0,
        "stale": False,
    }


def _timed(label: str, work: Callable[[], Written]) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    written = work()
    wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    files = ", ".join(f"{p.name} {size / 1e6:.2f} MB" for p, size in written)
    print(f"  {label:<38} {wall:6.2f} s wall {cpu_s:6.2f} s CPU   {files}")


async def _loop_stall_s(work: Callable[[], Written]) -> float:
    """The longest the event loop went without running a 10 ms ticker while work ran in a thread."""
    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stalls.append(now - last - 0.01)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.to_thread(work)
    done.set()
    await task
    return max(stalls, default=0.0)


def main() -> None:
    """Build the values, run each group's writer, print bytes and seconds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30, help="days of signals in the month file")
    args = parser.parse_args()
    rng = random.Random(1)
    markets = [_market(i, rng) for i in range(args.tokens // 2)]
    events = _events(markets)
    quotes = {t: _quote(t, rng) for m in markets for t in m.token_ids}
    trades, settlements = _ledger(markets, args.trades)
    signalled = markets[: int(len(markets) * 0.38)]
    today = NOW.date()
    signal_rows = [_signal(m, today, n) for n, m in enumerate(signalled)]
    evaluation = EvaluationRow(1, "r", NOW, today.isoformat(), 1, len(markets), len(signal_rows), 5)
    print(
        f"tokens={args.tokens} markets={len(markets)} events={len(events)} "
        f"trades={len(trades)} settlements={len(settlements)} signals/day={len(signal_rows)}"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-mirrors-"))
    config = parse_config(f'[paths]\ndata_dir = "{root}/data"\ndb_path = "{root}/data/p.db"\n')
    builder = MirrorBuilder(FakeStore(), config)  # type: ignore[arg-type]
    files = builder.files
    raw = json.dumps([{"id": e.event_id, "title": e.title} for e in events]).encode()
    _timed("events (morning)", lambda: files.events_files(events, raw, NOW))
    _timed("prices (each poll)", lambda: files.prices_files(markets, quotes, NOW, 600.0))
    old_path = root / "old_market_cache.json"

    def old_layout() -> Written:
        """market_cache.json as it was: a keyed object per token, static fields repeated."""
        old = {
            t: _old_cache_entry(m, i, quotes[t]) for m in markets for i, t in enumerate(m.token_ids)
        }
        document = {"generated_at": "x", "max_price_age_s": 600, "tokens": old}
        return [(old_path, write_json(old_path, document, compact=True))]

    new_path = root / "new_market_cache.json"

    def new_layout() -> Written:
        """market_cache.json now: the columns once, one array per token."""
        tokens = {
            t: rows.token_cache_row(m.market_id, quotes[t], NOW, 600.0)
            for m in markets
            for t in m.token_ids
        }
        document = {"generated_at": "x", "columns": rows.CACHE_COLUMNS, "tokens": tokens}
        return [(new_path, write_json(new_path, document, compact=True))]

    _timed("  market_cache.json alone, now", new_layout)
    stall_s = asyncio.run(_loop_stall_s(lambda: files.prices_files(markets, quotes, NOW, 600.0)))
    print(f"  {'  event loop, longest stall meanwhile':<38} {stall_s * 1000:6.0f} ms (in a thread)")
    _timed("  market_cache.json alone, before", old_layout)
    _timed("signals (each evaluation)", lambda: files.signals_files([(evaluation, signal_rows)]))
    levels = {t.trade_id: [["0.55", "181.818181", "0.012345"]] for t in trades}
    _timed(
        "ledger in full (start-up, export)",
        lambda: files.ledger_files(None, None, trades, settlements, levels),
    )
    known = builder.state.ledger_file
    extra = Trade(
        len(trades) + 1,
        10**9,
        "new",
        NOW,
        "1",
        "1",
        "1",
        "No",
        "Q",
        Side.BUY,
        D(1),
        D(1),
        D(0),
        "r",
    )
    new = rows.ledger_entries([extra], [], {})
    _timed(
        "ledger, one new trade (appended)",
        lambda: files.ledger_files(known, new, [*trades, extra], settlements, levels),
    )
    _timed(
        "history (each evening)",
        lambda: files.history_files(_snapshots(365), {"default": D(10**8)}),
    )
    path = builder.layout.signals_archive("2026-12")
    month = [
        _signal(m, today - timedelta(days=d), n)
        for d in range(args.days - 1, -1, -1)
        for n, m in enumerate(signalled)
    ]
    _timed(f"signal archive in full ({args.days} days)", lambda: files.archive_file(path, month))
    found = arrays.last_day(path)
    assert found is not None
    day_entries = rows.archive_entries(signal_rows)
    _timed("signal archive, one day spliced", lambda: files.splice(path, found[1], day_entries))
    builder.state.equity = []
    from prescientd.mirrors.columns import EXPORTS
    from prescientd.mirrors.workbook import Sheet

    sheets = [Sheet(e, builder.state.tables.get(e.filename, [])) for e in EXPORTS]
    _timed(
        "workbook (when a CSV changed)",
        lambda: files.workbook_file(builder.layout.workbook, sheets, [], NOW),
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"  peak RSS {peak} MB (all the values above held at once)")


if __name__ == "__main__":
    main()
