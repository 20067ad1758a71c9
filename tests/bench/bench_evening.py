"""Benchmark for issue 12 (storage and the evening): a synthetic 20M-snapshot day at the full
universe, written through the real `record_poll`, then the real evening and the retention drop.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_evening.py [--tokens 162560] [--polls 125] [--keep]

What it does, on a real SQLite file under a temporary directory:

1. the cost of one poll's SQLite writes at `--tokens` tokens, for polls where no price, 30% of
   the prices and every price moved (each token alternates between two books, so "moved" is a
   real change of best bid/ask, last trade and display price);
2. builds one local day of `--polls` polls in which every price moves: tokens x polls snapshots
   (160k x 125 = 20M, the size of a busy full-universe day), reporting the per-poll write time;
3. the database's bytes by table (dbstat): snapshot partition, bars, current quotes, and the
   steady-state bytes per tracked token per day (snapshots for keep_days, bars kept for ever);
4. runs `prescientd once evening` on that database in a fresh process (its wall time and peak
   RSS are the evening's: start-up checks, portfolio snapshot, daily_prices file from the bars,
   retention, signal archive, mirrors), then drops the day's partition as retention would a
   day later (its time, and the pages freed for reuse).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from prescientd.models import Quote
from prescientd.store.db import Store

TARGET_EVENING_S = 30.0
TARGET_EVENING_MB = 600.0


def make_quote(token: str, bid: Decimal, depth: int) -> Quote:
    """A two-sided quote around bid (the fetch time is set per poll)."""
    ask = bid + Decimal("0.01")
    mid = (bid + ask) / 2
    return Quote(
        token_id=token,
        best_bid=bid,
        best_ask=ask,
        mid=mid,
        spread=ask - bid,
        display=mid,
        last_trade=bid,
        bid_depth_shares=Decimal(depth),
        bid_depth_usd=Decimal(depth) * bid,
        ask_depth_shares=Decimal(500),
        ask_depth_usd=Decimal(500) * ask,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        book_timestamp_ms=depth,
        book_hash=f"{depth:040x}",
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def two_books(tokens: list[str]) -> tuple[dict[str, Quote], dict[str, Quote]]:
    """Two quotes per token with different prices: alternating them moves every price."""
    rng = random.Random(12)
    first, second = {}, {}
    for n, token in enumerate(tokens):
        bid = Decimal(rng.randint(5, 90)) / 100
        first[token] = make_quote(token, bid, 1000 + n)
        second[token] = make_quote(token, bid + Decimal("0.02"), 2000 + n)
    return first, second


def peak_rss_mb() -> float:
    """Peak RSS of this process (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def record(
    store: Store, quotes: dict[str, Quote], when: datetime, day: str, run: str
) -> tuple[float, int]:
    """One poll through the store: (seconds, snapshots appended)."""
    t0 = time.perf_counter()
    appended = await store.record_poll(
        run_id=run,
        fetched_at=when,
        local_date=day,
        quotes=quotes,
        missing=[],
        rejected=[],
        requests=len(quotes) // 500 + 1,
        tokens_requested=len(quotes),
    )
    return time.perf_counter() - t0, appended


async def table_bytes(store: Store) -> dict[str, int]:
    """Bytes used per table (and index) in the main file."""
    await store.db.read("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = await store.db.read("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
    return {str(r[0]): int(r[1]) for r in rows}


async def poll_costs(root: Path, tokens: list[str]) -> None:
    """Step 1: one poll's writes when nothing, 30% or everything moved."""
    store = await Store.open(root / "costs.db", starting_balance_usd=Decimal(10000))
    try:
        first, second = two_books(tokens)
        day = datetime.now(UTC).replace(hour=0, minute=5, second=0, microsecond=0)
        rng = random.Random(5)
        current = dict(first)
        await record(store, current, day, day.date().isoformat(), "warm")
        print(f"poll writes at {len(tokens):,} tokens (one transaction each):")
        for n, (label, share) in enumerate(
            (("nothing moved", 0.0), ("30% moved", 0.3), ("all moved", 1.0)), start=1
        ):
            for token in tokens:
                if rng.random() < share:
                    current[token] = (
                        second[token] if current[token] is first[token] else first[token]
                    )
            seconds, appended = await record(
                store, current, day + timedelta(minutes=5 * n), day.date().isoformat(), str(n)
            )
            print(f"  {label:14s} {seconds:6.2f} s  {appended:>9,} snapshots")
    finally:
        await store.close()


async def build_day(db: Path, tokens: list[str], polls: int) -> str:
    """Step 2: today's polls, every price moving each time; returns the local date."""
    store = await Store.open(db, starting_balance_usd=Decimal(10000))
    try:
        first, second = two_books(tokens)
        start = datetime.now(UTC).replace(hour=0, minute=1, second=0, microsecond=0)
        day = start.date().isoformat()
        total, times = 0, []
        t0 = time.perf_counter()
        for n in range(polls):
            quotes = first if n % 2 == 0 else second
            seconds, appended = await record(
                store, quotes, start + timedelta(seconds=20 * n), day, f"p{n}"
            )
            total += appended
            times.append(seconds)
            if n % 25 == 24:
                print(
                    f"  {n + 1:4d} polls, {total:>12,} snapshots, {time.perf_counter() - t0:6.0f} s"
                )
        times.sort()
        median = times[len(times) // 2]
        print(
            f"built {total:,} snapshots in {polls} polls: per poll median {median:.2f} s,"
            f" max {times[-1]:.2f} s; builder peak RSS {peak_rss_mb():.0f} MB"
        )
        sizes = await table_bytes(store)
        part = sum(v for k, v in sizes.items() if k.startswith("price_snapshots_"))
        bars = sizes.get("price_bars", 0)
        quotes_b = sizes.get("quote_status", 0) + sizes.get("price_tokens", 0)
        quotes_b += sum(
            v for k, v in sizes.items() if k.startswith("sqlite_autoindex_price_tokens")
        )
        n_tok = len(tokens)
        print(f"database {sum(sizes.values()) / 1e6:,.0f} MB after the day:")
        print(
            f"  snapshot partition {part / 1e6:8.1f} MB = {part / max(total, 1):.1f} B per snapshot"
        )
        print(f"  daily bars         {bars / 1e6:8.1f} MB = {bars / n_tok:.1f} B per token per day")
        print(f"  current quotes     {quotes_b / 1e6:8.1f} MB (fixed: one row per token)")
        per_day = part / n_tok
        print(
            f"  steady state per tracked token: {per_day / 1024:.1f} KiB per day of history"
            f" ({total // n_tok} snapshots) kept keep_days, plus {bars / n_tok:.0f} B per day"
            f" for ever; keep_days=30 -> {30 * per_day * n_tok / 1e9:.1f} GB of snapshots"
            f" at {n_tok:,} tokens"
        )
        return day
    finally:
        await store.close()


def evening(root: Path, db: Path) -> None:
    """Step 4: `prescientd once evening` in a fresh process; its wall time and peak RSS."""
    config = root / "evening.toml"
    config.write_text(
        f'timezone = "UTC"\n[paths]\ndata_dir = "{root / "data"}"\nlogs_dir = "{root / "logs"}"\n'
        f'db_path = "{db}"\n[logging]\nfile = false\n[record]\nkeep_days = 30\n'
    )
    script = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run([sys.executable, '-m', 'prescientd', 'once', 'evening', '--config',"
        f" {str(config)!r}], capture_output=True, text=True)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(r.returncode, round(time.perf_counter() - t, 2), round(rss), flush=True)\n"
        "sys.stderr.write(r.stderr[-2000:])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    code, wall, rss = out.stdout.split()
    print(
        f"evening (prescientd once evening, fresh process): exit {code}, {float(wall):.1f} s wall"
        f" (target <= {TARGET_EVENING_S:.0f} s), peak RSS {float(rss):.0f} MB"
        f" (target <= {TARGET_EVENING_MB:.0f} MB)"
    )
    if code != "0":
        print(out.stderr)
    files = sorted((root / "data" / "markets").glob("daily_prices_*.json"))
    for path in files:
        print(f"  {path.name}: {path.stat().st_size / 1e6:.1f} MB")


async def drop_day(db: Path, day: str) -> None:
    """Step 5: the day's partition dropped as retention does once it is older than keep_days."""
    from datetime import date
    from datetime import time as dtime

    store = await Store.open(db)
    try:
        later = date.fromisoformat(day) + timedelta(days=1)
        t0 = time.perf_counter()
        result = await store.retain_price_history(later, datetime.combine(later, dtime(0), UTC))
        spent = time.perf_counter() - t0
        size = (await asyncio.to_thread(db.stat)).st_size
        print(
            f"retention: dropped {list(result.dropped)} in {spent:.2f} s,"
            f" {result.freed_bytes / 1e6:,.0f} MB freed for reuse (file stays"
            f" {size / 1e6:,.0f} MB; the next days' partitions reuse the pages)"
        )
        bars = await store.daily_bars(day)
        print(f"  the day's bars are kept: {len(bars):,} tokens")
    finally:
        await store.close()


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=162_560)
    parser.add_argument("--polls", type=int, default=125)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-evening-"))
    try:
        tokens = [str(10**76 + 7919 * n) for n in range(args.tokens)]
        asyncio.run(poll_costs(root, tokens))
        db = root / "data" / "prescient.db"
        db.parent.mkdir(parents=True)
        day = asyncio.run(build_day(db, tokens, args.polls))
        evening(root, db)
        asyncio.run(drop_day(db, day))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
