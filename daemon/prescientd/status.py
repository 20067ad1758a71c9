"""`prescientd status`: a read-only report of the account and the daemon's recent work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prescientd.clock import iso_utc
from prescientd.config import Config
from prescientd.jobs import JOBS
from prescientd.mirrors import rows
from prescientd.portfolio import PortfolioService
from prescientd.redact import redact_text
from prescientd.store.db import JobRunRow, Store
from prescientd.vocabulary import number, timestamp


async def collect_status(config: Config, now: datetime) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the --json output)."""
    store = await Store.open(config.paths.db_path, readonly=True)
    try:
        max_age_s = config.schedule.price_max_age_s
        portfolio, valuation = await PortfolioService(store).valued(now, max_age_s)
        start = portfolio.starting_balance_usd
        today = now.astimezone(config.tz).date().isoformat()
        previous = [s for s in await store.portfolio_snapshots() if s.local_date < today]
        base = previous[-1].equity_usd if previous else start
        runs = await store.last_job_runs()
        last_poll = await store.last_poll()
        stale_positions = [mp for mp in valuation.positions if mp.price_stale or mp.book_missing]
        warnings = []
        if last_poll is None:
            warnings.append("no price poll has completed yet")
        elif (now - last_poll[0]).total_seconds() > max_age_s:
            age = int((now - last_poll[0]).total_seconds())
            warnings.append(
                f"prices are stale: last successful poll {age} s ago (limit {max_age_s:g} s)"
            )
        if stale_positions:
            warnings.append(f"{len(stale_positions)} position(s) valued on stale or vanished books")
        for job, row in runs.items():
            if not row.ok:
                warnings.append(f"last {job} run failed: {redact_text(row.error or '')}")
        summary = rows.portfolio_summary(portfolio, valuation)
        return {
            "generated_at": iso_utc(now),
            "database": str(config.paths.db_path),
            "config_version": await store.latest_config_version(),
            **summary,
            "daily_pnl_usd": number(valuation.equity_usd - base),
            "positions": [rows.position_row(mp) for mp in valuation.positions],
            "jobs": {job: _job_json(runs.get(job), now) for job in JOBS},
            "last_poll_at": timestamp(last_poll[0] if last_poll else None),
            "warnings": warnings,
        }
    finally:
        await store.close()


def _job_json(run: JobRunRow | None, now: datetime) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "outcome": "ok" if run.ok else "failed",
        "finished_at": iso_utc(run.finished_at),
        "age_s": int((now - run.finished_at).total_seconds()),
        # rows written before redaction existed may still hold a URL's password
        "error": redact_text(run.error or "") or None,
    }


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_status(report: dict[str, Any]) -> str:
    """The human-readable status table."""
    r = report
    lines = [
        f"prescientd status at {r['generated_at']} (config v{r['config_version']})",
        "",
        f"  cash        {r['cash_usd']:>12,.2f} USD",
        f"  positions   {r['positions_value_usd']:>12,.2f} USD (marked at best bid)",
        f"  equity      {r['equity_usd']:>12,.2f} USD",
        f"  total P&L   {r['total_pnl_usd']:>+12,.2f} USD"
        + f"   (start {r['starting_balance_usd']:,.2f})",
        f"  daily P&L   {r['daily_pnl_usd']:>+12,.2f} USD",
        f"  realized    {r['realized_pnl_usd']:>+12,.2f} USD"
        + f"   unrealized {r['unrealized_pnl_usd']:+,.2f}",
        f"  fees paid   {r['fees_usd']:>12,.2f} USD"
        + f"   trades {r['trade_count']}, settled {r['settled_positions']}",
        "",
    ]
    positions = report["positions"]
    lines.append(f"Open positions ({report['open_positions']}):")
    if positions:
        lines.append(
            f"  {'market':>9}  {'question':<44} {'side':<8} {'shares':>9} {'entry':>7}"
            f" {'mark':>7} {'value':>9} {'P&L':>8}"
        )
        for p in positions:
            lines.append(
                f"  {p['market_id']:>9}  {_clip(p['question'], 44):<44} {_clip(p['outcome'], 8):<8}"
                f" {p['shares']:>9.2f} {p['avg_entry_price']:>7.4f} {p['mark_price']:>7.4f}"
                f" {p['value_usd']:>9.2f} {p['unrealized_pnl_usd']:>+8.2f}"
                + (" STALE" if p["stale"] else "")
            )
    else:
        lines.append("  (none)")
    lines += ["", "Last job runs:"]
    for job, run in report["jobs"].items():
        if run is None:
            lines.append(f"  {job:<8} never")
        else:
            tail = f"  {run['error']}" if run["error"] else ""
            lines.append(
                f"  {job:<8} {run['outcome']:<7} {run['finished_at']}  ({_age(run['age_s'])}){tail}"
            )
    if report["warnings"]:
        lines += ["", "WARNINGS:"]
        lines += [f"  ! {w}" for w in report["warnings"]]
    return "\n".join(lines)
