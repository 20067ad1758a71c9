"""Command line: run | once JOB | export | status | report | check-config | demo | sim."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from prescientd import __version__
from prescientd.clock import SystemClock
from prescientd.config import Config, ConfigError, find_config_path, load_config
from prescientd.demo import DEFAULT_SPEED as DEFAULT_DEMO_SPEED
from prescientd.demo import demo_now
from prescientd.logs import close_logging, configure_logging
from prescientd.permissions import apply_process_umask
from prescientd.redact import redact_text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

log = structlog.get_logger(__name__)


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    message = redact_text(" ".join(message.split()))  # one line, no credentials
    sys.stderr.write(f"prescientd: {message}\n")
    sys.stderr.flush()
    return code


def _load(path_arg: str | None) -> Config:
    path = find_config_path(Path(path_arg) if path_arg else None)
    return load_config(path).resolve_paths(Path.cwd())


def _setup_logging(config: Config, *, to_file: bool = True) -> None:
    configure_logging(
        level=config.logging.level,
        logs_dir=config.paths.logs_dir if (config.logging.file and to_file) else None,
        tz=config.tz,
    )


# ----------------------------------------------------------------------------------------------
def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file: exit 0, or 2 with one line naming the bad key."""
    load_config(Path(args.path))
    print(f"{args.path}: ok")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """The daemon."""
    from prescientd.daemon import Daemon
    from prescientd.runtime import writer_lock
    from prescientd.store.db import StoreError

    apply_process_umask()
    config = _load(args.config)
    _setup_logging(config)
    config_path = find_config_path(Path(args.config) if args.config else None)
    try:
        with writer_lock(config.paths):
            daemon = Daemon(config_path, config, clock=SystemClock())
            return asyncio.run(daemon.run())
    except StoreError as exc:
        log.error("store_refused", error=str(exc))
        raise
    finally:
        close_logging()


def cmd_once(args: argparse.Namespace) -> int:
    """Run one job (or cycle = morning then poll) and exit."""
    from prescientd.runtime import writer_lock

    apply_process_umask()
    config = _load(args.config)
    _setup_logging(config)
    names = ["morning", "poll"] if args.job == "cycle" else [args.job]
    try:
        with writer_lock(config.paths):
            failures = asyncio.run(_run_once(config, names))
    finally:
        close_logging()
    if failures:
        return _fail("; ".join(failures))
    return EXIT_OK


async def _run_once(config: Config, names: Sequence[str]) -> list[str]:
    from prescientd import jobs
    from prescientd.mirrors.build import Mirror, MirrorBuilder
    from prescientd.runtime import make_context, start_session

    clock = SystemClock()
    failures = []
    async with start_session(config) as session:
        builder = MirrorBuilder(session.store, config)
        requested: set[Mirror] = set()

        async def publish(mirrors: set[Mirror]) -> None:
            requested.update(mirrors)

        ctx = make_context(
            config, session.config_version, session.store, session.clients, clock, publish
        )
        for name in names:
            outcome = await jobs.run_job(name, ctx, jobs.JOB_BODIES[name])
            # as the daemon does: one flush after the job
            await builder.write_many(requested, clock.now(), workbook=False)
            requested.clear()
            if not outcome.ok:
                failures.append(f"{name} failed: {outcome.error}")
                break
        await builder.write_workbook(clock.now())  # once, after the last job
    return failures


