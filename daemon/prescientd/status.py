"""`prescientd status`: the status document (the `--json` output, also `/api/v1/status`) and the
command that prints it, checks it (`--check`) or says which command creates the database.

The collection has three parts, kept apart so each can be re-pointed on its own:
- `account_figures`: the portfolio read and the figures over it (the one place that reads money),
- `writer_lock_paths` + `liveness.probe_writer`: whether a writer holds the database's lock,
- `collect_status`: the job history and the schedule's next runs, then the warnings
  (`core/alerts.py`).
The screen itself is `status_view.py` (pure: document in, text out).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from prescientd import liveness
from prescientd.clock import iso_utc
from prescientd.config import Config, PathsConfig
from prescientd.core import accounts, alerts, schedule, standing
from prescientd.jobs import JOBS
from prescientd.mirrors import rows
from prescientd.models import DEFAULT_STRATEGY, JOB_CANCELLED_ERROR
from prescientd.portfolio import PortfolioService
from prescientd.redact import redact_text
from prescientd.runtime import LOCK_NAME, db_lock_path
from prescientd.scheduler import SCHEDULED_JOBS
from prescientd.status_view import (
    DEFAULT_MAX_POSITIONS,
    check_lines,
    missing_database_text,
    render_status,
)
from prescientd.store.db import JobRunRow, Store, StoreError
from prescientd.store.safety import check_for_read
from prescientd.vocabulary import number


def writer_lock_paths(paths: PathsConfig) -> list[Path]:
    """The lock files a writer holds: `<db_path>.lock` beside the database, and the data dir's."""
    return [db_lock_path(paths.db_path), paths.data_dir / LOCK_NAME]


# ------------------------------------------------------------------------------------------------
# the account (re-point to the portfolio service: PortfolioService.of(store).valued(...))
@dataclass(frozen=True, slots=True)
class Account:
    """The money part of the document, and how many positions are valued on stale books."""

    fields: dict[str, Any]
    stale_positions: int


async def account_figures(store: Store, config: Config, now: datetime) -> Account:
    """Cash, equity, P&L, return, win rate, drawdown, capital locked, the daily equity series
    and the open positions (worst unrealized P&L first)."""
    max_age_s = config.schedule.price_max_age_s
    portfolio, valuation = await PortfolioService.of(store).valued(now, max_age_s)
    snapshots = await store.portfolio_snapshots(DEFAULT_STRATEGY)
    start = portfolio.starting_balance_usd
    equity = valuation.equity_usd
    today = now.astimezone(config.tz).date().isoformat()
    before_today = [s for s in snapshots if s.local_date < today]
    base = before_today[-1].equity_usd if before_today else start
    marked = sorted(
        valuation.positions,
        key=lambda mp: (mp.unrealized_pnl_usd, mp.position.question, mp.position.outcome),
    )
    fields = {
        "starting_balance_usd": number(start),
        "cash_usd": number(valuation.cash_usd),
        "positions_value_usd": number(valuation.positions_value_usd),
        "equity_usd": number(equity),
        "total_pnl_usd": number(equity - start),
        "total_return": number(standing.total_return(equity, start)),
        "daily_pnl_usd": number(equity - base),
        "realized_pnl_usd": number(valuation.realized_pnl_usd),
        "unrealized_pnl_usd": number(valuation.unrealized_pnl_usd),
        "fees_usd": number(valuation.fees_usd),
        "capital_locked_usd": number(standing.capital_locked(portfolio.positions.values())),
        "trade_count": portfolio.trade_count,
        "open_positions": len(valuation.positions),
        "settled_positions": portfolio.settled_positions,
        "settled_wins": portfolio.settled_wins,
        "win_rate": number(standing.win_rate(portfolio.settled_wins, portfolio.settled_positions)),
        "max_drawdown": number(
            standing.max_drawdown([*(s.equity_usd for s in snapshots), equity], start)
        ),
        "equity_series": [
            {"date": s.local_date, "equity_usd": number(s.equity_usd)} for s in snapshots
        ],
        "positions": [rows.position_row(mp) for mp in marked],
    }
    stale = sum(1 for mp in valuation.positions if mp.price_stale or mp.book_missing)
    return Account(fields, stale)


