"""The human `prescientd status` screen and the `--check` lines, drawn from the status document.

Pure: the document (`prescientd status --json`), a width in cells, the zone for local times and
`now` go in; text comes out. Every line fits the width (80 columns and up; narrower works but
squeezes the question column); colour is SGR codes only when asked for (a TTY), so piped output is
plain. Times for people are local with the zone (`2026-12-03 09:00 EST`), durations short
(`2m 10s`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prescientd.clock import parse_iso_utc
from prescientd.core.alerts import duration_text
from prescientd.terminal import (
    cells,
    clean,
    fit,
    fit_left,
    pad,
    paint,
    shorten_distinct,
    sparkline,
    strip_ansi,
)

Doc = Mapping[str, Any]
MIN_WIDTH = 60
DEFAULT_MAX_POSITIONS = 20
CHECK_EXIT = {"ok": 0, "warning": 1, "critical": 2}
SOON_S = 3600.0  # a next run within this is shown as "in 2m 10s", later ones as a local time
GAP = "  "


# ------------------------------------------------------------------------------------------------
# values as text
def local_time(iso: str | None, tz: ZoneInfo) -> str:
    """An ISO-8601 UTC timestamp as a local wall time with its zone: '2026-12-03 09:00 EST'."""
    if not iso:
        return "–"
    return parse_iso_utc(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def usd(value: float | None, *, sign: bool = False) -> str:
    """Dollars with thousands separators and cents: '10,234.56', '+19.40'."""
    if value is None:
        return "–"
    return f"{value:+,.2f}" if sign else f"{value:,.2f}"


def percent(fraction: float | None, *, sign: bool = False) -> str:
    """A fraction as a percentage: 0.0235 -> '+2.35 %'."""
    if fraction is None:
        return "–"
    return f"{fraction * 100:+.2f} %" if sign else f"{fraction * 100:.1f} %"


def _tone(value: float | None) -> str | None:
    if value is None or value == 0:
        return None
    return "gain" if value > 0 else "loss"


def _seconds_until(iso: str | None, now: datetime) -> float | None:
    return None if not iso else (parse_iso_utc(iso) - now).total_seconds()


def when_next(iso: str | None, now: datetime, tz: ZoneInfo) -> str:
    """A next-run time for people: 'due now', 'overdue 45m', 'in 2m 10s' or a local time."""
    wait_s = _seconds_until(iso, now)
    if wait_s is None:
        return "–"
    if wait_s < 1:
        return "due now" if wait_s > -60 else f"overdue {duration_text(-wait_s)}"
    if wait_s < SOON_S:
        return f"in {duration_text(wait_s)}"
    return local_time(iso, tz)


# ------------------------------------------------------------------------------------------------
# the sections
def _header(doc: Doc, width: int, tz: ZoneInfo, color: bool) -> list[str]:
    title = f"prescientd status · {local_time(doc.get('generated_at'), tz)}"
    if doc.get("config_version") is not None:
        title += f" · config v{doc['config_version']}"
    room = width - cells(title) - 3
    if room >= 12 and doc.get("database"):
        title += " · " + fit_left(str(doc["database"]), room)
    return [paint(fit(title, width), "bold", color=color)]


def daemon_line(doc: Doc, now: datetime, tz: ZoneInfo) -> str:
    """'daemon: running (pid 1234), next poll in 2m 10s' or why it is not running."""
    d = doc.get("daemon") or {}
    jobs = doc.get("jobs") or {}
    if d.get("running") is None:
        return f"daemon: UNKNOWN ({clean(str(d.get('error') or 'lock file unreadable'))})"
    if d.get("running"):
        if d.get("kind") == "command":
            command, pid = clean(str(d.get("command") or "?")), d.get("pid")
            return f"daemon: not running; a one-off command writes: {command} (pid {pid})"
        text = f"daemon: running (pid {d.get('pid')})"
        poll = jobs.get("poll") or {}
        if poll.get("next_run_at"):
            text += f", next poll {when_next(poll['next_run_at'], now, tz)}"
        daily = [
            (name, run["next_run_at"])
            for name, run in jobs.items()
            if name != "poll" and run and run.get("next_run_at")
        ]
        if daily:
            name, at = min(daily, key=lambda item: item[1])
            text += f", {name} {when_next(at, now, tz)}"
        return text
    seen = d.get("last_seen_at")
    reasons = []
    if seen:
        ago = duration_text((now - parse_iso_utc(seen)).total_seconds())
        reasons.append(f"last seen {local_time(seen, tz)}, {ago} ago")
    else:
        reasons.append("no job has run yet")
    if d.get("stale_lock_pid"):
        reasons.append(f"stale lock from pid {d['stale_lock_pid']}")
    return f"daemon: NOT running ({'; '.join(reasons)})"


def _grid(columns: Sequence[Sequence[tuple[str, str, str | None]]], color: bool) -> list[str]:
    """Label/value columns side by side; values right-aligned within their column."""
    label_w = [max(cells(label) for label, _, _ in col) for col in columns]
    value_w = [max(cells(value) for _, value, _ in col) for col in columns]
    rows = max(len(col) for col in columns)
    lines = []
    for r in range(rows):
        parts = []
        for c, col in enumerate(columns):
            if r < len(col):
                label, value, style = col[r]
                parts.append(
                    pad(label, label_w[c])
                    + " "
                    + paint(pad(value, value_w[c], right=True), style, color=color)
                )
            else:
                parts.append(" " * (label_w[c] + 1 + value_w[c]))
        lines.append(("  " + "   ".join(parts)).rstrip())
    return lines


def _grid_width(columns: Sequence[Sequence[tuple[str, str, str | None]]]) -> int:
    return (
        2
        + sum(
            max(cells(label) for label, _, _ in col) + 1 + max(cells(value) for _, value, _ in col)
            for col in columns
        )
        + 3 * (len(columns) - 1)
    )


def _account(doc: Doc, width: int, color: bool) -> list[str]:
    wins, settled = doc.get("settled_wins"), doc.get("settled_positions") or 0
    win = percent(doc.get("win_rate")) + (f" ({wins}/{settled})" if settled else "")
    figures: list[tuple[str, str, str | None]] = [
        ("equity", usd(doc.get("equity_usd")) + " USD", "bold"),
        ("cash", usd(doc.get("cash_usd")) + " USD", None),
        ("positions", usd(doc.get("positions_value_usd")) + " USD", None),
        ("locked", usd(doc.get("capital_locked_usd")) + " USD", None),
        ("total P&L", usd(doc.get("total_pnl_usd"), sign=True), _tone(doc.get("total_pnl_usd"))),
        ("return", percent(doc.get("total_return"), sign=True), _tone(doc.get("total_return"))),
        ("today", usd(doc.get("daily_pnl_usd"), sign=True), _tone(doc.get("daily_pnl_usd"))),
        ("fees", usd(doc.get("fees_usd")), None),
        (
            "realized",
            usd(doc.get("realized_pnl_usd"), sign=True),
            _tone(doc.get("realized_pnl_usd")),
        ),
        (
            "unrealized",
            usd(doc.get("unrealized_pnl_usd"), sign=True),
            _tone(doc.get("unrealized_pnl_usd")),
        ),
        ("win rate", win, None),
        (
            "max drawdown",
            percent(doc.get("max_drawdown"), sign=True),
            _tone(doc.get("max_drawdown")),
        ),
    ]
    for per_column in (4, 6, 12):
        columns = [figures[i : i + per_column] for i in range(0, len(figures), per_column)]
        if _grid_width(columns) <= width or per_column == 12:
            return _grid(columns, color)
    return []  # unreachable: the last layout is always taken


def _equity(doc: Doc, width: int, now: datetime, tz: ZoneInfo, color: bool) -> list[str]:
    series = [
        p["equity_usd"] for p in doc.get("equity_series") or [] if p.get("equity_usd") is not None
    ]
    if not series:
        evening = ((doc.get("jobs") or {}).get("evening") or {}).get("next_run_at")
        when = f" (next evening run {when_next(evening, now, tz)})" if evening else ""
        return [fit(f"equity history: no daily snapshot yet{when}", width)]
    values = [*series, doc.get("equity_usd")]
    values = [v for v in values if v is not None]
    days = len(series)
    label = "equity "
    summary = f" {usd(values[0])} → {usd(values[-1])}, {days} day{'s' if days != 1 else ''} + now"
    room = max(1, width - cells(label) - cells(summary) - 2)
    spark = sparkline(values, room)
    style = _tone(values[-1] - values[0])
    return [
        "  "
        + label
        + paint(spark, style, color=color)
        + fit(summary, width - 2 - cells(label) - cells(spark))
    ]


def _mark(row: Mapping[str, Any]) -> str:
    mark = row.get("mark_price")
    text = "–" if mark is None else f"{mark:.3f}"
    if row.get("book_missing"):
        return text + "!"
    return text + ("*" if row.get("stale") else " ")


def sorted_positions(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Positions by unrealized P&L, worst first (ties by question, then outcome)."""
    return sorted(
        rows,
        key=lambda r: (
            r.get("unrealized_pnl_usd") if r.get("unrealized_pnl_usd") is not None else 0.0,
            str(r.get("question", "")),
            str(r.get("outcome", "")),
        ),
    )


