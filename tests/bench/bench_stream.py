"""Benchmark for issue 15 (real-time prices): the market stream inside the daemon, 1,000 tokens.

Run on demand (not collected by pytest):

    .venv/bin/python tests/bench/bench_stream.py [--minutes 3] [--phases latency,load]
        [--latency-step-s 5] [--load-step-s 0.25] [--events 600] [--moves-per-s 0.5] [--seed 7]

What it does, all on 127.0.0.1 and stopping by itself:

1. starts the simulator in its own process (`python -m prescientd.sim`); two phases, each with a
   simulator and a daemon of its own: "latency" with the simulator's default 5 s price step, and
   "load" with a 0.25 s step, so every streamed market changes four times a second (about 3,000
   messages/s; the simulator's deltas carry every level of both books, ~40 entries a message,
   where live ones carry a few);
2. runs the real `Daemon` in this process against it (the object `prescientd run` builds: the
   scheduler, the poller at the default 300 s interval, the mirrors and the streaming task) with
   `[stream] watch_band = 0.5, max_assets = 1000`, so exactly 1,000 tokens (500 markets) stream
   over 5 connections of 200;
3. after the first poll and the first snapshots, moves unheld markets below the threshold to a
   YES price of 0.80 (`POST /_sim/move`) at random moments (exponential gaps, `--moves-per-s` on
   average) and times each from just before the move's request to the commit of the trade it
   causes (the daemon's own `paper_traded` report, sent right after the commit);
4. prints: move-to-commit latency (p50, p99, max), messages handled per second, CPU of this
   process per 1,000 messages (the daemon; the simulator runs elsewhere), event-loop lag, what the
   simulator sent against what the daemon read (a client that falls behind leaves a growing
   backlog), RSS samples with their slope, the load average, and the poll-only latency at the
   default interval: computed, not waited for — a move lands uniformly within the poll interval,
   so it waits U(0, 300 s) for the next poll plus one poll's duration, measured here on the
   daemon's own start-up poll.

Targets (issue 15, 2 cores): p50 <= 250 ms, p99 <= 1 s at 1,000 streamed tokens; >= 2,000
messages/s on one core without falling behind; RSS flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp

from prescientd.clock import SystemClock
from prescientd.config import load_config
from prescientd.daemon import Daemon
from prescientd.logs import configure_logging
from prescientd.models import JobOutcome, Trade
from prescientd.notify import Notifier
from prescientd.portfolio import PortfolioService
from prescientd.streamer import Streamer

TOKENS = 1000
POLL_INTERVAL_S = 300.0  # the default
SIM_START_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 180.0
SETTLE_S = 3.0  # after the last move, for its trade
RSS_EVERY_S = 10.0
TARGET_P50_S, TARGET_P99_S, TARGET_RATE = 0.25, 1.0, 2000.0

CONFIG = """\
timezone = "America/New_York"
[paths]
data_dir = "{root}/data"
logs_dir = "{root}/logs"
db_path = "{root}/data/prescient.db"
[polymarket]
gamma_url = "{url}"
clob_url = "{url}"
[schedule]
poll_interval_s = {poll_s}
morning_every_s = 86400
evening_every_s = 86400
[filters]
min_liquidity_usd = 500
max_days_to_end = 1200
[strategy]
threshold = 0.5
action = "buy_no"
stake_usd = 10
max_spread = 1.0
min_depth_ratio = 0
[paper]
starting_balance_usd = 1000000
[stream]
ws_url = "{ws}"
watch_band = 0.5
max_assets = {tokens}
[http]
enabled = false
[logging]
level = "info"
"""


@contextmanager
def simulator(seed: int, events: int, step_s: float) -> Iterator[tuple[str, int]]:
    """The simulator in its own process; yields its URL and pid; always terminated."""
    cmd = [sys.executable, "-m", "prescientd.sim", "--seed", str(seed), "--events", str(events)]
    cmd += ["--host", "127.0.0.1", "--port", "0", "--price-step-s", str(step_s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SIM_START_TIMEOUT_S
        url = None
        while url is None:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("simulator did not start")
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if line.startswith("SIM_URL="):
                    url = line.strip().split("=", 1)[1]
        sel.close()
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb() -> float:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return 60 * sum((t - mx) * (v - my) for t, v in samples) / var if var else float("nan")


class Recorder:
    """Wraps the daemon's live feed: each market's first trade commit and each poll's duration."""

    def __init__(self, daemon: Daemon) -> None:
        self.commits: dict[str, float] = {}
        self.polls_s: list[float] = []
        self.in_daemon: list[tuple[float, float]] = []  # (when, receipt-to-commit seconds)
        feed = daemon.window.feed
        traded, finished = feed.paper_traded, feed.job_finished
        metrics = daemon.window.metrics
        observe = metrics.observe_stream_latency

        def observe_stream_latency(seconds: float) -> None:
            self.in_daemon.append((time.perf_counter(), seconds))
            observe(seconds)

        metrics.observe_stream_latency = observe_stream_latency  # type: ignore[method-assign]

        def paper_traded(trade: Trade) -> None:
            self.commits.setdefault(trade.market_id, time.perf_counter())
            traded(trade)

        def job_finished(outcome: JobOutcome, duration_s: float) -> None:
            if outcome.job == "poll":
                self.polls_s.append(duration_s)
            finished(outcome, duration_s)

        feed.paper_traded = paper_traded  # type: ignore[method-assign]
        feed.job_finished = job_finished  # type: ignore[method-assign]


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 50 ms sleep wakes up: the event loop's backlog."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append(time.perf_counter() - t - 0.05)


