"""Benchmark for issue 12: the real morning and polls against a full-size simulator.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_scale.py --markets 10000            # ~5,000 binary tracked
    .venv/bin/python tests/bench/bench_scale.py --events 53000             # the full universe
    .venv/bin/python tests/bench/bench_scale.py --events 4000 --max-markets 5000 --history --profile

What it does, all on 127.0.0.1 and stopping by itself:

1. starts the simulator in its own process (`python -m prescientd.sim`) sized by --events, or by
   --markets (about that many markets of every kind, `sim.server.events_for_markets`);
2. writes a config with permissive filters and `max_markets` raised (--max-markets, default: no
   cap), the shipped limiter (`clob_requests_per_10s` etc. at their defaults);
3. runs `prescientd once morning`, then --polls times `prescientd once poll`, each as its own
   process started just after a simulator price step boundary (so prices move every poll and the
   simulator builds its books while serving them), and prints per phase: wall time (process, and
   the job's own duration from its `job_finished` log line), requests by route (from the
   simulator's log), the rate-limit floor (requests / the configured rate per 10 s, the busier host)
   and the ratio to it, peak RSS (os.wait4), CPU of the client and of the simulator, bytes written
   per mirror file, and the database's growth (db + wal);
4. measures the per-book parse cost on 500 of the simulator's own books, before (main's parser,
   from bench_parse.py) and after;
5. with --history: copies the data directory as the morning left it, loads 20,000 trades (store
   API, round trips on untracked markets: cash never negative) and a year of job runs (~105,000
   rows with a 300-poll outage, one executemany) into the copy (bench_history.py builds both), runs
   the same polls on it and prints per-poll time against the fresh database;
6. with --profile: one more poll under cProfile (every thread: the event loop's, the book
   parsing thread, aiosqlite's), time per area of the poll and the functions it spent most time
   in; with --py-spy PATH: one more poll sampled by that py-spy (100 Hz, every thread, far less
   overhead than cProfile, which inflates call-heavy code such as parsing), seconds per area.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import bench_history
import bench_parse
import bench_poll
import scale_profile
from bench_poll import (
    CONFIG_TEMPLATE,
    RESULT_PREFIX,
    _opener,
    sim_get,
    sim_post,
    simulator,
    wait_for_fresh_step,
)

from prescientd.config import load_config
from prescientd.logs import ItemProblems
from prescientd.polymarket.books import decode_books
from prescientd.polymarket.clob import _parse_reply
from prescientd.sim.app import route_group
from prescientd.sim.server import events_for_markets
from prescientd.store.db import Store

# Longer than a full-universe fetch, so the simulator builds each market's two books once per poll
# (with 5 s steps a fetch spans several, and a market whose YES and NO books fall in different
# steps is built twice, doubling the simulator's work); each phase starts on a fresh step.
PRICE_STEP_S = 30.0
PHASE_TIMEOUT_S = 3600.0
PARSE_SAMPLE = 500
NO_CAP = 1_000_000
DB_SUFFIXES = ("", "-wal", "-shm")
PRESCIENTD = Path(sys.executable).with_name("prescientd")


# ------------------------------------------------------------------------------------------------
# one phase: a `prescientd once JOB` process, measured from outside


@dataclass
class Phase:
    """What one `once` process did and cost."""

    name: str
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    sim_cpu_s: float
    routes: Counter[str]
    hosts: Counter[str]
    statuses: Counter[str]
    files_written: dict[str, int]
    db_before: int
    db_after: int
    job: dict[str, Any] = field(default_factory=dict)
    load_at_start: float = 0.0

    @property
    def db_growth(self) -> int:
        """Bytes the database (db + wal + shm) grew by."""
        return self.db_after - self.db_before


def _sim_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/pid/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _files(data_dir: Path, db_path: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every mirror file under data_dir (the database excluded)."""
    skip = {db_path.name + suffix for suffix in DB_SUFFIXES}
    out = {}
    for path in data_dir.rglob("*"):
        if path.is_file() and path.name not in skip and not path.name.endswith(".lock"):
            stat = path.stat()
            out[str(path.relative_to(data_dir))] = (stat.st_size, stat.st_mtime_ns)
    return out