def _positions(doc: Doc, width: int, max_rows: int, color: bool) -> list[str]:
    rows = sorted_positions(doc.get("positions") or [])
    count = doc.get("open_positions", len(rows))
    head = (
        f"positions: {count} open, worst unrealized P&L first · {doc.get('trade_count', 0)}"
        f" trades, {doc.get('settled_positions', 0)} settled"
    )
    lines = [paint(fit(head, width), "bold", color=color)]
    if not rows:
        return [*lines, "  (none)"]
    shown = rows if max_rows <= 0 else rows[:max_rows]
    cols = [  # (title, width, right-aligned)
        ("side", max(4, *(cells(clean(str(r.get("outcome", "")))) for r in shown)), False),
        ("entry", 5, True),
        ("mark", 6, True),
        ("value", max(5, *(cells(usd(r.get("value_usd"))) for r in shown)), True),
        ("P&L", max(3, *(cells(usd(r.get("unrealized_pnl_usd"), sign=True)) for r in shown)), True),
    ]
    cols[0] = ("side", min(cols[0][1], 8), False)
    fixed = 2 + sum(w + 1 for _, w, _ in cols)
    longest = max(cells(clean(str(r.get("question", "")))) for r in shown)
    question_w = max(10, min(width - fixed, longest))
    questions = shorten_distinct([str(r.get("question", "")) for r in shown], question_w)
    title = "  " + pad("question", question_w)
    for name, w, right in cols:
        title += " " + pad(name, w, right=right)
    lines.append(paint(title.rstrip(), "dim", color=color))
    for row, question in zip(shown, questions, strict=True):
        pnl = row.get("unrealized_pnl_usd")
        entry = row.get("avg_entry_price")
        cells_text = [
            clean(str(row.get("outcome", ""))),
            "–" if entry is None else f"{entry:.3f}",
            _mark(row),
            usd(row.get("value_usd")),
            usd(pnl, sign=True),
        ]
        line = "  " + pad(question, question_w)
        for (_, w, right), text in zip(cols[:-1], cells_text[:-1], strict=True):
            line += " " + pad(text, w, right=right)
        line += " " + paint(pad(cells_text[-1], cols[-1][1], right=True), _tone(pnl), color=color)
        lines.append(line)
    notes = []
    if len(shown) < len(rows):
        notes.append(f"… {len(rows) - len(shown)} more (prescientd status --all)")
    if any(r.get("stale") and not r.get("book_missing") for r in shown):
        notes.append("* stale price")
    if any(r.get("book_missing") for r in shown):
        notes.append("! book gone: last known price")
    if notes:
        lines.append(fit("  " + " · ".join(notes), width))
    return lines


