"""Benchmark for issue 11: the scheduler and one poll's reads on a year of history vs a fresh DB.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_history.py [--repeat 30] [--old-query]

It builds two databases in a temporary directory with the same current state (a refresh of
MARKETS eligible binary markets, one poll of quotes for their tokens, OPEN_POSITIONS open
positions):

- fresh: that state and a day of job runs;
- year: that state plus a year of 5-minute job runs (~106,000 rows: polls, mornings, evenings,
  with a 300-poll outage of failures during which the daily jobs fail and retry every 5 minutes)
  and 20,000 historic trades (round trips on other markets, so the open positions are the same).

Then it prints, for each database, the median of --repeat runs of:

- the scheduler's start-up load (`Store.schedule_history`, the one read of the job history);
- one scheduler step (`Scheduler.due`, in memory: it never reads the database);
- one poll's reads (`poll_reads` below: portfolio, tracked markets, their latest quotes),

with the ratio year / fresh side by side. The job runs are inserted with one executemany (the
store's API writes one run per transaction, which would take minutes); the trades, refresh and
quotes go through the store's own methods. --old-query also times, once, the correlated query the
scheduler ran twice per loop before (the one this issue removed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared factories

from conftest import make_book, make_intent, make_market
from prescientd.clock import SystemClock, iso_utc
from prescientd.config import Config, PricesConfig
from prescientd.core.prices import quote_from_book
from prescientd.models import JOB_CANCELLED_ERROR, Event, Market, Side
from prescientd.portfolio import PortfolioService
from prescientd.scheduler import SCHEDULED_JOBS, Scheduler, ScheduleState
from prescientd.store.db import Store, connect_sync

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 10, 6, 15, 30, tzinfo=UTC)  # 11:30 in New York: morning done, evening due
MARKETS = 500
OPEN_POSITIONS = 50
HISTORIC_TRADES = 20_000
POLL_S = 300
YEAR_POLLS = 365 * 24 * 3600 // POLL_S  # 105,120
OUTAGE_POLLS = 300
TARGET_RATIO = 1.2  # the issue: the same cost within 20% at a year of history


# ------------------------------------------------------------------------------------------------
# what is measured


async def poll_reads(store: Store) -> int:
    """One poll's reads of the current state, through the portfolio service the poll uses (it
    keeps its replay between polls and folds only newer ledger rows, as in the daemon)."""
    service = PortfolioService.of(store)
    portfolio = await service.read()
    tracked = await service.tracked(portfolio)
    tokens = {t for m in [*tracked.eligible, *tracked.held] for t in m.token_ids}
    quotes = await store.latest_quotes(tokens)
    return len(quotes)


async def scheduler_load(store: Store) -> ScheduleState:
    """The scheduler's start-up read of the job history."""
    last_ok, failed_at = await store.schedule_history(SCHEDULED_JOBS)
    return ScheduleState(last_ok=last_ok, failed_at=failed_at)


# ------------------------------------------------------------------------------------------------
# building the databases


def _markets() -> list[Market]:
    return [make_market(f"{i:04d}", event_id=f"e{i // 5:03d}") for i in range(MARKETS)]


def _events(markets: list[Market]) -> list[Event]:
    by_event: dict[str, list[Market]] = {}
    for market in markets:
        by_event.setdefault(market.event_id, []).append(market)
    one = Decimal(1)
    return [
        Event(eid, eid, eid, (), True, False, None, one, one, one, False, tuple(ms))
        for eid, ms in by_event.items()
    ]


async def build_current_state(store: Store) -> None:
    """The state both databases share: a refresh, a poll of quotes, the open positions."""
    markets = _markets()
    await store.save_refresh(
        run_id="refresh-now",
        fetched_at=NOW - timedelta(hours=2),
        pages=1,
        events_received=len(markets) // 5,
        eligible_events=_events(markets),
        items_skipped=0,
        rejections={},
        raw_events_json=None,
    )
    quotes = {}
    for market in markets:
        for token in market.token_ids:
            book = make_book(token, [("0.40", "500")], [("0.42", "500")])
            quotes[token] = quote_from_book(book, NOW - timedelta(minutes=1), PricesConfig())
    await store.record_poll(
        run_id="poll-now",
        fetched_at=NOW - timedelta(minutes=1),
        local_date=(NOW - timedelta(minutes=1)).date().isoformat(),
        quotes=quotes,
        missing=[],
        rejected=[],
        requests=1,
        tokens_requested=len(quotes),
    )
    opens = [
        make_intent(f"open-{m.market_id}", market_id=m.market_id, token_id=m.token_ids[1])
        for m in markets[:OPEN_POSITIONS]
    ]
    await store.record_trades(opens, NOW - timedelta(hours=1))


