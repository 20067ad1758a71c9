"""Benchmark for issue "Market prices": one poll of 10,000 tokens against the simulator on loopback.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_poll.py [--events 4000] [--seed 1] [--naive-sample 500]

What it does, all on 127.0.0.1 and stopping by itself:

1. starts the simulator in its own process (`python -m prescientd.sim`), so the server's CPU and
   memory are not counted against the client;
2. runs the real morning job (`jobs.run_job("morning", ...)`) with permissive filters and
   `max_markets = 5000`, which keeps the 5,000 eligible binary markets with the highest 24 h
   volume; checks against `GET /_sim/markets` that every one of them is binary and has a book,
   so the poll tracks exactly 10,000 tokens;
3. in a fresh process each (so peak RSS means something), measures
   (a) fetch + parse only: `ClobClient.fetch_books` on the 10,000 tokens;
   (b) the whole poll job (`jobs.run_job("poll", ctx, jobs.poll)`: ledger replay, fetch, parse,
       quotes, SQLite writes, settlement checks, exits, strategy, paper trades) twice, the second
       time after the simulator's prices have moved, plus the mirror rebuild the poll asks for;
   (c) a naive client doing one `GET /book` per token (`ClobClient.fetch_book`) with the same
       HostClient limits, once with the deployment rate limit on a sample and once with the
       limiter raised so it does not bind, both extrapolated linearly to 10,000 tokens.

Every measured phase starts just after a simulator price step boundary, so the simulator builds its
books for that step while serving it (a cold server cache), the same for every phase.
Requests are counted from the simulator's own request log (`GET /_sim/requests`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKENS_TARGET = 10_000
MARKETS_TARGET = 5_000
PRICE_STEP_S = 5.0
SIM_START_TIMEOUT_S = 120.0
WORKER_TIMEOUT_S = 600.0
UNBOUND_RATE_PER_10S = 1_000_000_000
RESULT_PREFIX = "BENCH_RESULT "

# Targets from the issue (2-core machine).
TARGET_WALL_S = 3.0
TARGET_RSS_MB = 250.0
TARGET_SPEEDUP = 10.0


# ------------------------------------------------------------------------------------------------
# small helpers shared by the orchestrator and the workers


def _opener() -> urllib.request.OpenerDirector:
    # No proxies: everything here is loopback.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sim_get(url: str, path: str) -> Any:
    """GET a simulator control route and decode it."""
    with _opener().open(url + path, timeout=60) as resp:
        return json.loads(resp.read())


def sim_post(url: str, path: str, body: Any = None) -> Any:
    """POST to a simulator control route and decode the reply."""
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with _opener().open(req, timeout=60) as resp:
        return json.loads(resp.read())


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_for_fresh_step(step_s: float, margin_s: float = 0.05) -> None:
    """Sleep until just after the simulator's next price step boundary (it uses time.time)."""
    now = time.time()
    boundary = (math.floor(now / step_s) + 1) * step_s
    time.sleep(boundary - now + margin_s)


def request_summary(url: str) -> dict[str, Any]:
    """What the simulator served since the last clear: counts by route, /books batch sizes."""
    records = sim_get(url, "/_sim/requests")["requests"]
    routes = Counter(
        f"{r['method']} {r['path'] if r['path'] in ('/book', '/books') else _shape(r['path'])}"
        for r in records
    )
    books_sizes = [r["n_token_ids"] for r in records if r["path"] == "/books"]
    statuses = Counter(str(r["status"]) for r in records)
    return {
        "total": len(records),
        "routes": dict(routes),
        "books_batches": books_sizes,
        "statuses": dict(statuses),
    }


def _shape(path: str) -> str:
    parts = path.split("/")
    return "/".join("{id}" if p.isdigit() or p.startswith("0x") else p for p in parts)