# ------------------------------------------------------------------------------------------------
# the daemon and its jobs
def _daemon_json(probe: liveness.LockProbe, last_seen: datetime | None) -> dict[str, Any]:
    stale_pid = probe.pid if probe.held is False and probe.pid is not None else None
    return {
        "running": probe.held,
        "pid": probe.pid,
        "pid_alive": probe.pid_alive,
        "kind": probe.kind,
        "command": probe.command,
        "started_at": iso_utc(probe.modified_at) if probe.held and probe.modified_at else None,
        "last_seen_at": iso_utc(last_seen) if last_seen else None,
        "stale_lock_pid": stale_pid,
        "lock_path": str(probe.path),
        "error": probe.error,
    }


def next_runs(
    config: Config,
    now: datetime,
    since: datetime,
    runs: Mapping[str, JobRunRow],
    history: tuple[Mapping[str, date], Mapping[str, datetime]],
) -> dict[str, datetime]:
    """When each job runs next in a daemon that began at `since`, as its scheduler decides."""
    cfg = config.schedule
    last_ok, failed_at = history
    poll = runs.get("poll")
    nexts = {
        "poll": schedule.next_poll_at(
            poll.started_at if poll else None, cfg.poll_interval_s, now, since
        )
    }
    for name, every_s, at in (
        ("morning", cfg.morning_every_s, cfg.morning_time),
        ("evening", cfg.evening_every_s, cfg.evening_time),
    ):
        run = runs.get(name)
        if every_s > 0:
            started = run.started_at if run else None
            nexts[name] = schedule.next_interval_run(started, every_s, since)
        else:
            earliest = None if cfg.startup_catch_up else since
            nexts[name] = schedule.next_daily_run(
                now,
                config.tz,
                at,
                last_ok.get(name),
                failed_at.get(name),
                cfg.job_retry_s,
                earliest,
            )
    return nexts


def _job_json(run: JobRunRow | None, now: datetime, next_at: datetime | None) -> dict[str, Any]:
    return {
        "outcome": "never" if run is None else "ok" if run.ok else "failed",
        "started_at": iso_utc(run.started_at) if run else None,
        "finished_at": iso_utc(run.finished_at) if run else None,
        "age_s": int((now - run.finished_at).total_seconds()) if run else None,
        # rows written before redaction existed may still hold a URL's password
        "error": redact_text(run.error) if run and run.error else None,
        "next_run_at": iso_utc(next_at) if next_at else None,
    }


# ------------------------------------------------------------------------------------------------
def _facts(
    probe: liveness.LockProbe,
    runs: Mapping[str, JobRunRow],
    nexts: Mapping[str, datetime],
    last_poll_at: datetime | None,
    config: Config,
    stale_positions: int,
) -> alerts.StatusFacts:
    return alerts.StatusFacts(
        running=probe.held,
        lock_error=probe.error,
        stale_lock_pid=probe.pid if probe.held is False else None,
        last_activity_at=max((r.finished_at for r in runs.values()), default=None),
        last_poll_at=last_poll_at,
        max_price_age_s=config.schedule.price_max_age_s,
        jobs=[
            alerts.JobFacts(
                name=job,
                ok=runs[job].ok if job in runs else None,
                finished_at=runs[job].finished_at if job in runs else None,
                error=redact_text(runs[job].error or "") or None if job in runs else None,
                cancelled=job in runs and runs[job].error == JOB_CANCELLED_ERROR,
                next_run_at=nexts.get(job),
            )
            for job in JOBS
        ],
        stale_positions=stale_positions,
    )


async def strategy_rows(store: Store, config: Config, now: datetime) -> list[dict[str, Any]]:
    """Every strategy's account side by side (the rows of strategies.csv), active or retired."""
    valued = await PortfolioService.of(store).valued_all(now, config.schedule.price_max_age_s)
    snapshots = await store.portfolio_snapshots()
    active = [spec.name for spec in config.strategy_specs()]
    return [
        rows.strategy_row(
            accounts.figures(
                portfolio,
                valuation,
                [s for s in snapshots if s.strategy == name],
                accounts.status(name, active),
            )
        )
        for name, (portfolio, valuation) in valued.items()
    ]