def _strategies(doc: Doc, width: int) -> list[str]:
    """The strategies side by side (strategies.csv's figures), when there is more than one;
    status, fees and capital locked only where the width allows."""
    rows = doc.get("strategies") or []
    if len(rows) < 2:
        return []
    wide = width >= 100
    name_w = max(8, min(16, max(cells(str(r.get("strategy", ""))) for r in rows)))
    head = f"  {'strategy':<{name_w}} {'equity':>12} {'return':>8} {'max DD':>8} {'win':>7}"
    head += f" {'trades':>6}" + (f" {'status':<8} {'fees':>9} {'locked':>11}" if wide else "")
    lines = ["Strategies", head]
    for r in rows:
        line = (
            f"  {fit(str(r.get('strategy', '')), name_w):<{name_w}}"
            f" {usd(r.get('equity_usd')):>12} {percent(r.get('cumulative_return'), sign=True):>8}"
            f" {percent(r.get('max_drawdown'), sign=True):>8} {percent(r.get('win_rate')):>7}"
            f" {r.get('trade_count', 0):>6}"
        )
        if wide:
            line += (
                f" {r.get('status', '')!s:<8} {usd(r.get('fees_usd')):>9}"
                f" {usd(r.get('capital_locked_usd')):>11}"
            )
        lines.append(line)
    return lines