async def wait_ready(daemon: Daemon, recorder: Recorder) -> Streamer:
    """Until the first poll is done and all 1,000 tokens stream with trusted books."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        streamer = daemon.streamer
        if streamer is not None and recorder.polls_s:
            status = streamer.stream.status()
            if status.watched == TOKENS and status.trusted == TOKENS:
                return streamer
        if time.monotonic() > deadline:
            raise RuntimeError("the stream did not get ready in time")
        await asyncio.sleep(0.2)


async def drive_moves(
    url: str, streamer: Streamer, held: set[str], recorder: Recorder, args: argparse.Namespace
) -> dict[str, float]:
    """Move unheld markets below the threshold over it at random moments; their send times."""
    rng = random.Random(args.seed)
    sent: dict[str, float] = {}
    end = time.monotonic() + args.minutes * 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            await asyncio.sleep(rng.expovariate(args.moves_per_s))
            candidates = []
            for market_id in streamer.watched.eligible:
                if market_id in held or market_id in sent or market_id in recorder.commits:
                    continue
                book = streamer.stream.book(streamer.watched.markets[market_id].yes_token_id)
                if book is not None and book.asks and book.asks[0].price < 0.45:
                    candidates.append(market_id)
            if not candidates:  # all moved or bought: the load goes on without moves
                continue
            market_id = rng.choice(sorted(candidates))
            sent[market_id] = time.perf_counter()
            body = {"market_id": market_id, "yes_price": "0.80"}
            async with http.post(f"{url}/_sim/move", json=body) as response:
                response.raise_for_status()
    return sent


async def sim_sent(url: str) -> int:
    """Text messages the simulator's channel has sent (deltas, trades, PONGs, resolutions)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_sim/ws") as response:
        ws = (await response.json())["ws"]
    keys = ("price_changes_sent", "last_trades_sent", "pongs_sent", "resolved_sent")
    return sum(int(ws[k]) for k in keys)