def _db_bytes(db_path: Path) -> int:
    return sum(
        p.stat().st_size for s in DB_SUFFIXES if (p := db_path.with_name(db_path.name + s)).exists()
    )


def _job_line(logs_dir: Path, job: str) -> dict[str, Any]:
    """The last `job_finished` line of `job` in the JSON log files."""
    found: dict[str, Any] = {}
    for path in sorted(logs_dir.glob("*.txt")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if '"job_finished"' in line and f'"job": "{job}"' in line.replace('":"', '": "'):
                    found = json.loads(line)
    return found


def run_phase(
    name: str, job: str, config_path: Path, sim_url: str, sim_pid: int, env: dict[str, str]
) -> Phase:
    """Run `prescientd once JOB` in a fresh process just after a price step boundary."""
    config = load_config(config_path)
    data_dir, db_path, logs_dir = config.paths.data_dir, config.paths.db_path, config.paths.logs_dir
    wait_for_fresh_step(PRICE_STEP_S)
    sim_post(sim_url, "/_sim/requests/clear")
    files_before = _files(data_dir, db_path)
    db_before = _db_bytes(db_path)
    sim_cpu_before = _sim_cpu_s(sim_pid)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out_path = logs_dir / f"stdout-{name}.txt"
    logs_dir.mkdir(parents=True, exist_ok=True)
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [str(PRESCIENTD), "once", job, "--config", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.perf_counter() - start
    sim_cpu_s = _sim_cpu_s(sim_pid) - sim_cpu_before
    records = sim_get(sim_url, "/_sim/requests")["requests"]
    files_after = _files(data_dir, db_path)
    written = {
        path: size
        for path, (size, mtime) in files_after.items()
        if files_before.get(path, (-1, -1))[1] != mtime
    }
    return Phase(
        name=name,
        exit_code=proc.returncode,
        wall_s=wall_s,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        sim_cpu_s=sim_cpu_s,
        routes=Counter(f"{r['method']} {_route(r['path'])}" for r in records),
        hosts=Counter(route_group(r["path"]) for r in records),
        statuses=Counter(str(r["status"]) for r in records),
        files_written=written,
        db_before=db_before,
        db_after=_db_bytes(db_path),
        job=_job_line(logs_dir, job),
        load_at_start=load,
    )


def _route(path: str) -> str:
    parts = path.split("/")
    return "/".join("{id}" if p.isdigit() or p.startswith("0x") else p for p in parts)


# ------------------------------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class Limits:
    """The shipped per-host limiter rates (requests started per 10 s)."""

    clob_per_10s: int
    gamma_per_10s: int

    def floor_s(self, hosts: Counter[str]) -> float:
        """Rate-limit floor: requests / rate, the busier host (the issue's definition)."""
        return max(hosts["clob"] / self.clob_per_10s * 10, hosts["gamma"] / self.gamma_per_10s * 10)

    def window_wait_s(self, hosts: Counter[str]) -> float:
        """What the window limiter itself makes the phase wait at least (a burst of R is free)."""
        return max(
            max(0, math.ceil(hosts["clob"] / self.clob_per_10s) - 1) * 10.0,
            max(0, math.ceil(hosts["gamma"] / self.gamma_per_10s) - 1) * 10.0,
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if abs(n) >= 100_000 else f"{n / 1e3:,.1f} kB"


def _line(label: str, value: str) -> None:
    print(f"  {label:<38} {value}")


def print_phase(phase: Phase, limits: Limits) -> None:
    """All figures of one phase."""
    job = phase.job
    ok = phase.exit_code == 0 and job.get("outcome") == "ok"
    print(f"\n-- {phase.name} ({'ok' if ok else f'FAILED exit {phase.exit_code}: {job}'})")
    duration = job.get("duration_s")
    floor = limits.floor_s(phase.hosts)
    _line(
        "wall: process / job",
        f"{phase.wall_s:.1f} s / {duration if duration is not None else '?'} s",
    )
    _line(
        "CPU: client / simulator",
        f"{phase.cpu_s:.1f} s / {phase.sim_cpu_s:.1f} s (load at start {phase.load_at_start:.2f})",
    )
    _line("peak RSS (client process)", f"{phase.peak_rss_mb:,.0f} MB")
    routes = ", ".join(f"{k} {v}" for k, v in sorted(phase.routes.items()))
    _line("requests", f"{sum(phase.routes.values())} ({routes}); statuses {dict(phase.statuses)}")
    if floor > 0:
        ratio_job = f"{duration / floor:.1f}x" if duration is not None else "?"
        _line(
            "rate-limit floor (requests / rate)",
            f"{floor:.1f} s; process {phase.wall_s / floor:.1f}x, job {ratio_job} "
            f"(the window limiter's own wait: {limits.window_wait_s(phase.hosts):.0f} s)",
        )
    counts = {
        k: v
        for k, v in job.items()
        if k not in ("event", "level", "ts", "job", "run_id", "outcome", "duration_s", "error")
    }
    _line("job counts", json.dumps(counts))
    _line(
        "database (db + wal + shm)",
        f"{_mb(phase.db_after)} after, grew {_mb(phase.db_growth)}",
    )
    total = sum(phase.files_written.values())
    _line("mirror files written", f"{len(phase.files_written)} files, {_mb(total)}")
    for path, size in sorted(phase.files_written.items(), key=lambda item: -item[1]):
        print(f"      {size:>14,} B  {path}")


def print_polls_table(label: str, polls: list[Phase], limits: Limits) -> None:
    """One line per poll."""
    print(f"\n{label}")
    print(
        "   poll   wall s    job s   floor s  ratio  RSS MB  client CPU  sim CPU  db growth"
        "  mirrors written"
    )
    for poll in polls:
        floor = limits.floor_s(poll.hosts)
        duration = poll.job.get("duration_s") or float("nan")
        print(
            f"  {poll.name:>5} {poll.wall_s:8.1f} {duration:8.1f} {floor:9.1f} "
            f"{duration / floor if floor else float('nan'):6.1f} {poll.peak_rss_mb:7,.0f} "
            f"{poll.cpu_s:11.1f} {poll.sim_cpu_s:8.1f} {_mb(poll.db_growth):>10} "
            f"{_mb(sum(poll.files_written.values())):>16}"
        )


# ------------------------------------------------------------------------------------------------
# per-book parse cost on the simulator's books


def parse_cost(sim_url: str, repeat: int = 9) -> dict[str, float]:
    """Before/after cost per book on PARSE_SAMPLE of the simulator's live binary books."""
    truth = sim_get(sim_url, "/_sim/markets")["markets"]
    tokens = [
        t for m in truth if m["has_book"] and len(m["outcomes"]) == 2 for t in m["token_ids"]
    ][:PARSE_SAMPLE]
    request = urllib.request.Request(
        sim_url + "/books",
        data=json.dumps([{"token_id": t} for t in tokens]).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with _opener().open(request, timeout=60) as resp:
        body = resp.read()
    wanted = frozenset(tokens)
    books = bench_parse.before(body)
    levels = sum(len(b.bids) + len(b.asks) for b in books) / max(1, len(books))

    def after(data: bytes) -> Any:
        return _parse_reply(decode_books(data), wanted, ItemProblems("clob_book_rejected"))

    costs = bench_parse.compare_us(
        {"before": bench_parse.before, "after": after}, body, len(books), repeat
    )
    return {
        "books": len(books),
        "levels": levels,
        "before_us": costs["before"],
        "after_us": costs["after"],
    }


# ------------------------------------------------------------------------------------------------
# fetch + parse alone (bench_poll's worker, in a fresh process)


def fetch_worker(config_path: Path, sim_url: str) -> int:
    """ClobClient.fetch_books on every tracked token, once (bench_poll.worker_fetch)."""
    bench_poll.PRICE_STEP_S = PRICE_STEP_S  # start on one of this simulator's step boundaries
    result = asyncio.run(bench_poll.worker_fetch(config_path, sim_url))
    bench_poll.emit(result)
    return 0


def run_fetch(config_path: Path, sim_url: str, sim_pid: int, env: dict[str, str]) -> None:
    """Fetch + parse alone, printed with the simulator's CPU meanwhile."""
    sim_cpu_before = _sim_cpu_s(sim_pid)
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker-fetch",
            str(config_path),
            sim_url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=PHASE_TIMEOUT_S,
        check=True,
    )
    sim_cpu_s = _sim_cpu_s(sim_pid) - sim_cpu_before
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_PREFIX))
    fetch = json.loads(line[len(RESULT_PREFIX) :])
    limits = limits_of(config_path)
    floor_s = fetch["client_requests"] / limits.clob_per_10s * 10
    print(
        f"\nfetch + parse alone (ClobClient.fetch_books, fresh process): {fetch['tokens']:,} "
        f"tokens, {fetch['books']:,} books, {fetch['client_requests']} requests; "
        f"wall {fetch['wall_s']:.2f} s (floor {floor_s:.1f} s, {fetch['wall_s'] / floor_s:.1f}x), "
        f"CPU {fetch['cpu_s']:.2f} s, simulator CPU {sim_cpu_s:.1f} s, peak RSS "
        f"{fetch['rss_before_mb']:,.0f} MB before, {fetch['peak_rss_mb']:,.0f} MB after"
    )


# ------------------------------------------------------------------------------------------------
# history: 20,000 trades and a year of job runs


async def _load_trades(db_path: Path) -> None:
    store = await Store.open(db_path, starting_balance_usd=Decimal(10_000))
    try:
        await bench_history.build_trade_history(store)
    finally:
        await store.close()


def load_history(db_path: Path) -> tuple[int, float]:
    """Add the trades (store API) and the year of job runs (one executemany); rows, seconds."""
    start = time.perf_counter()
    asyncio.run(_load_trades(db_path))
    runs = bench_history.year_of_runs()
    bench_history.insert_job_runs(db_path, runs)
    return len(runs), time.perf_counter() - start


# ------------------------------------------------------------------------------------------------
# orchestration


def _config(root: Path, url: str, max_markets: int) -> Path:
    path = root / "prescientd.toml"
    path.write_text(
        CONFIG_TEMPLATE.format(root=root, url=url, max_markets=max_markets), encoding="utf-8"
    )
    return path


def run_polls(
    label: str, n: int, config_path: Path, url: str, sim_pid: int, env: dict[str, str]
) -> list[Phase]:
    """n polls, each its own process; printed as they finish."""
    limits = limits_of(config_path)
    polls = []
    for i in range(1, n + 1):
        poll = run_phase(f"{label}{i}", "poll", config_path, url, sim_pid, env)
        print_phase(poll, limits)
        polls.append(poll)
    return polls


def limits_of(config_path: Path) -> Limits:
    """The limiter rates the config ships with."""
    pm = load_config(config_path).polymarket
    return Limits(pm.clob_requests_per_10s, pm.gamma_requests_per_10s)


def orchestrate(args: argparse.Namespace) -> int:
    """Simulator, config, morning, polls, optional history and profile; figures as it goes."""
    now = datetime.now(UTC)
    events = args.events or events_for_markets(args.seed, args.markets, now)
    root = Path(tempfile.mkdtemp(prefix="prescientd-scale-"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"prescientd scale benchmark: {os.cpu_count()} CPUs, {mem_gb:.0f} GiB, Python "
        f"{sys.version.split()[0]}, load {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    try:
        started = time.perf_counter()
        with simulator(args.seed, events, PRICE_STEP_S) as (url, proc):
            info = sim_get(url, "/_sim/info")
            print(
                f"simulator: seed {args.seed}, {info['n_events']:,} events, "
                f"{info['n_markets']:,} markets, started in {time.perf_counter() - started:.0f} s"
                f" (pid {proc.pid}, price step {PRICE_STEP_S:g} s)"
            )
            return _run(args, root, url, proc.pid, env)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _run(args: argparse.Namespace, root: Path, url: str, sim_pid: int, env: dict[str, str]) -> int:
    fresh = root / "fresh"
    fresh.mkdir()
    config_path = _config(fresh, url, args.max_markets or NO_CAP)
    limits = limits_of(config_path)
    print(
        f"limiter: CLOB {limits.clob_per_10s}, Gamma {limits.gamma_per_10s} requests started "
        f"in any 10 s; max_markets {args.max_markets or 'uncapped'}"
    )
    morning = run_phase("morning", "morning", config_path, url, sim_pid, env)
    print_phase(morning, limits)
    if morning.exit_code != 0:
        return 1
    cost = parse_cost(url)
    print(
        f"\nper-book parse + validate on {cost['books']:.0f} simulator books "
        f"({cost['levels']:.1f} levels a book): before {cost['before_us']:.1f} us, "
        f"after {cost['after_us']:.1f} us ({cost['before_us'] / cost['after_us']:.2f}x)"
    )
    history_root = root / "history"
    if args.history:
        shutil.copytree(fresh, history_root)
    polls = run_polls("poll ", args.polls, config_path, url, sim_pid, env)
    print_polls_table("polls on the fresh database", polls, limits)
    run_fetch(config_path, url, sim_pid, env)
    if args.history:
        history_config = _config(history_root, url, args.max_markets or NO_CAP)
        db_path = load_config(history_config).paths.db_path
        rows, seconds = load_history(db_path)
        print(
            f"\nhistory loaded into a copy of the morning's database: "
            f"{bench_history.HISTORIC_TRADES:,} trades, {rows:,} job runs in {seconds:.0f} s "
            f"(database now {_mb(_db_bytes(db_path))})"
        )
        old = run_polls("hist ", args.polls, history_config, url, sim_pid, env)
        print_polls_table("polls on the database with history", old, limits)
        pairs = zip(polls, old, strict=True)
        ratios = [
            (h.job.get("duration_s") or math.nan) / (f.job.get("duration_s") or math.nan)
            for f, h in pairs
        ]
        print(
            "  per-poll job time, history / fresh: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + f" (target <= {bench_history.TARGET_RATIO:.1f}x)"
        )
    if args.py_spy:
        sampled = root / "poll.py-spy.txt"
        wait_for_fresh_step(PRICE_STEP_S)
        wall_s = scale_profile.run_sample_profile(
            args.py_spy,
            [str(PRESCIENTD), "once", "poll", "--config", str(config_path)],
            sampled,
            env,
        )
        scale_profile.print_sample_profile(sampled, wall_s)
    if args.profile:
        out = root / "poll.prof"
        wait_for_fresh_step(PRICE_STEP_S)
        worker = [sys.executable, str(Path(__file__).resolve()), "--worker-profile"]
        wall_s = scale_profile.run_profile([*worker, str(config_path), str(out)], env)
        scale_profile.print_profile(out, wall_s)
        if args.keep:
            print(f"profile kept at {out}")
    return 0


def main() -> int:
    """Command line: orchestrator, or the profiling worker."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--markets", type=int, default=10_000, help="simulator size in markets")
    size.add_argument("--events", type=int, default=None, help="simulator size in events")
    parser.add_argument("--max-markets", type=int, default=None, help="filters.max_markets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--history", action="store_true", help="also poll with a year of history")
    parser.add_argument("--profile", action="store_true", help="profile one more poll (cProfile)")
    parser.add_argument(
        "--py-spy", metavar="PATH", help="sample one more poll with this py-spy (not a dependency)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker-profile", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker-fetch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_fetch:
        return fetch_worker(Path(args.worker_fetch[0]), args.worker_fetch[1])
    if args.worker_profile:
        return scale_profile.profile_worker(
            Path(args.worker_profile[0]), Path(args.worker_profile[1])
        )
    return orchestrate(args)


if __name__ == "__main__":
    raise SystemExit(main())