def cmd_export(args: argparse.Namespace) -> int:
    """Rebuild every mirror from SQLite."""
    from prescientd.mirrors.build import MirrorBuilder
    from prescientd.runtime import AlreadyRunning, writer_lock
    from prescientd.store.db import Store
    from prescientd.store.safety import check_for_read

    apply_process_umask()
    config = _load(args.config)
    _setup_logging(config, to_file=False)

    async def export() -> bool:
        # mirrors rebuilt from a damaged or empty database would overwrite the good ones
        await asyncio.to_thread(check_for_read, config.paths.db_path, full=True)
        store = await Store.open(config.paths.db_path, readonly=True)
        try:
            return await MirrorBuilder(store, config).write_all(SystemClock().now())
        finally:
            await store.close()

    try:
        # a running daemon keeps the mirrors current itself; two writers could briefly put an
        # older paper_trades.json over a newer one
        with writer_lock(config.paths):
            ok = asyncio.run(export())
    except AlreadyRunning as exc:
        return _fail(f"{exc} (the running daemon keeps the mirrors current)")
    if not ok:
        return _fail("some mirrors could not be written (see mirror_write_failed above)")
    print(f"mirrors rebuilt under {config.paths.data_dir}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Cash, equity, P&L, positions, the daemon and its jobs; read-only (README: status)."""
    import os
    import shlex

    from prescientd.status import StatusOptions, run_status, terminal_options

    config = _load(args.config)
    configure_logging(level="warning", logs_dir=None, stream=sys.stderr, console=False)
    width, color = terminal_options(sys.stdout, os.environ)
    options = StatusOptions(
        json=args.json,
        check=args.check,
        width=args.width or width,
        color=color,
        all_positions=args.all,
        config_option=f" --config {shlex.quote(args.config)}" if args.config else "",
    )
    if hasattr(sys.stdout, "reconfigure"):  # a question the terminal cannot show is replaced
        sys.stdout.reconfigure(errors="replace")
    now = SystemClock().now()
    now = demo_now(config.paths.data_dir, now) or now  # a demo's data: on the demo's clock
    return run_status(config, now, options, sys.stdout, sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    """The analytics report (DESIGN §11): tables, or --json; read-only (README: the report)."""
    import os
    import shlex

    from prescientd.reporting import run_report
    from prescientd.status import terminal_options

    config = _load(args.config)
    configure_logging(level="warning", logs_dir=None, stream=sys.stderr, console=False)
    width, _ = terminal_options(sys.stdout, os.environ)
    if hasattr(sys.stdout, "reconfigure"):  # a title the terminal cannot show is replaced
        sys.stdout.reconfigure(errors="replace")
    now = SystemClock().now()
    now = demo_now(config.paths.data_dir, now) or now  # a demo's data: on the demo's clock
    return run_report(
        config,
        now,
        as_json=args.json,
        strategy=args.strategy,
        width=args.width or width,
        out=sys.stdout,
        err=sys.stderr,
        config_option=f" --config {shlex.quote(args.config)}" if args.config else "",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """Offline demo: the built-in simulator plus the daemon on an accelerated clock."""
    from prescientd.demo import run_demo

    apply_process_umask()
    return run_demo(
        Path(args.dir),
        duration_s=args.duration,
        events=args.events,
        seed=args.seed,
        speed=args.speed,
    )


def _speed(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text}: between 1 (real time) and 100000")
    return value


def _width(text: str) -> int:
    value = int(text)
    if value < 60:
        raise argparse.ArgumentTypeError(f"{value} is too narrow (60 columns at least)")
    return value


# ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="prescientd", description="Paper-trade Polymarket prediction markets."
    )
    parser.add_argument("--version", action="version", version=f"prescientd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            help="config file (default: $PRESCIENTD_CONFIG or ./config/prescientd.toml)",
        )
        return p

    with_config(sub.add_parser("run", help="run the daemon")).set_defaults(func=cmd_run)
    once = with_config(sub.add_parser("once", help="run one job and exit"))
    once.add_argument("job", choices=["morning", "poll", "evening", "cycle"])
    once.set_defaults(func=cmd_once)
    with_config(sub.add_parser("export", help="rebuild every JSON/CSV mirror")).set_defaults(
        func=cmd_export
    )
    status = with_config(
        sub.add_parser("status", help="show the daemon, equity, P&L, positions and job runs")
    )
    status.add_argument("--json", action="store_true", help="the status document as JSON")
    status.add_argument(
        "--check",
        action="store_true",
        help="monitoring: one line per problem; exit 0 ok, 1 warning, 2 critical",
    )
    status.add_argument(
        "--width", type=_width, default=None, help="columns to fit (default: the terminal's)"
    )
    status.add_argument("--all", action="store_true", help="list every open position")
    status.set_defaults(func=cmd_status)
    report = with_config(
        sub.add_parser(
            "report",
            help="calibration, return per dollar-day, worst case per event, P&L by version,"
            " depth headroom",
        )
    )
    report.add_argument("--json", action="store_true", help="the report document as JSON")
    report.add_argument(
        "--strategy", default=None, help="one strategy's money (calibration is shared)"
    )
    report.add_argument(
        "--width", type=_width, default=None, help="columns to fit (default: the terminal's)"
    )
    report.set_defaults(func=cmd_report)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)
    demo = sub.add_parser("demo", help="offline demo against the built-in simulator")
    demo.add_argument(
        "--dir", default="demo", help="directory for the demo's data (default ./demo)"
    )
    demo.add_argument(
        "--duration", type=float, default=None, help="stop after this many real seconds"
    )
    demo.add_argument(
        "--speed",
        type=_speed,
        default=DEFAULT_DEMO_SPEED,
        help=f"simulated seconds per real second (default {DEFAULT_DEMO_SPEED:g}: one simulated"
        " day every 17 s; 1 = real time)",
    )
    demo.add_argument("--events", type=int, default=120, help="events in the simulated universe")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed")
    demo.set_defaults(func=cmd_demo)
    # dispatched in main() before parsing; listed here for --help
    sub.add_parser("sim", help="run the built-in Polymarket simulator (see prescientd sim --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `prescientd` console script: one clear line for every known failure."""
    from prescientd.runtime import AlreadyRunning
    from prescientd.store.db import StoreError
    from prescientd.web.security import TokenFileError
    from prescientd.web.window import ListenError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        # the simulator has its own options; argparse cannot pass `--seed ...` through a subparser
        from prescientd.sim.server import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_CONFIG)
    except TokenFileError as exc:
        return _fail(f"config error: {exc}", EXIT_CONFIG)
    except (AlreadyRunning, StoreError, ListenError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # a data/log directory that cannot be created, a full disk ...
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except sqlite3.Error as exc:  # a database damaged behind the start-up checks' back
        return _fail(f"database error: {exc}; see README: How to restore from backup")
    return result


if __name__ == "__main__":
    sys.exit(main())
