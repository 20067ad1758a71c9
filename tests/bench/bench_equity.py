"""Benchmark: paging every strategy's equity curve costs the page, not the offset or the history.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_equity.py [--points 105000] [--strategies 3] [--rounds 50]

Builds `--strategies` in-memory equity series of `--points` poll points each (a year of 5-minute
polls is ~105,000), the variants' series starting later (a variant added during the year), then
times, median of `--rounds`, `merged_page` (the unfiltered `/api/v1/equity`) for the dashboard's
page (5,000 newest), a page at the middle of the history and the oldest page, and one strategy's
own page for reference. It also reports the series' memory.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from prescientd.store.runs import PollValuation
from prescientd.web.equity import EquitySeries, merged_page

T0 = datetime(2025, 10, 6, 14, 0, tzinfo=UTC)


def _series(name: str, points: int, start: int) -> EquitySeries:
    series = EquitySeries(Decimal(10000), name)
    polls = [
        PollValuation(
            n + 1,
            T0 + timedelta(minutes=5 * (start + n)),
            Decimal(10000 + n % 97),
            Decimal(9000),
        )
        for n in range(points)
    ]
    series.extend(polls, [])
    return series


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=105_000)
    parser.add_argument("--strategies", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    names = ["default", *(f"variant{i}" for i in range(1, args.strategies))]
    series = [_series(name, args.points - 1000 * i, 1000 * i) for i, name in enumerate(names)]
    total = sum(len(s) for s in series)
    # the arrays: time (8), equity (8), cash (8), drawdown (8) and source (1) bytes a point
    size_mb = total * 33 / 1e6
    print(f"{len(series)} strategies, {total:,} points, ~{size_mb:.1f} MB of arrays")
    cases = {
        "dashboard page (5,000 newest, all strategies)": lambda: merged_page(series, 5000, 0, True),
        "middle page (1,000 at offset total/2)": lambda: merged_page(
            series, 1000, total // 2, False
        ),
        "oldest page (1,000 at offset 0, asc)": lambda: merged_page(series, 1000, 0, False),
        "deepest page (1,000 newest-first at the end)": lambda: merged_page(
            series, 1000, total - 1000, True
        ),
        "one strategy's 5,000 newest (reference)": lambda: series[0].page(5000, 0, True),
    }
    for label, fn in cases.items():
        print(f"{label}: {_median_ms(fn, args.rounds):.2f} ms")


if __name__ == "__main__":
    main()