async def build_trade_history(store: Store) -> None:
    """HISTORIC_TRADES trades: buy-then-sell round trips on markets no longer tracked."""
    batch: list[Any] = []
    start = NOW - timedelta(days=365)
    for i in range(HISTORIC_TRADES // 2):
        market, token = f"h{i:05d}", f"h{i:05d}-no"
        batch.append(make_intent(f"hb{i}", market_id=market, token_id=token))
        batch.append(make_intent(f"hs{i}", market_id=market, token_id=token, side=Side.SELL))
        if len(batch) >= 500:
            await store.record_trades(batch, start + timedelta(minutes=25 * i))
            batch = []
    if batch:
        await store.record_trades(batch, start + timedelta(days=364))


@dataclass
class _Runs:
    rows: list[tuple[Any, ...]]

    def add(self, job: str, at: datetime, ok: bool, error: str | None = None) -> None:
        run_id = f"{job[0]}{len(self.rows):07d}"
        local_date = at.astimezone(NY).date().isoformat()
        outcome = "ok" if ok else "failed"
        if not ok and error is None:
            error = "fetch: HTTP 503 (outage)"
        started, finished = iso_utc(at), iso_utc(at + timedelta(seconds=2))
        self.rows.append((run_id, job, local_date, started, finished, outcome, 1, "{}", error))


def _slots(day_start: datetime) -> Iterator[tuple[str, datetime]]:
    for job, hour in (("morning", 9), ("evening", 18)):
        yield job, datetime.combine(day_start.astimezone(NY).date(), dt_time(hour), tzinfo=NY)


def year_of_runs() -> list[tuple[Any, ...]]:
    """A year of 5-minute polls and daily jobs ending at NOW, with one 300-poll outage."""
    runs = _Runs([])
    start = NOW - timedelta(seconds=YEAR_POLLS * POLL_S)
    outage_start = start + timedelta(days=200)
    outage_end = outage_start + timedelta(seconds=OUTAGE_POLLS * POLL_S)
    day = start
    while day <= NOW:
        for job, slot in _slots(day):
            if not start <= slot < NOW:
                continue
            at = slot
            while outage_start <= at < outage_end:  # fail and retry every 5 minutes
                runs.add(job, at, ok=False)
                at += timedelta(seconds=POLL_S)
            runs.add(job, at, ok=True)
        day += timedelta(days=1)
    for i in range(YEAR_POLLS):
        at = start + timedelta(seconds=i * POLL_S)
        runs.add("poll", at, ok=not outage_start <= at < outage_end)
    runs.add("poll", NOW - timedelta(seconds=30), ok=False, error=JOB_CANCELLED_ERROR)
    return runs.rows


def insert_job_runs(db: Path, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert job runs in one transaction (bench set-up only)."""
    conn = connect_sync(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO job_runs (run_id, job, local_date, started_at, finished_at, outcome,"
            " config_version, counts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def fresh_runs() -> list[tuple[Any, ...]]:
    """Today's morning and the last few polls, as a database a day old would have."""
    runs = _Runs([])
    runs.add("morning", NOW - timedelta(hours=2, minutes=30), ok=True)
    for i in range(12):
        runs.add("poll", NOW - timedelta(seconds=POLL_S * (12 - i)), ok=True)
    return runs.rows


async def build(db: Path, *, year: bool) -> None:
    """One benchmark database."""
    store = await Store.open(db, starting_balance_usd=Decimal(1_000_000))
    try:
        await build_current_state(store)
        if year:
            await build_trade_history(store)
    finally:
        await store.close()
    insert_job_runs(db, year_of_runs() if year else fresh_runs())


# ------------------------------------------------------------------------------------------------
# timing


async def medians_s(fns: dict[str, Callable[[], Awaitable[Any]]], repeat: int) -> dict[str, float]:
    """Median wall time of repeat awaited calls of each fn, the fns taking turns (so load on the
    shared machine hits both alike), after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        await fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def steps_s(schedulers: dict[str, Scheduler], repeat: int) -> dict[str, float]:
    """Median time of one scheduler step (in memory), the schedulers taking turns."""
    times: dict[str, list[float]] = {name: [] for name in schedulers}
    for i in range(repeat * 100):
        now = NOW + timedelta(seconds=i)
        for name, scheduler in schedulers.items():
            t0 = time.perf_counter()
            scheduler.due(now)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


async def measure(dbs: dict[str, Path], repeat: int) -> dict[str, dict[str, float]]:
    """The three figures for each database: {figure: {database: seconds}}."""
    stores = {name: await Store.open(db) for name, db in dbs.items()}
    try:
        config = Config(timezone="America/New_York")
        schedulers = {}
        for name, store in stores.items():
            state = await scheduler_load(store)
            schedulers[name] = Scheduler(SystemClock(), lambda: config, state, started_at=NOW)
            assert schedulers[name].due(NOW).jobs == [], "the fixture's morning is done today"
            assert await poll_reads(store) == 2 * MARKETS
        loads = {name: _bind(scheduler_load, store) for name, store in stores.items()}
        reads = {name: _bind(poll_reads, store) for name, store in stores.items()}
        return {
            "load": await medians_s(loads, repeat),
            "step": steps_s(schedulers, repeat),
            "reads": await medians_s(reads, repeat),
        }
    finally:
        for store in stores.values():
            await store.close()


def _bind(fn: Callable[[Store], Awaitable[Any]], store: Store) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(store)


def old_query_s(db: Path) -> float:
    """One run of the correlated query the scheduler ran twice per loop before issue 11, on a
    copy of db without migration 0002's indexes (the schema it ran on)."""
    old = db.with_name("before-issue-11.db")
    shutil.copyfile(db, old)
    conn = connect_sync(old)
    try:
        conn.execute("DROP INDEX job_runs_by_outcome")
        conn.execute("DROP INDEX job_runs_by_outcome_date")
        t0 = time.perf_counter()
        conn.execute(
            "SELECT job, MAX(finished_at) AS f FROM job_runs j WHERE outcome='failed'"
            " AND COALESCE(error, '') != ? AND id >"
            " COALESCE((SELECT MAX(id) FROM job_runs k WHERE k.job=j.job AND outcome='ok'), 0)"
            " GROUP BY job",
            (JOB_CANCELLED_ERROR,),
        ).fetchall()
        return time.perf_counter() - t0
    finally:
        conn.close()


def report(figures: dict[str, dict[str, float]], rows: int) -> list[str]:
    """The figures as printed lines."""
    lines = [
        (
            f"job_runs in the year database: {rows:,}; historic trades: {HISTORIC_TRADES:,};"
            f" tracked tokens: {2 * MARKETS}; open positions: {OPEN_POSITIONS}"
        ),
        f"{'':38} {'fresh':>12} {'year':>12} {'ratio':>8}",
    ]
    names = {
        "load": "scheduler start-up load",
        "step": "scheduler step (due)",
        "reads": "poll reads (portfolio+markets+quotes)",
    }
    for key, label in names.items():
        fresh, year = figures[key]["fresh"], figures[key]["year"]
        ratio = year / fresh
        mark = "ok" if ratio <= TARGET_RATIO else f"over {TARGET_RATIO:g}"
        lines.append(f"{label:38} {fresh * 1e3:9.3f} ms {year * 1e3:9.3f} ms {ratio:7.2f}x {mark}")
    return lines


async def main_async(args: argparse.Namespace) -> None:
    """Build, measure, print."""
    with tempfile.TemporaryDirectory(prefix="prescientd-bench-") as tmp:
        fresh_db, year_db = Path(tmp) / "fresh.db", Path(tmp) / "year.db"
        t0 = time.perf_counter()
        await build(fresh_db, year=False)
        await build(year_db, year=True)
        rows = len(year_of_runs())
        print(f"built both databases in {time.perf_counter() - t0:.1f} s")
        figures = await measure({"fresh": fresh_db, "year": year_db}, args.repeat)
        print("\n".join(report(figures, rows)))
        if args.old_query:
            before_s = old_query_s(year_db)
            print(f"before issue 11, the old failure query on the year database: {before_s:.2f} s")
        print("BENCH_RESULT " + json.dumps(figures))


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per figure")
    parser.add_argument("--old-query", action="store_true", help="also time the old query once")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
