"""`prescientd demo`: the built-in simulator and the daemon in one process, on a fast schedule.

Offline and with no set-up: the simulator listens on a free loopback port, the daemon's config is
written to DIR/demo.toml (pointing at it), every file of DESIGN.md §3 appears under DIR/data
within two minutes, and the dashboard's URL is printed once it listens (8686, or a free port when
8686 is taken). Ctrl-C stops both cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from importlib import resources
from pathlib import Path

from prescientd.clock import SystemClock
from prescientd.config import load_config
from prescientd.logs import close_logging, configure_logging
from prescientd.web.server import Listening

TEMPLATE_URL = "http://127.0.0.1:8765"
TEMPLATE_WS_URL = "ws://127.0.0.1:8765"


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


async def _demo(root: Path, duration_s: float | None, events: int, seed: int) -> int:
    from prescientd.daemon import Daemon
    from prescientd.runtime import writer_lock
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
        # the demo writes its data directory like `run`: hold the same writer locks, so a second
        # writer is refused and `status` sees the daemon running
        with writer_lock(config.paths):
            daemon = Daemon(
                config_path,
                config,
                clock=SystemClock(),
                base_dir=root,
                on_listening=_print_dashboard,
            )
            if duration_s is not None:
                asyncio.get_running_loop().call_later(duration_s, daemon.request_stop)
            code = await daemon.run()
    print(f"prescientd demo stopped; files are under {data}:", flush=True)
    for path in sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith(".")):
        print(f"  {path.relative_to(data)}  ({path.stat().st_size:,} bytes)")
    return code


def _print_dashboard(listening: Listening) -> None:
    print(
        f"prescientd demo: dashboard at {listening.url} (JSON API under {listening.url}api/v1,"
        f" metrics at {listening.url}metrics)",
        flush=True,
    )


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