async def status_document(
    store: Store, config: Config, now: datetime, probe: liveness.LockProbe
) -> dict[str, Any]:
    """The status document from an open store and a probe of the writer lock (the daemon can
    call this with its own store; its own lock then shows it running)."""
    if await store.schema_version() == 0:
        raise StoreError(f"database {config.paths.db_path} holds no prescientd ledger")
    account = await account_figures(store, config, now)
    runs = await store.last_job_runs()
    history = await store.schedule_history(SCHEDULED_JOBS)
    last_poll = await store.last_poll()
    running = probe.held is True and probe.kind != "command"
    since = probe.modified_at or now
    nexts = next_runs(config, now, since, runs, history) if running else {}
    last_poll_at = last_poll[0] if last_poll else None
    facts = _facts(probe, runs, nexts, last_poll_at, config, account.stale_positions)
    found = alerts.assess(facts, now)
    return {
        "generated_at": iso_utc(now),
        "timezone": config.timezone,
        "database": str(config.paths.db_path),
        "config_version": await store.latest_config_version(),
        "check": alerts.overall([a.severity for a in found]),
        "daemon": _daemon_json(probe, facts.last_activity_at),
        **account.fields,
        "strategies": await strategy_rows(store, config, now),
        "jobs": {job: _job_json(runs.get(job), now, nexts.get(job)) for job in JOBS},
        "last_poll_at": iso_utc(last_poll_at) if last_poll_at else None,
        "prices_age_s": round((now - last_poll_at).total_seconds(), 1) if last_poll_at else None,
        "max_price_age_s": config.schedule.price_max_age_s,
        "warnings": [
            {"severity": str(a.severity), "code": a.code, "message": a.message} for a in found
        ],
    }


async def collect_status(
    config: Config, now: datetime, *, lock_paths: Sequence[Path] | None = None
) -> dict[str, Any]:
    """Everything `status` shows, as plain JSON-ready data (the --json document), read through
    a read-only connection of its own; StoreError when the database cannot be read."""
    paths = lock_paths if lock_paths is not None else writer_lock_paths(config.paths)
    probe = await asyncio.to_thread(liveness.probe_writer, paths)
    store = await Store.open(config.paths.db_path, readonly=True)
    try:
        return await status_document(store, config, now, probe)
    except sqlite3.Error as exc:
        raise StoreError(f"database {config.paths.db_path} cannot be read: {exc}") from exc
    finally:
        await store.close()


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatusOptions:
    """How `prescientd status` was asked to answer."""

    json: bool = False
    check: bool = False
    width: int = 80
    color: bool = False
    all_positions: bool = False
    config_option: str = ""  # " --config PATH" as given, for the commands it suggests


def _problem(code: str, message: str, config: Config, now: datetime) -> dict[str, Any]:
    """The document of a database that cannot be read at all: one critical warning."""
    return {
        "generated_at": iso_utc(now),
        "database": str(config.paths.db_path),
        "check": "critical",
        "warnings": [{"severity": "critical", "code": code, "message": message}],
    }


def _answer_check(doc: dict[str, Any], options: StatusOptions, out: TextIO) -> int:
    """--check (and --json): the lines (or the document), and the check's exit status."""
    code, lines = check_lines(doc)
    out.write(json.dumps(doc, indent=1) + "\n" if options.json else "\n".join(lines) + "\n")
    return code if options.check else 0


def run_status(
    config: Config, now: datetime, options: StatusOptions, out: TextIO, err: TextIO
) -> int:
    """Print the screen, the document or the check lines; the exit status (see README)."""
    db_path = config.paths.db_path
    if not db_path.exists():
        message = missing_database_text(str(db_path), options.config_option)
        if not options.check:
            err.write(f"prescientd: {message}\n")
            return 1
        return _answer_check(_problem("database_missing", message, config, now), options, out)
    try:
        check_for_read(db_path, full=False)  # an empty or foreign file: one line, untouched
        doc = asyncio.run(collect_status(config, now))
    except StoreError as exc:
        if not options.check:
            raise  # one line on stderr, exit 1 (cli.main)
        return _answer_check(_problem("database_unreadable", str(exc), config, now), options, out)
    if options.json or options.check:
        return _answer_check(doc, options, out)
    screen = render_status(
        doc,
        width=options.width,
        tz=ZoneInfo(config.timezone),
        now=now,
        color=options.color,
        max_positions=0 if options.all_positions else DEFAULT_MAX_POSITIONS,
    )
    out.write(screen + "\n")
    return 0


def terminal_options(stream: TextIO, environ: Mapping[str, str]) -> tuple[int, bool]:
    """The width to draw at (the terminal's, or $COLUMNS, else 80) and whether to colour:
    only on a TTY, and never with NO_COLOR set or TERM=dumb."""
    width = shutil.get_terminal_size((80, 24)).columns
    isatty = getattr(stream, "isatty", None)
    color = bool(
        isatty is not None
        and isatty()
        and not environ.get("NO_COLOR")
        and environ.get("TERM", "") != "dumb"
    )
    return width, color
