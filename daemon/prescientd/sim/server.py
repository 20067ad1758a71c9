"""Run the simulator on a loopback port: an async context manager for tests and a CLI for humans."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from prescientd.sim.app import build_app
from prescientd.sim.state import Clock, SimState
from prescientd.sim.universe import generate_universe


@dataclass(frozen=True, slots=True)
class RunningSim:
    """A listening simulator: base URL for both gamma_url and clob_url, and its state."""

    url: str
    state: SimState
    host: str
    port: int


def ensure_loopback(host: str) -> None:
    """Raise ValueError unless `host` is a loopback address (or "localhost")."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"simulator host must be a loopback address, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"simulator host must be a loopback address, got {host!r}")


@asynccontextmanager
async def serving(
    state: SimState, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSim]:
    """Serve an existing state on host:port (0 = ephemeral) until the block exits."""
    ensure_loopback(host)
    runner = web.AppRunner(build_app(state), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield RunningSim(
            url=f"http://{shown}:{bound_port}", state=state, host=bound_host, port=bound_port
        )
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_simulator(
    *,
    seed: int = 1,
    n_events: int = 200,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    price_step_s: float = 5.0,
    resolve_interval_s: float | None = None,
    now: datetime | None = None,
    resolve_batch: int = 3,
) -> AsyncIterator[RunningSim]:
    """Generate a universe, serve it on a loopback port, and stop cleanly on exit.

    `now` (the universe's reference time) defaults to the clock's current time, whole seconds.
    """
    ensure_loopback(host)
    state = build_state(
        seed=seed,
        n_events=n_events,
        clock=clock,
        price_step_s=price_step_s,
        resolve_interval_s=resolve_interval_s,
        now=now,
        resolve_batch=resolve_batch,
    )
    async with serving(state, host=host, port=port) as sim:
        yield sim


def build_state(
    *,
    seed: int = 1,
    n_events: int = 200,
    clock: Clock | None = None,
    price_step_s: float = 5.0,
    resolve_interval_s: float | None = None,
    now: datetime | None = None,
    resolve_batch: int = 3,
) -> SimState:
    """A SimState for a fresh universe (no server): for in-process tests."""
    state_clock = clock
    if now is None:
        now_s = (clock or _wall_clock)()
        now = datetime.fromtimestamp(int(now_s), UTC)
    universe = generate_universe(seed, n_events, now)
    return SimState(
        universe,
        clock=state_clock,
        price_step_s=price_step_s,
        resolve_interval_s=resolve_interval_s,
        resolve_batch=resolve_batch,
    )


def events_for_markets(seed: int, n_markets: int, now: datetime) -> int:
    """How many events make a universe of about `n_markets` markets (every kind counted).

    Measured on the seed's first 2,000 events (about 1.9 markets an event): within a percent or
    so for large universes.
    """
    sample = 2000
    ratio = len(generate_universe(seed, sample, now).markets) / sample
    return max(1, round(n_markets / ratio))


def _wall_clock() -> float:
    return datetime.now(UTC).timestamp()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prescientd.sim",
        description="Serve a simulated Polymarket (Gamma + CLOB) on a loopback port.",
    )
    parser.add_argument("--seed", type=int, default=1, help="universe seed (default 1)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, default=2000, help="number of events (default 2000)")
    size.add_argument(
        "--markets",
        type=int,
        default=None,
        help="size the universe by markets instead: about this many markets (~1.9 per event)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = ephemeral, the default)")
    parser.add_argument("--price-step-s", type=float, default=5.0, help="price step seconds")
    parser.add_argument(
        "--resolve-interval-s",
        type=float,
        default=None,
        help="auto-resolve a few markets every N seconds (demo)",
    )
    parser.add_argument("--resolve-batch", type=int, default=3, help="markets per interval")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    n_events = args.events
    if args.markets is not None:
        n_events = events_for_markets(args.seed, args.markets, datetime.now(UTC))
    async with running_simulator(
        seed=args.seed,
        n_events=n_events,
        host=args.host,
        port=args.port,
        price_step_s=args.price_step_s,
        resolve_interval_s=args.resolve_interval_s,
        resolve_batch=args.resolve_batch,
    ) as sim:
        print(f"SIM_URL={sim.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print `SIM_URL=...` once listening, serve until SIGTERM/SIGINT, return 0."""
    args = _parser().parse_args(argv)
    try:
        ensure_loopback(args.host)
        if args.events < 0 or args.price_step_s <= 0:
            raise ValueError("--events must be >= 0 and --price-step-s > 0")
        if args.markets is not None and args.markets < 1:
            raise ValueError("--markets must be >= 1")
        if args.resolve_interval_s is not None and args.resolve_interval_s <= 0:
            raise ValueError("--resolve-interval-s must be > 0")
    except ValueError as exc:
        print(f"prescientd.sim: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(args))
    return 0