class GcMeter:
    """Counts cyclic-GC collections per generation and the time spent in them (gc.callbacks)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1

    def snapshot(self) -> tuple[list[int], float]:
        """Current totals."""
        return list(self.collections), self.seconds


GC_METER = GcMeter()


@dataclass
class Timer:
    """Wall and process-CPU seconds of a block, and the cyclic GC's share of it."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    gc_collections: tuple[int, ...] = (0, 0, 0)
    gc_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the result line."""
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "gc_collections": list(self.gc_collections),
            "gc_s": self.gc_s,
        }


@contextmanager
def timed() -> Iterator[Timer]:
    """Measure wall (perf_counter) and CPU (process_time: all threads of this process)."""
    t = Timer()
    n0, g0 = GC_METER.snapshot()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall_s = time.perf_counter() - w0
        t.cpu_s = time.process_time() - c0
        n1, g1 = GC_METER.snapshot()
        t.gc_collections = tuple(b - a for a, b in zip(n0, n1, strict=True))
        t.gc_s = g1 - g0


def _gc_text(d: dict[str, Any]) -> str:
    n = d["gc_collections"]
    return f"{d['gc_s']:.3f} s in {n[0]}/{n[1]}/{n[2]} collections (gen 0/1/2)"


def emit(result: dict[str, Any]) -> None:
    """Hand a worker's result to the orchestrator on stdout."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------------------
# workers (each runs in a fresh process)


def _worker_config(config_path: Path, *, clob_rate: int | None = None) -> Any:
    from prescientd.config import load_config

    config = load_config(config_path)
    if clob_rate is not None:
        pm = config.polymarket.model_copy(update={"clob_requests_per_10s": clob_rate})
        config = config.model_copy(update={"polymarket": pm})
    return config


def _setup_logging(config: Any) -> None:
    from prescientd.logs import configure_logging

    # Like the daemon: JSON lines at the configured level to the daily file; stdout is kept for
    # the result line, so the stream copy goes to /dev/null.
    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    configure_logging(
        level=config.logging.level,
        logs_dir=config.paths.logs_dir,
        tz=config.tz,
        stream=devnull,
        console=False,
    )


async def _tracked_tokens(store: Any) -> list[str]:
    """The tokens the poll job asks for (same rule as jobs.poll, no positions held)."""
    from prescientd.core import filters

    eligible = await store.eligible_markets()
    return sorted({t for m in eligible if filters.is_binary(m) for t in m.token_ids})


async def _context(config: Any, store: Any, clients: Any, publish: Any) -> Any:
    from prescientd.clock import SystemClock
    from prescientd.runtime import config_sha256, make_context

    version = await store.record_config_version(
        sha256=config_sha256(config),
        source="start",
        changed_keys=[],
        strategy_json=config.strategy.model_dump_json(),
    )
    return make_context(config, version, store, clients, SystemClock(), publish)


async def worker_morning(config_path: Path) -> dict[str, Any]:
    """The real morning job, once-path (mirrors written as `prescientd once morning` does)."""
    from prescientd import jobs
    from prescientd.clock import SystemClock
    from prescientd.mirrors.build import Mirror, MirrorBuilder
    from prescientd.runtime import open_clients, open_store

    config = _worker_config(config_path)
    _setup_logging(config)
    async with open_store(config) as store, open_clients(config) as clients:
        builder = MirrorBuilder(store, config)

        async def publish(mirrors: set[Mirror]) -> None:
            for mirror in sorted(mirrors):
                await builder.write(mirror, SystemClock().now())

        ctx = await _context(config, store, clients, publish)
        with timed() as t:
            outcome = await jobs.run_job("morning", ctx, jobs.morning)
        eligible = await store.eligible_markets()
        tokens = await _tracked_tokens(store)
    return {
        "ok": outcome.ok,
        "error": outcome.error,
        "counts": outcome.counts,
        "wall_s": t.wall_s,
        "cpu_s": t.cpu_s,
        "market_ids": [m.market_id for m in eligible],
        "tokens": len(tokens),
        "peak_rss_mb": peak_rss_mb(),
    }


async def worker_fetch(config_path: Path, sim_url: str) -> dict[str, Any]:
    """(a) fetch + parse only: ClobClient.fetch_books on the tracked tokens."""
    from prescientd.runtime import open_clients, open_store

    config = _worker_config(config_path)
    _setup_logging(config)
    async with open_store(config) as store, open_clients(config) as clients:
        tokens = await _tracked_tokens(store)
        rss_before = peak_rss_mb()
        wait_for_fresh_step(PRICE_STEP_S)
        sim_post(sim_url, "/_sim/requests/clear")
        with timed() as t:
            fetch = await clients.clob.fetch_books(tokens)
        rss_after = peak_rss_mb()
        gc_enabled_after = gc.isenabled()
        requests = request_summary(sim_url)
    return {
        "tokens": len(tokens),
        "books": len(fetch.books),
        "missing": len(fetch.missing),
        "rejected": len(fetch.rejected_tokens),
        "client_requests": fetch.requests,
        **t.as_dict(),
        "rss_before_mb": rss_before,
        "peak_rss_mb": rss_after,
        "gc_enabled_after": gc_enabled_after,
        "sim_requests": requests,
    }


