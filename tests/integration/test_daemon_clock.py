"""The daemon on an accelerated clock: its waits are clock seconds converted to real ones."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from conftest import FakeClock
from prescientd.clock import AcceleratedClock, SystemClock
from prescientd.config import Config, parse_config
from prescientd.daemon import Daemon, MirrorWriter
from prescientd.mirrors.build import Mirror
from prescientd.notify import Notifier
from prescientd.runtime import open_store
from prescientd.scheduler import MAX_SLEEP_S

START = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def config_in(tmp_path: Path, extra: str = "") -> Config:
    """A config with its paths under tmp_path."""
    return parse_config(extra).resolve_paths(tmp_path)


def daemon_on(tmp_path: Path, clock: AcceleratedClock | SystemClock, extra: str = "") -> Daemon:
    """A Daemon (not started) on clock."""
    path = tmp_path / "c.toml"
    path.write_text(extra)
    return Daemon(
        path,
        config_in(tmp_path, extra),
        clock=clock,
        notifier=Notifier("", ""),
        base_dir=tmp_path,
    )


async def test_scheduler_sleeps_are_scaled_to_real_seconds(tmp_path: Path) -> None:
    """At 1000x a 100-clock-second scheduler sleep lasts 0.1 real s; the wall clock is still
    re-checked every MAX_SLEEP_S real seconds."""
    clock = AcceleratedClock(1000.0)
    daemon = daemon_on(tmp_path, clock)
    assert clock.real_seconds(daemon.scheduler.max_sleep_s) == MAX_SLEEP_S
    t0 = time.monotonic()
    await asyncio.wait_for(daemon._scheduler_wait(100.0), 5)
    assert 0.08 <= time.monotonic() - t0 < 2.0


async def test_hang_limits_are_real_time_on_any_clock(tmp_path: Path) -> None:
    """A loop that beat 10 real s ago at 5000x (50,000 clock s) is alive; one silent for an
    hour of real time (the 30-minute limit) is hung."""
    base = FakeClock(START)
    clock = AcceleratedClock(5000.0, START, base=base)
    daemon = daemon_on(tmp_path, clock, "[schedule]\npoll_interval_s = 3600\n")
    daemon._set_watchdog_limits()
    daemon.progress.start(clock.monotonic())
    base.advance(10.0)
    assert daemon.progress.healthy(clock.monotonic())
    base.advance(3600.0)
    assert not daemon.progress.healthy(clock.monotonic())


async def test_mirror_debounce_is_clock_seconds(tmp_path: Path) -> None:
    """A 1,800-clock-second debounce at 18,000x: a requested mirror is written 0.1 real s
    later (not half an hour later)."""
    config = config_in(tmp_path, "[mirrors]\ndebounce_s = 1800\n")
    clock = AcceleratedClock(18_000.0)
    portfolio = config.paths.data_dir / "trades" / "portfolio.json"
    async with open_store(config) as store:
        writer = MirrorWriter(store, lambda: config, clock, asyncio.Lock())
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        try:
            await writer.request({Mirror.PORTFOLIO})
            t0 = time.monotonic()
            for _ in range(250):  # 5 s at most
                if portfolio.exists():
                    break
                await asyncio.sleep(0.02)
            assert portfolio.exists(), "the debounced rebuild did not happen within 5 s"
            assert time.monotonic() - t0 < 2.0
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
