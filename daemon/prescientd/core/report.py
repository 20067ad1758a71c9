"""The analytics report: every section assembled into one value, rendered as JSON and as CSV tables.

Each section has one row builder whose column names are the project's vocabulary (DESIGN 7); the
JSON and the CSVs are both made from those rows, so a figure has the same name everywhere. CSV rows
keep typed cells (Decimal rounded to its unit, datetime, int, str) for the mirror writer and the
workbook to format; JSON rows hold plain numbers and ISO-8601 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from prescientd.clock import iso_utc
from prescientd.core.calibration import (
    DEFAULT_BUCKET_WIDTH,
    BrierScore,
    Calibration,
    CalibrationBucket,
    ResolvedMarket,
    calibrate,
)
from prescientd.core.capital import (
    CapitalUse,
    ConfigVersion,
    SettlementRow,
    TradeRow,
    VersionPnl,
    capital_use,
    pnl_by_version,
    tag_settlement,
    tag_trade,
)
from prescientd.core.risk import (
    DepthHeadroom,
    DepthUse,
    EventExposure,
    EventMarkets,
    FillBook,
    HeldToken,
    depth_headroom,
    worst_case_by_event,
)

DEFAULT_TOP_EVENTS = 20
_USD = Decimal("0.000001")
_RATIO = Decimal("0.000001")
_PER_DAY = Decimal("0.000000001")  # a return per dollar-day is small: keep 9 decimals

Cell = Decimal | float | int | str | bool | datetime | tuple[str, ...] | None
Row = dict[str, Cell]


@dataclass(frozen=True, slots=True)
class Report:
    """Every analytics section at one moment (for one strategy, or all)."""

    generated_at: datetime
    strategy: str | None
    calibration: Calibration
    capital: tuple[CapitalUse, ...]
    events: tuple[EventExposure, ...]
    versions: tuple[VersionPnl, ...]
    depth: DepthHeadroom


@dataclass(frozen=True, slots=True)
class CsvTable:
    """One CSV export: its columns (also the header of an empty file) and typed rows."""

    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def build_report(
    *,
    now: datetime,
    resolved_markets: Iterable[ResolvedMarket],
    trades: Sequence[TradeRow],
    settlements: Sequence[SettlementRow],
    starting_balances_usd: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
    versions: Sequence[ConfigVersion],
    held: Iterable[HeldToken],
    events: Mapping[str, EventMarkets],
    fills: Iterable[FillBook],
    strategy: str | None = None,
    bucket_width: Decimal = DEFAULT_BUCKET_WIDTH,
    top_events: int | None = DEFAULT_TOP_EVENTS,
) -> Report:
    """Assemble every section; with a strategy, only its money (calibration is shared)."""
    if strategy is not None:
        trades = [t for t in trades if tag_trade(t).strategy == strategy]
        settlements = [s for s in settlements if tag_settlement(s).strategy == strategy]
        starting_balances_usd = {k: v for k, v in starting_balances_usd.items() if k == strategy}
        held = [h for h in held if h.strategy == strategy]
        fills = [f for f in fills if f.strategy == strategy]
    return Report(
        generated_at=now,
        strategy=strategy,
        calibration=calibrate(resolved_markets, bucket_width=bucket_width),
        capital=capital_use(
            trades, settlements, starting_balances_usd=starting_balances_usd, marks=marks, now=now
        ),
        events=worst_case_by_event(held, events, top=top_events),
        versions=pnl_by_version(
            trades,
            settlements,
            starting_balances_usd=starting_balances_usd,
            marks=marks,
            versions=versions,
        ),
        depth=depth_headroom(fills),
    )


# ------------------------------------------------------------------------------------------------
# Rows: one builder per section, shared by JSON and CSV


def _q(value: Decimal | None, quantum: Decimal) -> Decimal | None:
    if value is None:
        return None
    # adding 0 turns a rounded -0 into 0, which a spreadsheet would show as "-0"
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN) + 0


def _f(value: float) -> float:
    return round(value, 6) + 0.0


def calibration_rows(calibration: Calibration) -> list[Row]:
    """report_calibration.csv: one row per non-empty price bucket of each observation kind."""
    return [_bucket_row(b) for b in calibration.buckets]


def _bucket_row(b: CalibrationBucket) -> Row:
    return {
        "kind": b.kind.value,
        "bucket_low": _q(b.low, _RATIO),
        "bucket_high": _q(b.high, _RATIO),
        "implied_probability": _q(b.implied_probability, _RATIO),
        "realized_frequency": _q(b.realized_frequency, _RATIO),
        "wilson_low": _f(b.wilson_low),
        "wilson_high": _f(b.wilson_high),
        "observation_count": b.count,
        "yes_count": b.yes_count,
        "market_count": b.market_count,
    }


def brier_rows(calibration: Calibration) -> list[Row]:
    """report_brier.csv: the Brier score of each kind over all markets, then per tag."""
    return [_brier_row(s) for s in calibration.brier]


def _brier_row(s: BrierScore) -> Row:
    return {
        "kind": s.kind.value,
        "scope": "all" if s.tag is None else "tag",
        "tag": s.tag,
        "brier_score": _q(s.brier_score, _RATIO),
        "observation_count": s.count,
    }


def capital_rows(capital: Sequence[CapitalUse]) -> list[Row]:
    """report_capital.csv: per strategy, return on balance beside return per dollar-day locked."""
    return [
        {
            "strategy": c.strategy,
            "pnl_usd": _q(c.pnl_usd, _USD),
            "return_on_balance": _q(c.return_on_balance, _RATIO),
            "return_per_dollar_day": _q(c.return_per_dollar_day, _PER_DAY),
            "annualized_return": _q(c.annualized_return, _RATIO),
            "dollar_days": _q(c.dollar_days, _USD),
            "average_locked_usd": _q(c.average_locked_usd, _USD),
            "capital_locked_usd": _q(c.capital_locked_usd, _USD),
            "starting_balance_usd": _q(c.starting_balance_usd, _USD),
            "realized_pnl_usd": _q(c.realized_pnl_usd, _USD),
            "unrealized_pnl_usd": _q(c.unrealized_pnl_usd, _USD),
            "fees_usd": _q(c.fees_usd, _USD),
            "trade_count": c.trade_count,
            "open_positions": c.open_positions,
            "unmarked_positions": c.unmarked_positions,
        }
        for c in capital
    ]


def event_rows(events: Sequence[EventExposure]) -> list[Row]:
    """report_events.csv: the worst single outcome of each event held, largest loss first."""
    return [
        {
            "strategy": e.strategy,
            "title": e.title,
            "worst_outcome": e.worst_outcome,
            "worst_loss_usd": _q(e.worst_loss_usd, _USD),
            "worst_loss_vs_value_usd": _q(e.worst_loss_vs_value_usd, _USD),
            "worst_payout_usd": _q(e.worst_payout_usd, _USD),
            "cost_usd": _q(e.cost_usd, _USD),
            "value_usd": _q(e.value_usd, _USD),
            "open_positions": e.positions,
            "scenario_count": e.scenarios,
            "neg_risk": e.neg_risk,
            "worst_market_id": e.worst_market_id,
            "event_id": e.event_id,
        }
        for e in events
    ]


def version_rows(versions: Sequence[VersionPnl]) -> list[Row]:
    """report_versions.csv: P&L of the entries made under each config version, per strategy."""
    return [
        {
            "strategy": v.strategy,
            "config_version": v.config_version,
            "loaded_at": v.loaded_at,
            "changed_keys": v.changed_keys,
            "pnl_usd": _q(v.pnl_usd, _USD),
            "return_on_cost": _q(v.return_on_cost, _RATIO),
            "realized_pnl_usd": _q(v.realized_pnl_usd, _USD),
            "unrealized_pnl_usd": _q(v.unrealized_pnl_usd, _USD),
            "cost_usd": _q(v.cost_usd, _USD),
            "fees_usd": _q(v.fees_usd, _USD),
            "entries": v.entries,
            "trade_count": v.trade_count,
        }
        for v in versions
    ]


def depth_rows(depth: DepthHeadroom) -> list[Row]:
    """report_depth.csv: one row per fill with a recorded book."""
    return [_depth_row(use) for use in depth.fills]


def _depth_row(use: DepthUse) -> Row:
    return {
        "time": use.executed_at,
        "strategy": use.strategy,
        "side": use.side.value,
        "depth_used": _q(use.depth_used, _RATIO),
        "filled_shares": _q(use.filled_shares, _USD),
        "visible_shares": _q(use.visible_shares, _USD),
        "filled_usd": _q(use.filled_usd, _USD),
        "visible_usd": _q(use.visible_usd, _USD),
        "market_id": use.market_id,
        "trade_id": use.trade_id,
    }


def depth_summary_rows(depth: DepthHeadroom) -> list[Row]:
    """report_depth_summary.csv: one row, the distribution of depth_used."""
    return [
        {
            "fill_count": len(depth.fills),
            "fills_without_book": depth.fills_without_book,
            "depth_used_min": _q(depth.minimum, _RATIO),
            "depth_used_median": _q(depth.median, _RATIO),
            "depth_used_p90": _q(depth.p90, _RATIO),
            "depth_used_max": _q(depth.maximum, _RATIO),
            "depth_used_mean": _q(depth.mean, _RATIO),
        }
    ]


def depth_histogram_rows(depth: DepthHeadroom) -> list[Row]:
    """report_depth_histogram.csv: fills per depth_used bar."""
    return [
        {
            "depth_used_low": _q(bar.low, _RATIO),
            "depth_used_high": _q(bar.high, _RATIO),
            "fill_count": bar.fill_count,
        }
        for bar in depth.histogram
    ]


# ------------------------------------------------------------------------------------------------
# Renderings


def _columns(builder_rows: list[Row], fallback: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(builder_rows[0]) if builder_rows else fallback


def report_csv_tables(report: Report) -> dict[str, CsvTable]:
    """Every report CSV by file name (under data/exports/), with its columns even when empty."""
    sections = {
        "report_calibration.csv": calibration_rows(report.calibration),
        "report_brier.csv": brier_rows(report.calibration),
        "report_capital.csv": capital_rows(report.capital),
        "report_events.csv": event_rows(report.events),
        "report_versions.csv": version_rows(report.versions),
        "report_depth.csv": depth_rows(report.depth),
        "report_depth_summary.csv": depth_summary_rows(report.depth),
        "report_depth_histogram.csv": depth_histogram_rows(report.depth),
    }
    return {
        name: CsvTable(_columns(rows, _EMPTY_COLUMNS[name]), tuple(rows))
        for name, rows in sections.items()
    }


def _plain(value: Cell) -> Any:
    """A JSON-ready value: Decimal -> int or float, datetime -> ISO-8601 UTC, tuple -> list."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        return float(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _plain_rows(rows: Iterable[Row]) -> list[dict[str, Any]]:
    return [{key: _plain(cell) for key, cell in row.items()} for row in rows]