async def bench(args: argparse.Namespace, url: str, sim_pid: int, root: Path) -> dict[str, Any]:
    """Run the daemon against the simulator and measure; returns the figures."""
    ws = "ws" + url.removeprefix("http") + "/ws/market"
    config_path = root / "prescientd.toml"
    text = CONFIG.format(root=root, url=url, ws=ws, poll_s=POLL_INTERVAL_S, tokens=TOKENS)
    config_path.write_text(text)
    config = load_config(config_path)
    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115, ASYNC230 - the run's sink
    configure_logging(level="info", logs_dir=config.paths.logs_dir, stream=devnull, console=False)
    daemon = Daemon(config_path, config, clock=SystemClock(), notifier=Notifier("", ""))
    recorder = Recorder(daemon)
    task = asyncio.create_task(daemon.run())
    stop, lags = asyncio.Event(), list[float]()
    try:
        streamer = await wait_ready(daemon, recorder)
        await asyncio.sleep(5.0)  # the first snapshots' evaluations settle
        assert daemon._store is not None
        portfolios = await PortfolioService.of(daemon._store).read_all()
        held = {m for p in portfolios.values() for m in p.held_markets()}
        lagger = asyncio.create_task(loop_lag(stop, lags))
        rss: list[tuple[float, float]] = []

        async def sample_rss() -> None:
            while not stop.is_set():
                rss.append((time.perf_counter() - t0, rss_mb()))
                await asyncio.sleep(RSS_EVERY_S)

        t0, cpu0, sim_cpu0 = time.perf_counter(), time.process_time(), cpu_s(sim_pid)
        messages0, sent0 = streamer.stream.stats.messages, await sim_sent(url)
        sampler = asyncio.create_task(sample_rss())
        sent = await drive_moves(url, streamer, held, recorder, args)
        await asyncio.sleep(SETTLE_S)
        elapsed = time.perf_counter() - t0
        cpu, sim_cpu = time.process_time() - cpu0, cpu_s(sim_pid) - sim_cpu0
        messages = streamer.stream.stats.messages - messages0
        backlog = (await sim_sent(url) - sent0) - messages
        rss.append((elapsed, rss_mb()))
        stop.set()
        await asyncio.gather(lagger, sampler)
        counts = asdict(streamer.counts)
        status = streamer.stream.status()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, timeout=30)
    latencies = [recorder.commits[m] - t for m, t in sent.items() if m in recorder.commits]
    by_minute: dict[int, list[float]] = {}
    for m, t in sent.items():
        if m in recorder.commits:
            by_minute.setdefault(int((t - t0) // 60), []).append(recorder.commits[m] - t)
    return {
        "by_minute": by_minute,
        "in_daemon": [s for at, s in recorder.in_daemon if at >= t0],
        "moves": len(sent),
        "traded": len(latencies),
        "latencies": latencies,
        "elapsed_s": elapsed,
        "messages": messages,
        "cpu_s": cpu,
        "sim_cpu_s": sim_cpu,
        "backlog": backlog,
        "lags": lags,
        "rss": rss,
        "polls_s": recorder.polls_s,
        "status": status,
        "counts": counts,
    }


def report(r: dict[str, Any], step_s: float, load: tuple[float, ...]) -> None:
    """Print the figures against the targets."""
    lat = r["latencies"]
    rate = r["messages"] / r["elapsed_s"]
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    print(
        f"streamed tokens:           {r['status'].watched} over {r['status'].connections} "
        f"connections; run {r['elapsed_s']:.0f} s; price step {step_s} s"
    )
    print(f"moves -> trades:           {r['moves']} moved, {r['traded']} traded")
    print(
        f"move-to-commit latency:    p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms  (targets p50 <= 250 ms, p99 <= 1 s: "
        f"{'MET' if p50 <= TARGET_P50_S and p99 <= TARGET_P99_S else 'MISSED'})"
    )
    own = r["in_daemon"]
    print(
        f"  of which in the daemon:  p50 {percentile(own, 0.5) * 1000:.0f} ms, p99 "
        f"{percentile(own, 0.99) * 1000:.0f} ms (a change received -> its trade committed; "
        f"{len(own)} stream trades)"
    )
    minutes = ", ".join(
        f"{m + 1}: {percentile(v, 0.5) * 1000:.0f}/{max(v) * 1000:.0f} ms"
        for m, v in sorted(r["by_minute"].items())
    )
    print(f"  p50/max by minute:       {minutes}")
    print(
        f"messages handled:          {r['messages']:,} = {rate:,.0f}/s  (target >= 2,000/s: "
        f"{'MET' if rate >= TARGET_RATE else 'MISSED'})"
    )
    print(
        f"daemon CPU:                {r['cpu_s']:.1f} s = {r['cpu_s'] / r['elapsed_s']:.0%} of "
        f"one core; {1000 * r['cpu_s'] / max(r['messages'], 1) * 1000:.1f} ms per 1,000 messages"
    )
    print(
        f"simulator CPU (elsewhere): {r['sim_cpu_s']:.1f} s = "
        f"{r['sim_cpu_s'] / r['elapsed_s']:.0%} of one core"
    )
    lags = r["lags"]
    print(
        f"event-loop lag:            p50 {percentile(lags, 0.5) * 1000:.1f} ms, p99 "
        f"{percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.0f} ms"
    )
    print(f"backlog at the end:        {r['backlog']} messages sent by the simulator not yet read")
    rss = r["rss"]
    late = rss[len(rss) // 2 :]
    print(
        f"RSS:                       {rss[0][1]:.0f} MB -> {rss[-1][1]:.0f} MB "
        f"(max {max(v for _, v in rss):.0f}); slope {slope_per_min(rss):+.2f} MB/min "
        f"over {len(rss)} samples; {slope_per_min(late):+.2f} MB/min over the second half"
    )
    poll_s = r["polls_s"][0]
    half = POLL_INTERVAL_S / 2
    print(
        f"poll-only (computed):      p50 {half + poll_s:.1f} s, p99 "
        f"{0.99 * POLL_INTERVAL_S + poll_s:.1f} s, max {POLL_INTERVAL_S + poll_s:.1f} s "
        f"(U(0, {POLL_INTERVAL_S:.0f} s) + one poll measured at {poll_s:.2f} s)"
    )
    print(f"stream counters:           {r['counts']}")
    print(
        f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in load)} at the end; "
        f"{os.cpu_count()} CPUs"
    )


PHASES = {
    # the latency targets at 1,000 streamed tokens, prices stepping as the simulator's default
    "latency": "the simulator's default price step",
    # the throughput target: every streamed market changes several times a second
    "load": ">= 2,000 messages/s",
}


def main() -> int:
    """Parse the arguments, run each phase (a simulator and a daemon of its own), print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="per phase")
    parser.add_argument("--phases", default="latency,load", help="latency, load or both")
    parser.add_argument("--latency-step-s", type=float, default=5.0)
    parser.add_argument("--load-step-s", type=float, default=0.25)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--moves-per-s", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for phase in args.phases.split(","):
        step_s = args.latency_step_s if phase == "latency" else args.load_step_s
        print(f"\n== phase {phase}: price step {step_s} s ({PHASES[phase]})", flush=True)
        print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with (
            simulator(args.seed, args.events, step_s) as (url, pid),
            tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp,
        ):
            result = asyncio.run(bench(args, url, pid, Path(tmp)))
        report(result, step_s, os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
