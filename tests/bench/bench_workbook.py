"""Benchmark: the workbook and the CSVs for a big paper account (not collected by pytest).

    .venv/bin/python tests/bench/bench_workbook.py [--trades 20000] [--markets 10000] [--days 365]

Builds rows shaped like the mirrors' (trades_summary, markets_extracted, markets_current,
positions_current, performance_daily, portfolio_history) with real-length ids and accented text,
then, each in a fresh process so peak RSS means something, times `write_workbook` in both XlsxWriter
modes and `write_table_csv` for the same rows. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from prescientd.mirrors import columns
from prescientd.mirrors.files import write_table_csv
from prescientd.mirrors.workbook import EquityPoint, Sheet, write_workbook

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _token(rng: random.Random) -> str:
    return str(rng.randrange(10**76, 10**77))


def _trades(n: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "time": (T0 + timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "trade_id": i + 1,
            "market_id": str(500_000 + i % 3000),
            "question": f"Will Atlético Madrid beat Bayern München on matchday {i % 38}?",
            "outcome": "No",
            "side": "buy",
            "shares": 181.818181,
            "avg_price": 0.55,
            "fees_usd": 0.012345,
            "cost_usd": 100.012345,
            "proceeds_usd": None,
            "status": "settled" if i % 3 else "open",
            "open_shares": 0,
            "realized_pnl_usd": rng.uniform(-100, 80),
            "settlement_payout_per_share": 1.0,
            "settled_at": (T0 + timedelta(days=i % 300)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "token_id": _token(rng),
        }
        for i in range(n)
    ]


def _markets(n: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    extracted, current = [], []
    for i in range(n):
        question = f"Will candidate {i} win the {i % 50} district election? (München edition)"
        extracted.append(
            {
                "event_id": str(90_000 + i // 4),
                "market_id": str(500_000 + i),
                "condition_id": f"0x{rng.getrandbits(256):064x}",
                "slug": f"candidate-{i}-district",
                "question": question,
                "event_title": f"District {i % 50} election",
                "outcome_yes": "Yes",
                "outcome_no": "No",
                "yes_token_id": _token(rng),
                "no_token_id": _token(rng),
                "tick_size": 0.001,
                "min_order_size": 5,
                "fee_rate": 0.25,
                "fee_exponent": 2,
                "fees_enabled": True,
                "end_date": "2026-12-31T00:00:00.000000Z",
                "liquidity_usd": rng.uniform(1000, 1e6),
                "volume_usd": rng.uniform(1000, 1e7),
                "volume_24h_usd": rng.uniform(0, 1e5),
                "neg_risk": False,
                "tags": "politics;elections",
            }
        )
        mid = rng.uniform(0.01, 0.99)
        current.append(
            {
                "market_id": str(500_000 + i),
                "question": question,
                "event_id": str(90_000 + i // 4),
                "outcome_yes": "Yes",
                "outcome_no": "No",
                "yes_bid": mid - 0.005,
                "yes_ask": mid + 0.005,
                "yes_mid": mid,
                "no_bid": 0.995 - mid,
                "no_ask": 1.005 - mid,
                "no_mid": 1 - mid,
                "display_price": mid,
                "spread": 0.01,
                "yes_bid_depth_usd": rng.uniform(0, 5e4),
                "yes_ask_depth_usd": rng.uniform(0, 5e4),
                "no_ask_depth_usd": rng.uniform(0, 5e4),
                "age_s": rng.uniform(0, 300),
                "stale": False,
                "as_of": T0,
            }
        )
    return extracted, current


def _performance(days: int) -> list[dict[str, Any]]:
    return [
        {
            "date": (date(2026, 1, 1) + timedelta(days=d)).isoformat(),
            "equity_usd": 10_000 + 3 * d,
            "daily_return": 0.0003,
            "cumulative_return": 0.0003 * d,
            "drawdown": -0.01 if d % 10 == 0 else 0.0,
            "max_drawdown": -0.01,
            "win_rate": 0.55,
            "trade_count": d * 50,
        }
        for d in range(days)
    ]


def _sheets(args: argparse.Namespace) -> tuple[list[Sheet], list[EquityPoint]]:
    rng = random.Random(1)
    extracted, current = _markets(args.markets, rng)
    performance = _performance(args.days)
    sheets = [
        Sheet(columns.TRADES_SUMMARY, _trades(args.trades, rng)),
        Sheet(columns.PERFORMANCE_DAILY, performance),
        Sheet(columns.MARKETS_CURRENT, current),
        Sheet(columns.MARKETS_EXTRACTED, extracted),
    ]
    points = [
        EquityPoint(date.fromisoformat(r["date"]), r["equity_usd"], r["drawdown"])
        for r in performance
    ]
    return sheets, points


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    sheets, points = _sheets(args)
    out = Path(tempfile.mkdtemp(prefix="bench-workbook-"))
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu_start = time.perf_counter(), time.process_time()
    if args.what == "csv":
        for sheet in sheets:
            write_table_csv(out / sheet.export.filename, sheet.export.columns, sheet.rows)
    else:
        write_workbook(
            out / "prescientd.xlsx",
            sheets,
            points,
            datetime.now(UTC),
            constant_memory=args.what == "xlsx-constant-memory",
        )
    elapsed_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    size = sum(p.stat().st_size for p in out.iterdir())
    for p in out.iterdir():
        p.unlink()
    out.rmdir()
    return {
        "what": args.what,
        "elapsed_s": round(elapsed_s, 2),
        "cpu_s": round(cpu_s, 2),  # the machine is shared: CPU time is the steadier figure
        "bytes": size,
        "cells": sum(len(s.rows) * len(s.export.columns) for s in sheets),
        "rss_before_mib": rss_before_kb // 1024,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    """Run each measurement in its own process and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--markets", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--what", default="")
    args = parser.parse_args()
    if args.what:
        print(json.dumps(_measure(args)))
        return
    print(f"trades={args.trades} markets={args.markets} days={args.days}")
    for what in ("xlsx-in-memory", "xlsx-constant-memory", "csv"):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--what", what]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900)
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