def report_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready dict (plain numbers, ISO-8601 UTC), for --json and the API."""
    cal = report.calibration
    summary = _plain_rows(depth_summary_rows(report.depth))[0]
    return {
        "generated_at": iso_utc(report.generated_at),
        "strategy": report.strategy,
        "calibration": {
            "bucket_width": _plain(cal.bucket_width),
            "confidence": cal.confidence,
            "resolved_markets": cal.resolved_markets,
            "split_markets": cal.split_markets,
            "invalid_observations": cal.invalid_observations,
            "buckets": _plain_rows(calibration_rows(cal)),
            "brier": _plain_rows(brier_rows(cal)),
        },
        "capital": _plain_rows(capital_rows(report.capital)),
        "events": _plain_rows(event_rows(report.events)),
        "versions": _plain_rows(version_rows(report.versions)),
        "depth": {
            **summary,
            "histogram": _plain_rows(depth_histogram_rows(report.depth)),
            "fills": _plain_rows(depth_rows(report.depth)),
        },
    }


# Headers of empty files, so that an empty export still says what it would hold.
_EMPTY_COLUMNS: dict[str, tuple[str, ...]] = {
    "report_calibration.csv": (
        "kind",
        "bucket_low",
        "bucket_high",
        "implied_probability",
        "realized_frequency",
        "wilson_low",
        "wilson_high",
        "observation_count",
        "yes_count",
        "market_count",
    ),
    "report_brier.csv": ("kind", "scope", "tag", "brier_score", "observation_count"),
    "report_capital.csv": (
        "strategy",
        "pnl_usd",
        "return_on_balance",
        "return_per_dollar_day",
        "annualized_return",
        "dollar_days",
    ),
    "report_events.csv": ("strategy", "title", "worst_outcome", "worst_loss_usd", "event_id"),
    "report_versions.csv": ("strategy", "config_version", "changed_keys", "pnl_usd"),
    "report_depth.csv": ("time", "strategy", "side", "depth_used", "trade_id"),
    "report_depth_summary.csv": ("fill_count", "depth_used_median", "depth_used_p90"),
    "report_depth_histogram.csv": ("depth_used_low", "depth_used_high", "fill_count"),
}
