"""`prescientd demo`: the built-in simulator and the daemon in one process, on an accelerated clock.

Offline and with no set-up: the simulator listens on a free loopback port, the daemon's config is
written to DIR/demo.toml (pointing at it), every file of DESIGN.md §3 appears under DIR/data
within a minute, and the dashboard's URL is printed once it listens (8686, or a free port when
8686 is taken). Both run on one `AcceleratedClock` (`--speed`, default one simulated day every
17 real seconds): the daemon's schedule (morning 09:00, evening 18:00, a poll every simulated
hour) and the simulator's prices, market ages and resolutions all follow it, so two minutes leave
about a week of history. Only the demo makes that clock; `run` and `once` use the real one.

`status` on the demo's data reads the demo's time from `data/.demo_clock.json` (written while the
demo runs, frozen at the moment it stops), so its ages and "next run" agree with the data.
Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from prescientd.clock import AcceleratedClock, Clock, iso_utc, parse_iso_utc
from prescientd.config import load_config
from prescientd.logs import close_logging, configure_logging
from prescientd.mirrors.files import write_atomic
from prescientd.web.server import Listening

TEMPLATE_URL = "http://127.0.0.1:8765"
TEMPLATE_WS_URL = "ws://127.0.0.1:8765"
DEFAULT_SPEED = 5000.0  # one simulated day every 17.3 real seconds: 2 minutes = 6.9 days
SIM_PRICE_STEP_S = 900.0  # the simulator's prices move every 15 simulated minutes
SIM_RESOLVE_INTERVAL_S = 8 * 3600.0  # a batch of markets proposed, then resolved, every 8 h
CLOCK_FILE = ".demo_clock.json"
DAY_S = 86_400.0


def write_demo_config(root: Path, url: str) -> Path:
    """Write DIR/demo.toml from the packaged demo config, pointed at url and at DIR."""
    root.mkdir(parents=True, exist_ok=True)
    text = (resources.files("prescientd") / "demo.toml").read_text(encoding="utf-8")
    ws_url = "ws" + url.removeprefix("http")
    text = text.replace(TEMPLATE_URL, url).replace(TEMPLATE_WS_URL, ws_url)
    text = text.replace('"demo/', f'"{root.resolve()}/')
    path = root / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------
# the demo's time, for `status`
def write_clock_file(
    data_dir: Path, clock: AcceleratedClock, *, stopped: bool, real_now: datetime | None = None
) -> None:
    """Record where the demo's clock stands at real_now (default: now) for `status`."""
    doc = {
        "speed": clock.rate,
        "real_at": iso_utc(real_now or datetime.now(UTC)),
        "clock_at": iso_utc(clock.now()),
        "stopped": stopped,
    }
    write_atomic(data_dir / CLOCK_FILE, (json.dumps(doc) + "\n").encode("utf-8"))


def demo_now(data_dir: Path, real_now: datetime) -> datetime | None:
    """The demo's time at real_now when data_dir is a demo's, else None.

    A running demo's clock advances `speed` times faster than real time; a stopped one stays at
    the moment it stopped. An unreadable file is ignored (the real clock is used).
    """
    try:
        doc = json.loads((data_dir / CLOCK_FILE).read_text(encoding="utf-8"))
        speed = float(doc["speed"])
        clock_at = parse_iso_utc(str(doc["clock_at"]))
        real_at = parse_iso_utc(str(doc["real_at"]))
        stopped = bool(doc["stopped"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if stopped or not speed > 0:
        return clock_at
    return clock_at + (real_now - real_at) * speed


# ----------------------------------------------------------------------------------------------
def _days(clock: Clock, start: datetime) -> float:
    return (clock.now() - start).total_seconds() / DAY_S


async def _demo(root: Path, duration_s: float | None, events: int, seed: int, speed: float) -> int:
    from prescientd.daemon import Daemon
    from prescientd.runtime import writer_lock
    from prescientd.sim.server import running_simulator

    clock = AcceleratedClock(speed)
    start = clock.start
    async with running_simulator(
        seed=seed,
        n_events=events,
        clock=lambda: clock.now().timestamp(),  # prices, ages and resolutions on the demo's time
        price_step_s=SIM_PRICE_STEP_S,
        resolve_interval_s=SIM_RESOLVE_INTERVAL_S,
    ) as sim:
        config_path = write_demo_config(root, sim.url)
        config = load_config(config_path)
        configure_logging(
            level="info", logs_dir=config.paths.logs_dir, tz=config.tz, console=sys.stdout.isatty()
        )
        data = config.paths.data_dir
        local_start = start.astimezone(config.tz).strftime("%Y-%m-%d %H:%M %Z")
        print(
            f"prescientd demo: simulator at {sim.url}; data under {data}; logs under"
            f" {config.paths.logs_dir}; config {config_path}.\n"
            f"  accelerated clock: {speed:g}x, one simulated day every {DAY_S / speed:.1f} s,"
            f" from {local_start}; Ctrl-C stops.",
            flush=True,
        )
        # the demo writes its data like `run`: it holds the same writer locks, so a second
        # writer is refused and `status` sees it running
        with writer_lock(config.paths):
            write_clock_file(data, clock, stopped=False)
            daemon = Daemon(
                config_path,
                config,
                clock=clock,
                base_dir=root,
                on_listening=_print_dashboard,
            )
            if duration_s is not None:
                asyncio.get_running_loop().call_later(duration_s, daemon.request_stop)
            try:
                code = await daemon.run()
            finally:
                write_clock_file(data, clock, stopped=True)
    print(
        f"prescientd demo stopped after {_days(clock, start):.1f} simulated days;"
        f" files are under {data}:",
        flush=True,
    )
    for path in sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith(".")):
        print(f"  {path.relative_to(data)}  ({path.stat().st_size:,} bytes)")
    return code


def _print_dashboard(listening: Listening) -> None:
    print(
        f"prescientd demo: dashboard at {listening.url} (JSON API under {listening.url}api/v1,"
        f" metrics at {listening.url}metrics)",
        flush=True,
    )


def run_demo(
    root: Path,
    *,
    duration_s: float | None,
    events: int,
    seed: int,
    speed: float = DEFAULT_SPEED,
) -> int:
    """Run the demo until Ctrl-C (or duration_s real seconds); returns the exit code."""
    try:
        return asyncio.run(_demo(root, duration_s, events, seed, speed))
    except KeyboardInterrupt:
        return 0
    finally:
        close_logging()
        with contextlib.suppress(Exception):
            signal.signal(signal.SIGINT, signal.SIG_DFL)
