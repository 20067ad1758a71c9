"""The screen of `prescientd report`: the report document (the `--json` output) as tables.

Pure: document in, text out, fitted to a width of 80 columns or more. Each table keeps its figures
whole and shortens only its text column (event titles, outcomes, changed keys); the CSVs and
`--json` have every figure and every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from prescientd.status_view import local_time, percent, usd
from prescientd.terminal import cells, clean, fit

Doc = Mapping[str, Any]
KIND_TITLES = {"first_sighting": "at first sighting", "evening": "at each evening"}
MAX_TAGS_SHOWN = 8
HISTOGRAM_BAR = 30


@dataclass(frozen=True, slots=True)
class Col:
    """A table column: header, width, right-aligned (numbers) or a flexible text column."""

    header: str
    width: int
    right: bool = True
    flex: bool = False


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    flex_shares: Sequence[int] | None = None,
) -> list[str]:
    """Header and rows, two spaces of indent; flexible columns share what the width leaves
    (evenly, or in proportion to flex_shares)."""
    # a figure is never cut: a column is as wide as its widest cell; text columns share the rest
    fixed_widths = [max([c.width, *(cells(clean(r[i])) for r in rows)]) for i, c in enumerate(cols)]
    fixed = sum(w for c, w in zip(cols, fixed_widths, strict=True) if not c.flex)
    flex = [c for c in cols if c.flex]
    room = width - fixed - (len(cols) - 1) - 2
    shares = list(flex_shares or [1] * len(flex))
    flex_widths = iter(max(10, room * n // sum(shares)) for n in shares)
    widths = [next(flex_widths) if c.flex else w for c, w in zip(cols, fixed_widths, strict=True)]

    def line(cells_: Sequence[str]) -> str:
        parts = []
        for col, w, text in zip(cols, widths, cells_, strict=True):
            shown = fit(clean(text), w)
            pad = " " * max(0, w - cells(shown))
            parts.append(pad + shown if col.right else shown + pad)
        return ("  " + " ".join(parts)).rstrip()

    return [line([c.header for c in cols]), *(line(r) for r in rows)]


# ------------------------------------------------------------------------------------------------
def _calibration(doc: Doc, width: int) -> list[str]:
    cal = doc.get("calibration") or {}
    res = doc.get("resolutions") or {}
    summary = (
        f"  {_count(cal.get('resolved_markets'))} resolved tracked markets"
        f" ({_count(res.get('settlement'))} learned at settlement,"
        f" {_count(res.get('evening'))} by the evening);"
        f" {_count(cal.get('split_markets'))} 50-50 left out;"
        f" buckets of {cal.get('bucket_width')} YES price,"
        f" {round((cal.get('confidence') or 0) * 100)}% Wilson interval"
    )
    lines = ["Calibration of the market's own price", *_wrap(summary, width)]
    buckets = cal.get("buckets") or []
    if not buckets:
        return [*lines, "  no resolved tracked market has a price yet", ""]
    cols = (
        Col("YES price", 11, right=False),
        Col("implied", 8),
        Col("realized", 8),
        Col("interval", 13),
        Col("n", 7),
        Col("markets", 7),
        Col("", 1, right=False),
    )
    for kind, title in KIND_TITLES.items():
        rows = [
            [
                f"{b['bucket_low']:.2f}-{b['bucket_high']:.2f}",
                _num(b.get("implied_probability")),
                _num(b.get("realized_frequency")),
                f"{_num(b.get('wilson_low'))}-{_num(b.get('wilson_high'))}",
                _count(b.get("observation_count")),
                _count(b.get("market_count")),
                "!" if _outside(b) else "",
            ]
            for b in buckets
            if b.get("kind") == kind
        ]
        if rows:
            lines += [f"  {title}", *_table(cols, rows, width)]
    lines += [
        "  ! implied probability outside the interval around the realized frequency",
        *_brier(cal.get("brier") or [], width),
        "",
    ]
    return lines


def _outside(bucket: Mapping[str, Any]) -> bool:
    implied = bucket.get("implied_probability")
    low, high = bucket.get("wilson_low"), bucket.get("wilson_high")
    if implied is None or low is None or high is None:
        return False
    return not float(low) <= float(implied) <= float(high)


def _wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    """text broken at spaces into lines of at most width cells, continued with indent."""
    lines: list[str] = []
    first = text[: len(text) - len(text.lstrip())] or indent
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else f"{first if not lines else indent}{word}"
        if line and cells(candidate) > width:
            lines.append(line)
            candidate = f"{indent}{word}"
        line = candidate
    return [*lines, line] if line else lines


def _brier(scores: Sequence[Mapping[str, Any]], width: int) -> list[str]:
    overall = [s for s in scores if s.get("scope") == "all"]
    if not overall:
        return []
    parts = [
        f"{KIND_TITLES.get(s['kind'], s['kind'])} {_num(s.get('brier_score'), 4)}"
        f" (n {_count(s.get('observation_count'))})"
        for s in overall
    ]
    lines = _wrap("  Brier score (0 perfect, 0.25 always 0.5): " + " · ".join(parts), width)
    tags = sorted(
        (s for s in scores if s.get("scope") == "tag" and s.get("kind") == "evening"),
        key=lambda s: (-int(s.get("observation_count") or 0), str(s.get("tag"))),
    )
    if tags:
        shown = ", ".join(
            f"{s.get('tag')} {_num(s.get('brier_score'), 3)}" for s in tags[:MAX_TAGS_SHOWN]
        )
        more = f" (+{len(tags) - MAX_TAGS_SHOWN} more)" if len(tags) > MAX_TAGS_SHOWN else ""
        lines += _wrap(f"  by tag, evenings: {shown}{more}", width)
    return lines


def _capital(doc: Doc, width: int) -> list[str]:
    rows = doc.get("capital") or []
    title = "Return per dollar-day of capital locked"
    if not rows:
        return [title, "  no strategy has an account yet", ""]
    cols = (
        Col("strategy", 12, right=False),
        Col("P&L", 11),
        Col("return", 9),
        Col("per $-day", 10),
        Col("annualized", 10),
        Col("$-days", 9),
        Col("avg locked", 10),
    )
    table = [
        [
            str(r.get("strategy", "")),
            usd(r.get("pnl_usd"), sign=True),
            percent(r.get("return_on_balance"), sign=True),
            _per_day(r.get("return_per_dollar_day")),
            _annual(r.get("annualized_return")),
            _count(r.get("dollar_days")),
            usd(r.get("average_locked_usd")),
        ]
        for r in rows
    ]
    note = "  return = P&L / starting balance; per $-day = P&L / (cost x days held), x 365 a year"
    return [title, *_table(cols, table, width), *_wrap(note, width), ""]


def _per_day(value: Any) -> str:
    if value is None:
        return "–"
    # days held are tiny right after the first trades: such rates are shown, not spread out
    return f"{value * 100:+.4f}%" if abs(value) < 10 else f"{value * 100:+.3g}%"


def _annual(value: Any) -> str:
    if value is None:
        return "–"
    return percent(value, sign=True) if abs(value) < 100 else f"{value * 100:+.3g} %"


def _worst(row: Mapping[str, Any]) -> str:
    """The worst outcome, short: "YES" when the event is that one market, "none" when it is
    no market resolving YES."""
    if not row.get("worst_market_id"):
        return "none YES"
    outcome = str(row.get("worst_outcome", ""))
    return "YES" if outcome == row.get("title") else outcome


def _events(doc: Doc, width: int) -> list[str]:
    rows = doc.get("events") or []
    title = "Worst case per event held (its markets are exclusive), largest loss first"
    if not rows:
        return [title, "  no open position", ""]
    several = len({r.get("strategy") for r in rows}) > 1
    cols = [
        Col("event", 20, right=False, flex=True),
        Col("worst: YES wins", 16, right=False, flex=True),
        Col("loss", 9),
        Col("vs mark", 9),
        Col("pos", 3),
    ]
    table = [
        [
            str(r.get("title") or r.get("event_id", "")),
            _worst(r),
            usd(r.get("worst_loss_usd")),
            usd(r.get("worst_loss_vs_value_usd")),
            _count(r.get("open_positions")),
        ]
        for r in rows
    ]
    if several:
        cols.insert(0, Col("strategy", 12, right=False))
        table = [
            [str(r.get("strategy", "")), *cells_] for r, cells_ in zip(rows, table, strict=True)
        ]
    note = "  loss: against what was paid; vs mark: against today's value"
    return [title, *_table(cols, table, width, flex_shares=(3, 2)), note, ""]


def _versions(doc: Doc, width: int, tz: ZoneInfo) -> list[str]:
    rows = doc.get("versions") or []
    title = "P&L by config version (each entry credited to the version it was bought under)"
    if not rows:
        return [title, "  no trade yet", ""]
    cols = (
        Col("strategy", 12, right=False),
        Col("v", 4),
        Col("loaded", 16, right=False),
        Col("entries", 7),
        Col("cost", 10),
        Col("P&L", 10),
        Col("on cost", 9),
    )
    table = [
        [
            str(r.get("strategy", "")),
            "–" if r.get("config_version") is None else str(r["config_version"]),
            local_time(r.get("loaded_at"), tz)[:16],
            _count(r.get("entries")),
            usd(r.get("cost_usd")),
            usd(r.get("pnl_usd"), sign=True),
            percent(r.get("return_on_cost"), sign=True),
        ]
        for r in rows
    ]
    head, *body = _table(cols, table, width)
    lines = [title, head]
    for row, line in zip(rows, body, strict=True):
        lines.append(line)
        keys = ", ".join(str(k) for k in row.get("changed_keys") or [])
        if keys:  # whole, on lines of their own: the keys are what tells versions apart
            lines += _wrap(f"changed: {keys}", width, indent="      ")
    return [*lines, ""]


def _depth(doc: Doc, width: int) -> list[str]:
    depth = doc.get("depth") or {}
    lines = ["Depth headroom: share of the visible book within the slippage cap a fill used"]
    fills, without = depth.get("fill_count") or 0, depth.get("fills_without_book") or 0
    lines.append(f"  {fills:,} fills with a recorded book, {without:,} without one")
    if not fills:
        return [*lines, ""]
    lines.append(
        f"  median {_num(depth.get('depth_used_median'))} · p90 {_num(depth.get('depth_used_p90'))}"
        f" · max {_num(depth.get('depth_used_max'))} · mean {_num(depth.get('depth_used_mean'))}"
    )
    bars = depth.get("histogram") or []
    top = max((int(b.get("fill_count") or 0) for b in bars), default=0)
    for b in bars:
        high = b.get("depth_used_high")
        label = f"{b.get('depth_used_low'):.2f}-{high:.2f}" if high is not None else "above 1"
        n = int(b.get("fill_count") or 0)
        bar = "█" * (round(n / top * HISTOGRAM_BAR) if top else 0)
        lines.append(fit(f"  {label:>10} {n:>7,} {bar}", width))
    return [*lines, ""]


SECTIONS: tuple[Callable[[Doc, int], list[str]], ...] = (_calibration, _capital, _events)


def render_report(doc: Doc, *, width: int, tz: ZoneInfo, database: str = "") -> str:
    """The report as text at `width` columns (80 or more)."""
    width = max(80, width)
    who = doc.get("strategy") or "every strategy"
    head = f"prescientd report · {local_time(doc.get('generated_at'), tz)} · {who}"
    lines = [fit(f"{head} · {database}" if database else head, width), ""]
    for section in SECTIONS:
        lines += section(doc, width)
    lines += _versions(doc, width, tz)
    lines += _depth(doc, width)
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"