async def worker_poll(config_path: Path, sim_url: str) -> dict[str, Any]:
    """(b) the whole poll job twice (daemon-style: mirrors requested, rebuilt after the job)."""
    import structlog.testing

    from prescientd import jobs
    from prescientd.clock import SystemClock
    from prescientd.mirrors.build import Mirror, MirrorBuilder
    from prescientd.runtime import open_clients, open_store

    config = _worker_config(config_path)
    _setup_logging(config)
    out: dict[str, Any] = {"polls": []}
    async with open_store(config) as store, open_clients(config) as clients:
        # As in the daemon, the job only asks for mirrors; they are rebuilt after it (the daemon's
        # MirrorWriter debounces the same MirrorBuilder.write calls), and timed separately.
        requested: set[Mirror] = set()

        async def publish(mirrors: set[Mirror]) -> None:
            requested.update(mirrors)

        async def rebuild() -> dict[str, Any]:
            """One flush as the daemon's; returns its mirrors_written line."""
            builder = MirrorBuilder(store, config)
            with structlog.testing.capture_logs() as logs:
                await builder.write_many(requested, SystemClock().now())
            requested.clear()
            lines = [e for e in logs if e["event"] == "mirrors_written"]
            return dict(lines[0]) if lines else {}

        ctx = await _context(config, store, clients, publish)
        # as the daemon does at start-up: every fixed mirror and the workbook (not timed)
        await MirrorBuilder(store, config).write_fixed(SystemClock().now())
        out["rss_before_mb"] = peak_rss_mb()
        for label in ("first", "second"):
            wait_for_fresh_step(PRICE_STEP_S)
            sim_post(sim_url, "/_sim/requests/clear")
            with timed() as job:
                outcome = await jobs.run_job("poll", ctx, jobs.poll)
            rss_job = peak_rss_mb()
            with timed() as mirrors:
                flushed = await rebuild()
            out["polls"].append(
                {
                    "label": label,
                    "ok": outcome.ok,
                    "error": outcome.error,
                    "counts": outcome.counts,
                    **job.as_dict(),
                    "mirrors_wall_s": mirrors.wall_s,
                    "mirrors_cpu_s": mirrors.cpu_s,
                    "mirrors_files": flushed.get("files", {}),
                    "mirrors_unchanged": flushed.get("unchanged", []),
                    "peak_rss_after_job_mb": rss_job,
                    "peak_rss_after_mirrors_mb": peak_rss_mb(),
                    "sim_requests": request_summary(sim_url),
                }
            )
    return out


async def worker_naive(config_path: Path, sim_url: str, sample: int, rate: int) -> dict[str, Any]:
    """(c) one GET /book per token for the first `sample` tracked tokens, given clob rate."""
    from prescientd.runtime import open_clients, open_store

    config = _worker_config(config_path, clob_rate=rate)
    _setup_logging(config)
    async with open_store(config) as store, open_clients(config) as clients:
        tokens = (await _tracked_tokens(store))[:sample]
        clob = clients.clob
        wait_for_fresh_step(PRICE_STEP_S)
        sim_post(sim_url, "/_sim/requests/clear")
        with timed() as t:
            books = await asyncio.gather(*(clob.fetch_book(token) for token in tokens))
        rss_after = peak_rss_mb()
        requests = request_summary(sim_url)
    pm = config.polymarket
    return {
        "tokens": len(tokens),
        "books": sum(1 for b in books if b is not None),
        "wall_s": t.wall_s,
        "cpu_s": t.cpu_s,
        "peak_rss_mb": rss_after,
        "sim_requests": {k: v for k, v in requests.items() if k != "books_batches"},
        "limits": {
            "clob_requests_per_10s": pm.clob_requests_per_10s,
            "max_concurrent_requests": pm.max_concurrent_requests,
            "max_attempts": pm.max_attempts,
            "request_timeout_s": pm.request_timeout_s,
        },
    }