def _jobs(doc: Doc, width: int, now: datetime, tz: ZoneInfo, color: bool) -> list[str]:
    running = bool((doc.get("daemon") or {}).get("running"))
    table: list[tuple[str, str, str, str, str, Mapping[str, Any]]] = []
    for name, run in (doc.get("jobs") or {}).items():
        run = run or {}
        outcome = run.get("outcome") or "never"
        finished = run.get("finished_at")
        ago = (
            duration_text((now - parse_iso_utc(finished)).total_seconds()) + " ago"
            if finished
            else ""
        )
        nxt = "next " + when_next(run.get("next_run_at"), now, tz) if running else ""
        table.append((name, outcome, local_time(finished, tz) if finished else "", ago, nxt, run))
    if not table:
        return []
    widths = [max(cells(row[i]) for row in [t[:4] for t in table]) for i in range(4)]
    widths[1] = max(widths[1], 6)
    lines = [paint("jobs", "bold", color=color)]
    for name, outcome, at, ago, nxt, run in table:
        style = "loss" if outcome == "failed" else None
        line = (
            "  "
            + pad(name, widths[0])
            + GAP
            + paint(
                pad(outcome.upper() if outcome == "failed" else outcome, widths[1]),
                style,
                color=color,
            )
            + GAP
            + pad(at, widths[2])
            + GAP
            + pad(ago, widths[3])
            + GAP
        )
        used = 2 + sum(widths) + 4 * len(GAP)
        lines.append((line + fit(nxt, max(1, width - used))).rstrip())
        if outcome == "failed" and run.get("error"):
            indent = " " * (2 + widths[0] + len(GAP))
            lines.append(fit(indent + clean(str(run["error"])), width))
    return lines


def _prices(doc: Doc, width: int, tz: ZoneInfo) -> list[str]:
    age = doc.get("prices_age_s")
    if age is None:
        return [fit("prices: no poll has completed yet", width)]
    limit = doc.get("max_price_age_s")
    text = f"prices: {duration_text(age)} old"
    if limit:
        text += f" (stale after {duration_text(limit)})"
    text += f" · last poll {local_time(doc.get('last_poll_at'), tz)}"
    return [fit(text, width)]


def _warnings(doc: Doc, width: int, color: bool) -> list[str]:
    warnings = doc.get("warnings") or []
    if not warnings:
        return [paint("problems: none", "gain", color=color)]
    lines = [paint(f"problems: {len(warnings)}", "bold", color=color)]
    for w in warnings:
        severity = str(w.get("severity", "warning"))
        label = "CRITICAL" if severity == "critical" else "warning "
        wrapped = textwrap.wrap(clean(str(w.get("message", ""))), width=max(20, width - 13)) or [""]
        lines.append(
            "  " + paint(label, severity, color=color) + "  " + fit(wrapped[0], width - 12)
        )
        lines += [" " * 12 + fit(more, width - 12) for more in wrapped[1:]]
    return lines


# ------------------------------------------------------------------------------------------------
def render_status(
    doc: Doc,
    *,
    width: int,
    tz: ZoneInfo,
    now: datetime,
    color: bool = False,
    max_positions: int = DEFAULT_MAX_POSITIONS,
) -> str:
    """The status screen for a terminal width (cells) and zone; max_positions 0 shows all."""
    width = max(MIN_WIDTH, width)
    d_line = daemon_line(doc, now, tz)
    d_style = "critical" if "NOT running" in d_line or "UNKNOWN" in d_line else None
    sections = [
        [
            *_header(doc, width, tz, color),
            *(
                paint(fit(part, width), d_style, color=color)
                for part in textwrap.wrap(d_line, width, subsequent_indent=" " * 8)
            ),
        ],
        _account(doc, width, color),
        _strategies(doc, width),
        _equity(doc, width, now, tz, color),
        _positions(doc, width, max_positions, color),
        [*_jobs(doc, width, now, tz, color), *_prices(doc, width, tz)],
        _warnings(doc, width, color),
    ]
    lines = [line for section in sections if section for line in ["", *section]][1:]
    return "\n".join(_clamp(line, width) for line in lines)


def _clamp(line: str, width: int) -> str:
    """A last guard for the width: a line that is still too long loses its colour and its end."""
    plain = strip_ansi(line)
    return line if cells(plain) <= width else fit(plain, width)


def check_lines(doc: Doc) -> tuple[int, list[str]]:
    """`--check`: the exit code (0 ok, 1 warning, 2 critical) and one line per problem."""
    warnings = doc.get("warnings") or []
    level = doc.get("check") or (
        "critical"
        if any(w.get("severity") == "critical" for w in warnings)
        else "warning"
        if warnings
        else "ok"
    )
    if not warnings:
        d = doc.get("daemon") or {}
        who = f"daemon running (pid {d.get('pid')})" if d.get("running") else "no problems"
        return 0, [f"OK: {who}; equity {usd(doc.get('equity_usd'))} USD"]
    lines = [
        f"{str(w.get('severity')).upper()} {w.get('code')}: {w.get('message')}" for w in warnings
    ]
    return CHECK_EXIT.get(str(level), 2), lines


def missing_database_text(db_path: str, config_option: str) -> str:
    """What to say when the database does not exist yet: which command creates it."""
    return (
        f"no database at {db_path} yet: start the daemon with `prescientd run{config_option}`,"
        f" or run one refresh and poll with `prescientd once cycle{config_option}`"
    )
