"""`prescientd demo`: the built-in simulator and the daemon in one process, on a fast schedule.

Offline and with no set-up: the simulator listens on a free loopback port, the daemon's config is
written to DIR/demo.toml (pointing at it), and every file of DESIGN.md §3 appears under DIR/data
within two minutes. Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from prescientd.clock import SystemClock
from prescientd.config import load_config
from prescientd.logs import close_logging, configure_logging

DEMO_TOML = """\
# Written by `prescientd demo`: the daemon against the built-in simulator on a fast schedule.
timezone = "America/New_York"

[paths]
data_dir = "{root}/data"
logs_dir = "{root}/logs"
db_path  = "{root}/data/prescient.db"

[polymarket]
gamma_url = "{url}"
clob_url  = "{url}"
backoff_base_s = 0.2
backoff_max_s = 2

[schedule]
poll_interval_s = {poll_s}          # a poll every few seconds
morning_every_s = 600               # a fresh morning refresh every 10 minutes
evening_every_s = 60                # an evening snapshot every minute
max_price_age_s = {max_age_s}

[filters]
min_liquidity_usd = 500
max_days_to_end = 1200

[strategy]
threshold = 0.50
action = "buy_no"
stake_usd = 100
max_open_positions = 40

[mirrors]
debounce_s = 0.5
"""


def write_demo_config(root: Path, url: str, *, poll_s: float = 5.0) -> Path:
    """Write DIR/demo.toml for a simulator at url; returns its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "demo.toml"
    path.write_text(
        DEMO_TOML.format(root=root.resolve(), url=url, poll_s=poll_s, max_age_s=poll_s * 3),
        encoding="utf-8",
    )
    return path


async def _demo(root: Path, duration_s: float | None, events: int, seed: int) -> int:
    from prescientd.daemon import Daemon
    from prescientd.sim.server import running_simulator

    async with running_simulator(seed=seed, n_events=events, resolve_interval_s=15.0) as sim:
        config_path = write_demo_config(root, sim.url)
        config = load_config(config_path)
        configure_logging(
            level="info", logs_dir=config.paths.logs_dir, tz=config.tz, console=sys.stdout.isatty()
        )
        data = config.paths.data_dir
        print(
            f"prescientd demo: simulator at {sim.url}; data under {data}; logs under"
            f" {config.paths.logs_dir}; config {config_path}. Ctrl-C stops.",
            flush=True,
        )
        daemon = Daemon(config_path, config, clock=SystemClock(), base_dir=root)
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, daemon.request_stop)
        code = await daemon.run()
    print(f"prescientd demo stopped; files are under {data}:", flush=True)
    for path in sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith(".")):
        print(f"  {path.relative_to(data)}  ({path.stat().st_size:,} bytes)")
    return code


def run_demo(root: Path, *, duration_s: float | None, events: int, seed: int) -> int:
    """Run the demo until Ctrl-C (or duration_s); returns the exit code."""
    try:
        return asyncio.run(_demo(root, duration_s, events, seed))
    except KeyboardInterrupt:
        return 0
    finally:
        close_logging()
        with contextlib.suppress(Exception):
            signal.signal(signal.SIGINT, signal.SIG_DFL)