def run_worker(args: argparse.Namespace) -> int:
    """Entry point of a worker process."""
    config_path = Path(args.config)
    work: Callable[[], Awaitable[dict[str, Any]]]
    if args.worker == "morning":
        work = lambda: worker_morning(config_path)  # noqa: E731
    elif args.worker == "fetch":
        work = lambda: worker_fetch(config_path, args.sim_url)  # noqa: E731
    elif args.worker == "poll":
        work = lambda: worker_poll(config_path, args.sim_url)  # noqa: E731
    else:
        work = lambda: worker_naive(config_path, args.sim_url, args.sample, args.rate)  # noqa: E731
    result = asyncio.run(work())
    result["baseline_note"] = "peak RSS includes the interpreter and imports"
    emit(result)
    return 0


# ------------------------------------------------------------------------------------------------
# orchestrator


CONFIG_TEMPLATE = """\
timezone = "UTC"

[paths]
data_dir = "{root}/data"
logs_dir = "{root}/logs"
db_path = "{root}/data/prescient.db"

[polymarket]
gamma_url = "{url}"
clob_url = "{url}"

[filters]
min_liquidity_usd = 0
min_volume_24h_usd = 0
min_hours_to_end = 0
max_days_to_end = 100000
max_markets = {max_markets}

[logging]
level = "info"
file = true
"""


