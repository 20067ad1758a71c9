"""bench_scale.py's profiles of one poll: cProfile over every thread, or py-spy samples.

Each prints the time per area of the poll (mirrors, parsing, SQLite, quotes, ...), so the next
wave knows where a full-universe poll spends it.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

PHASE_TIMEOUT_S = 3600.0


def profile_worker(config_path: Path, out_path: Path) -> int:
    """`prescientd once poll` under cProfile, every thread (loop, book parsing, SQLite), merged."""
    from prescientd import cli
    from prescientd.polymarket import clob

    profiles: list[cProfile.Profile] = []
    thread_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            thread_run(self)
        finally:
            profile.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main_profile = cProfile.Profile()
    main_profile.enable()
    code = cli.main(["once", "poll", "--config", str(config_path)])
    main_profile.disable()
    clob._PARSE_THREAD.shutdown(wait=True)  # its thread ends, so its profile is complete
    stats = pstats.Stats(main_profile)
    for profile in profiles:
        stats.add(profile)
    stats.dump_stats(str(out_path))
    return code


def run_profile(command: list[str], env: dict[str, str]) -> float:
    """Run the profiling worker (`command` ends in its config and output paths); wall seconds."""
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, timeout=PHASE_TIMEOUT_S)
    return time.perf_counter() - start


# (label, file part, function name): cumulative time of these, summed, is one area of the poll
PROFILE_AREAS: list[tuple[str, list[tuple[str, str]]]] = [
    ("whole poll job (jobs.poll)", [("prescientd/jobs.py", "poll")]),
    ("  mirrors written (MirrorBuilder.write)", [("mirrors/build.py", "write")]),
    ("  book parsing, parse thread (_parse_reply)", [("polymarket/clob.py", "_parse_reply")]),
    ("  quotes from books (quote_from_book)", [("core/prices.py", "quote_from_book")]),
    ("  strategy (strategy.decide)", [("core/strategy.py", "decide")]),
    ("  ledger replays (read_portfolio)", [("mirrors/build.py", "read_portfolio")]),
    ("  tracked set (tracked_markets)", [("mirrors/build.py", "tracked_markets")]),
    ("  store: record_poll", [("store/db.py", "record_poll")]),
    ("  store: latest_quotes", [("store/db.py", "latest_quotes")]),
    ("  settlement checks (settle_positions)", [("prescientd/jobs.py", "settle_positions")]),
    # sqlite3's C methods are called through functools.partial in aiosqlite's thread, which
    # cProfile does not see: their time is that thread function's own time
    ("SQLite, aiosqlite thread (own time)", [("aiosqlite/core.py", "_connection_worker_thread")]),
    ("JSON encoding (json.dumps)", [("json/__init__.py", "dumps")]),
    ("fsync", [("~", "<built-in method posix.fsync>")]),
]


def profile_areas(stats: pstats.Stats) -> list[tuple[str, float, float]]:
    """(area, own seconds, cumulative seconds) of each PROFILE_AREAS entry."""
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    out = []
    for label, wanted in PROFILE_AREAS:
        own = cumulative = 0.0
        for (filename, _line, function), (_cc, _nc, tt, ct, _callers) in table.items():
            if any(part in filename and function == name for part, name in wanted):
                own += tt
                cumulative += ct
        out.append((label, own, cumulative))
    return out


def print_profile(path: Path, wall_s: float, top: int = 30) -> None:
    """Where the profiled poll spent its time: areas, then the top functions by own time.

    Every thread is profiled (the loop, the book-parsing thread, aiosqlite's thread); idle waits
    (epoll, a worker's queue get) are real entries: a thread waiting for work or the network.
    """
    print(f"\nprofile of one poll under cProfile, all threads ({wall_s:.1f} s wall): {path}")
    stats = pstats.Stats(str(path))
    print("  area (cumulative CPU seconds in the area's frames; awaits not counted)")
    for label, own, cumulative in profile_areas(stats):
        print(f"  {label:<46} {own if '(own time)' in label else cumulative:10.2f}")
    stats.sort_stats("tottime").print_stats(top)


# (label, frame pattern): samples whose stack holds a matching frame; py-spy names frames
# "Class.function (path/file.py:line)"
SAMPLE_AREAS: list[tuple[str, str]] = [
    ("jobs.poll, event loop thread", r"^poll \(prescientd/jobs\.py"),
    ("  mirrors (MirrorBuilder.write)", r"^MirrorBuilder\.write \(prescientd/mirrors/build"),
    ("    write_prices: market_cache.json, markets_current.csv", r"^MirrorBuilder\.write_prices "),
    (
        "    write_signals: current_signals.json, signals_current.csv",
        r"^MirrorBuilder\.write_signals ",
    ),
    ("    write_portfolio", r"^MirrorBuilder\.write_portfolio "),
    ("  tracked set (tracked_markets)", r"^tracked_markets \(prescientd/mirrors/build"),
    ("  ledger replays (read_portfolio)", r"^read_portfolio \(prescientd/mirrors/build"),
    ("  fetch_books, loop side (requests, reply split)", r"^ClobClient\.fetch_books "),
    ("  quotes from books (quote_from_book)", r"^quote_from_book \(prescientd/core/prices"),
    ("  store.record_poll, loop side", r"^Store\.record_poll "),
    ("  store.latest_quotes, loop side", r"^Store\.latest_quotes "),
    ("  strategy and trades (evaluate_and_trade)", r"^evaluate_and_trade \(prescientd/jobs"),
    ("book parsing, parse thread (_parse_reply)", r"^_parse_reply \(prescientd/polymarket/clob"),
    (
        "SQLite statements, aiosqlite thread",
        r"^_connection_worker_thread \(aiosqlite/core\.py:63\)",
    ),
    ("JSON encoding (json.dumps, any thread)", r"^dumps \(json/__init__\.py"),
    ("start-up: imports", r"^_find_and_load "),
]


def run_sample_profile(
    py_spy: str, poll_command: list[str], out_path: Path, env: dict[str, str]
) -> float:
    """One poll process sampled by py-spy at 100 Hz (all threads); wall seconds."""
    start = time.perf_counter()
    command = [py_spy, "record", "-r", "100", "--format", "raw", "-o", str(out_path), "--"]
    subprocess.run(
        command + poll_command,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        timeout=PHASE_TIMEOUT_S,
    )
    return time.perf_counter() - start


def print_sample_profile(path: Path, wall_s: float) -> None:
    """Seconds of samples (100 Hz, active threads only) per area of the poll."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            stack, count = line.rsplit(" ", 1)
            stacks.append((stack.split(";"), int(count)))
    total = sum(count for _, count in stacks)
    print(
        f"\nsampled profile of one poll (py-spy, 100 Hz, every thread; {wall_s:.1f} s wall, "
        f"{total / 100:.1f} s of active-thread samples): {path}"
    )
    for label, pattern in SAMPLE_AREAS:
        regex = re.compile(pattern)
        n = sum(count for frames, count in stacks if any(regex.search(f) for f in frames))
        print(f"  {label:<60} {n / 100:7.1f} s  {100 * n / max(1, total):5.1f}%")