@contextmanager
def simulator(
    seed: int, events: int, price_step_s: float = PRICE_STEP_S
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The simulator in its own process; yields its URL; always terminated."""
    cmd = [
        sys.executable,
        "-m",
        "prescientd.sim",
        "--seed",
        str(seed),
        "--events",
        str(events),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--price-step-s",
        str(price_step_s),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SIM_START_TIMEOUT_S
        url = None
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                raise RuntimeError("simulator did not start")
            if sel.select(timeout=remaining):
                line = proc.stdout.readline()
                if line.startswith("SIM_URL="):
                    url = line.strip().split("=", 1)[1]
        sel.close()
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn(worker: str, config_path: Path, sim_url: str, *extra: str) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and return its result."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        worker,
        "--config",
        str(config_path),
        "--sim-url",
        sim_url,
        *extra,
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    raise RuntimeError(f"worker {worker} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def _batches(summary: dict[str, Any]) -> str:
    sizes = summary["books_batches"]
    if not sizes:
        return "none"
    counted = Counter(sizes)
    return " + ".join(f"{n} x {size}" for size, n in sorted(counted.items(), reverse=True))


def _line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def orchestrate(args: argparse.Namespace) -> int:
    """Start the simulator, prepare the eligible set, run every measured worker, print figures."""
    root = Path(tempfile.mkdtemp(prefix="prescientd-bench-"))
    try:
        with simulator(args.seed, args.events) as (url, _proc):
            return _orchestrate(args, root, url)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _orchestrate(args: argparse.Namespace, root: Path, url: str) -> int:
    print(f"prescientd poll benchmark: simulator seed={args.seed} events={args.events} at {url}")
    print(
        f"  (simulator in its own process, price step {PRICE_STEP_S:g} s; machine: "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]})"
    )
    truth = {m["id"]: m for m in sim_get(url, "/_sim/markets")["markets"]}
    with_books = [m for m in truth.values() if m["has_book"] and len(m["outcomes"]) == 2]
    config_path = root / "prescientd.toml"
    config_path.write_text(
        CONFIG_TEMPLATE.format(root=root, url=url, max_markets=MARKETS_TARGET), encoding="utf-8"
    )

    # -- the eligible set --------------------------------------------------------------------
    morning = spawn("morning", config_path, url)
    if not morning["ok"]:
        print(f"morning job failed: {morning['error']}")
        return 1
    chosen = morning["market_ids"]
    bad = [
        mid
        for mid in chosen
        if mid not in truth or not truth[mid]["has_book"] or len(truth[mid]["outcomes"]) != 2
    ]
    print("\nEligible set (real morning job, then checked against GET /_sim/markets)")
    _line("binary markets with a book in the simulator", str(len(with_books)))
    c = morning["counts"]
    _line(
        "morning: events received / markets eligible",
        f"{c['events_received']} / {c['markets_eligible']}",
    )
    _line("chosen markets (max_markets, by 24 h volume)", str(len(chosen)))
    _line("chosen markets not binary-with-book", str(len(bad)))
    _line("tokens tracked", str(morning["tokens"]))
    _line(
        "morning job (not a target)",
        f"{morning['wall_s']:.2f} s wall, {morning['cpu_s']:.2f} s CPU, "
        f"peak RSS {morning['peak_rss_mb']:.0f} MB",
    )
    if len(chosen) != MARKETS_TARGET or bad or morning["tokens"] != TOKENS_TARGET:
        print("the eligible set is not 5,000 binary markets with books; raise --events")
        return 1

    # -- (a) fetch + parse --------------------------------------------------------------------
    fetch = spawn("fetch", config_path, url)
    print("\n(a) fetch + parse only: ClobClient.fetch_books(10,000 tokens), fresh process")
    _line(
        "books / missing / rejected", f"{fetch['books']} / {fetch['missing']} / {fetch['rejected']}"
    )
    _line("wall", f"{fetch['wall_s']:.3f} s")
    _line("CPU (client process)", f"{fetch['cpu_s']:.3f} s")
    _line("cyclic GC within it", _gc_text(fetch))
    _line("cyclic GC enabled again afterwards", str(fetch["gc_enabled_after"]))
    _line(
        "requests sent (simulator log)",
        f"{fetch['sim_requests']['total']} = POST /books {_batches(fetch['sim_requests'])} tokens",
    )
    _line(
        "peak RSS before / after",
        f"{fetch['rss_before_mb']:.0f} MB / {fetch['peak_rss_mb']:.0f} MB",
    )

    # -- (b) the poll job ---------------------------------------------------------------------
    poll = spawn("poll", config_path, url)
    print("\n(b) whole poll job: jobs.run_job('poll', ctx, jobs.poll), fresh process")
    _line("peak RSS before the first poll", f"{poll['rss_before_mb']:.0f} MB")
    for p in poll["polls"]:
        counts = p["counts"]
        print(f"  -- {p['label']} poll ({'ok' if p['ok'] else 'FAILED: ' + str(p['error'])})")
        _line(
            "tokens / books / snapshots written",
            f"{counts.get('tokens')} / {counts.get('books')} / {counts.get('snapshots')}",
        )
        _line(
            "signals / actionable / paper trades",
            f"{counts.get('signals')} / {counts.get('actionable')} / {counts.get('trades')}",
        )
        _line(
            "settlement checks (held markets)",
            f"settled {counts.get('settled')}, pending {counts.get('settlement_pending')}",
        )
        _line("job wall / CPU", f"{p['wall_s']:.3f} s / {p['cpu_s']:.3f} s")
        _line("cyclic GC within the job", _gc_text(p))
        _line(
            "mirror rebuild after it (daemon: debounced)",
            f"{p['mirrors_wall_s']:.3f} s / {p['mirrors_cpu_s']:.3f} s CPU",
        )
        for name, size in sorted(p["mirrors_files"].items()):
            _line(f"  wrote {name}", f"{size:,} bytes")
        _line("  unchanged (not written)", ", ".join(p["mirrors_unchanged"]) or "-")
        _line(
            "job + mirrors (= `prescientd once poll` work)",
            f"{p['wall_s'] + p['mirrors_wall_s']:.3f} s wall",
        )
        routes = ", ".join(f"{k}: {v}" for k, v in sorted(p["sim_requests"]["routes"].items()))
        _line("requests sent (simulator log)", f"{p['sim_requests']['total']} ({routes})")
        _line("POST /books batches", _batches(p["sim_requests"]))
        _line(
            "peak RSS after job / after mirrors",
            f"{p['peak_rss_after_job_mb']:.0f} MB / {p['peak_rss_after_mirrors_mb']:.0f} MB",
        )

    # -- (c) naive client ---------------------------------------------------------------------
    sample = args.naive_sample
    bound = spawn("naive", config_path, url, "--sample", str(args.bound_sample), "--rate", "0")
    unbound = spawn(
        "naive", config_path, url, "--sample", str(sample), "--rate", str(UNBOUND_RATE_PER_10S)
    )
    limits = bound["limits"]
    rate_per_s = limits["clob_requests_per_10s"] / 10
    print("\n(c) naive client: one GET /book per token via ClobClient.fetch_book")
    _line(
        "HostClient limits (same as the real client)",
        f"{limits['clob_requests_per_10s']} req/10 s, "
        f"{limits['max_concurrent_requests']} in flight, {limits['max_attempts']} attempts, "
        f"{limits['request_timeout_s']:g} s timeout",
    )
    # The limiter lets `rate` requests start in any 10 s: a burst of `rate`, then rate per 10 s.
    burst = limits["clob_requests_per_10s"]
    bound_extra = bound["wall_s"] + max(0, TOKENS_TARGET - bound["tokens"]) / rate_per_s
    floor_s = max(0, TOKENS_TARGET - burst) / rate_per_s
    _line(
        f"limiter-bound: measured on {bound['tokens']} tokens",
        f"{bound['wall_s']:.2f} s wall, {bound['cpu_s']:.2f} s CPU",
    )
    _line(
        "limiter-bound: extrapolated to 10,000 tokens",
        f"{bound_extra:.0f} s wall (limiter floor alone: {floor_s:.0f} s)",
    )
    per_token_wall = unbound["wall_s"] / unbound["tokens"]
    per_token_cpu = unbound["cpu_s"] / unbound["tokens"]
    unbound_wall = per_token_wall * TOKENS_TARGET
    unbound_cpu = per_token_cpu * TOKENS_TARGET
    _line(
        f"unbound (limiter raised): measured on {unbound['tokens']}",
        f"{unbound['wall_s']:.3f} s wall, {unbound['cpu_s']:.3f} s CPU, "
        f"{unbound['sim_requests']['total']} requests",
    )
    _line(
        "unbound: extrapolated to 10,000 tokens",
        f"{unbound_wall:.2f} s wall, {unbound_cpu:.2f} s CPU, {TOKENS_TARGET} requests",
    )
    _line("peak RSS (unbound sample)", f"{unbound['peak_rss_mb']:.0f} MB")

    # -- summary ------------------------------------------------------------------------------
    first = poll["polls"][0]
    second = poll["polls"][1]
    peak = max(
        first["peak_rss_after_mirrors_mb"],
        second["peak_rss_after_mirrors_mb"],
        fetch["peak_rss_mb"],
    )
    print("\nRatios (naive / batched, wall)")
    _line("limiter-bound naive / fetch_books", f"{bound_extra / fetch['wall_s']:.0f}x")
    _line(
        "unbound naive / fetch_books",
        f"{unbound_wall / fetch['wall_s']:.1f}x (CPU {unbound_cpu / fetch['cpu_s']:.1f}x)",
    )
    _line("limiter-bound naive / whole first poll job", f"{bound_extra / first['wall_s']:.0f}x")
    _line("unbound naive / whole first poll job", f"{unbound_wall / first['wall_s']:.1f}x")
    print("\nTargets")
    _line(
        f"first poll job < {TARGET_WALL_S:g} s wall",
        f"{first['wall_s']:.3f} s  {_verdict(first['wall_s'] < TARGET_WALL_S)}",
    )
    _line(
        f"second poll job < {TARGET_WALL_S:g} s wall",
        f"{second['wall_s']:.3f} s  {_verdict(second['wall_s'] < TARGET_WALL_S)}",
    )
    _line(
        f"peak RSS < {TARGET_RSS_MB:g} MB (client processes)",
        f"{peak:.0f} MB  {_verdict(peak < TARGET_RSS_MB)}",
    )
    bound_speedup = bound_extra / fetch["wall_s"]
    speedup = unbound_wall / fetch["wall_s"]
    _line(
        f">= {TARGET_SPEEDUP:g}x faster than naive, same limits",
        f"{bound_speedup:.0f}x  {_verdict(bound_speedup >= TARGET_SPEEDUP)}",
    )
    _line(
        f">= {TARGET_SPEEDUP:g}x faster than naive, limiter lifted",
        f"{speedup:.1f}x  {_verdict(speedup >= TARGET_SPEEDUP)}",
    )
    return 0


def main() -> int:
    """Parse arguments; run as the orchestrator or as one worker."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--events", type=int, default=4000, help="simulator events (>= 5,000 eligible)"
    )
    parser.add_argument(
        "--naive-sample", type=int, default=1000, help="tokens for the unbound naive run"
    )
    parser.add_argument(
        "--bound-sample", type=int, default=500, help="tokens for the limiter-bound run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--worker", choices=("morning", "fetch", "poll", "naive"), help=argparse.SUPPRESS
    )
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--sim-url", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "naive" and args.rate == 0:
            args.rate = None  # the configured (deployment) limit
        return run_worker(args)
    return orchestrate(args)


if __name__ == "__main__":
    raise SystemExit(main())
