"""Column specs for the spreadsheet exports: one name, one kind, one format per quantity.

A `Column` names a quantity in the shared vocabulary (DESIGN.md §7) and says what kind of value it
holds; the CSV writer (`files.render_table_csv`) and the workbook (`workbook.write_workbook`) both
format a cell from its kind, so a token id is text and a timestamp a date-time in both. `EXPORTS`
is the one declaration of each CSV export's columns, in order: human columns first, long ids last.
The row builders (`mirrors.rows`, `core.filters`, `core.performance`) produce exactly these keys; a
test checks it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from prescientd.clock import parse_iso_utc


class Kind(StrEnum):
    """What a column holds; decides its CSV spelling and its workbook cell type and format."""

    TEXT = "text"  # free text, often from outside (titles, questions): formula-escaped in CSV
    ID = "id"  # token/condition/market/event/trade ids: always text, never a number
    DATETIME = "datetime"  # an instant, written in UTC
    DATE = "date"  # a calendar date (local dates of the configured timezone)
    USD = "usd"  # money in US dollars
    PERCENT = "percent"  # a fraction: 0.0523 is shown as 5.23%
    PRICE = "price"  # a price (or price difference) in 0..1
    SHARES = "shares"  # outcome-token quantities
    INT = "int"  # counts and versions
    NUMBER = "number"  # any other plain number (seconds, fee parameters)
    RATE = "rate"  # a small fraction per unit (return per dollar-day): 9 decimals, shown as %
    BOOL = "bool"


# Digits kept in the CSV for each numeric kind. Money is exact to the ledger's unit (micro-dollars);
# ratios and averages are not finite decimals, so they stop at 6 places (0.0001 percent).
CSV_DECIMALS: dict[Kind, int] = {
    Kind.USD: 6,
    Kind.PERCENT: 6,
    Kind.PRICE: 6,
    Kind.SHARES: 6,
    Kind.NUMBER: 6,
    Kind.RATE: 9,
}
_LONG_ID_SUFFIXES = ("token_id", "condition_id", "idempotency_key", "hash")


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its vocabulary name, its kind, and optional width and header overrides."""

    name: str
    kind: Kind
    width: int | None = None  # characters; None = fitted from the data
    header: str | None = None  # the workbook's header; None = the name (plus "(UTC)" for times)
    optional: bool = False  # shown only when rows carry it (an empty file leaves it out)

    @property
    def long_id(self) -> bool:
        """A 66-77 character id (token, condition, idempotency key): it goes last."""
        return self.kind is Kind.ID and self.name.endswith(_LONG_ID_SUFFIXES)

    def workbook_header(self) -> str:
        """The header cell of the workbook: the name, saying UTC for date-times."""
        if self.header is not None:
            return self.header
        return f"{self.name} (UTC)" if self.kind is Kind.DATETIME else self.name


@dataclass(frozen=True, slots=True)
class Export:
    """One CSV export (and workbook sheet): its file stem, what it is, its proposed columns."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def filename(self) -> str:
        """The CSV's file name under data/exports."""
        return f"{self.name}.csv"


def order_columns(columns: Iterable[Column]) -> list[Column]:
    """Human columns first (in the given order), then short ids, then long ids."""
    return sorted(columns, key=lambda c: (c.kind is Kind.ID) + c.long_id)


def infer_column(name: str, sample: Any) -> Column:
    """A column for a key that no spec lists, from the vocabulary's suffixes and a sample value."""
    if name.endswith("_id") or name in ("idempotency_key", "book_hash"):
        return Column(name, Kind.ID)
    if name.endswith("_usd"):
        return Column(name, Kind.USD)
    if name.endswith("_at") or isinstance(sample, datetime):
        return Column(name, Kind.DATETIME)
    if name == "date" or isinstance(sample, date):
        return Column(name, Kind.DATE)
    if isinstance(sample, bool):
        return Column(name, Kind.BOOL)
    if isinstance(sample, int):
        return Column(name, Kind.INT)
    if isinstance(sample, (float, Decimal)):
        return Column(name, Kind.NUMBER)
    return Column(name, Kind.TEXT)


def resolve_columns(specs: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> list[Column]:
    """The columns of one file: derived from the data, typed and ordered by the specs.

    A spec column no row has is left out (columns come from the data, DESIGN.md §3); a key no spec
    lists is kept with an inferred kind, so new data is never dropped silently. With no rows the
    specs alone make the header (less the optional columns, which only rows can bring), so an
    empty file still says what it would hold.
    """
    if not rows:
        return order_columns(c for c in specs if not c.optional)
    seen: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            if seen.get(key) is None:
                seen[key] = value
    known = {c.name for c in specs}
    columns = [c for c in specs if c.name in seen]
    columns += [infer_column(k, v) for k, v in seen.items() if k not in known]
    return order_columns(columns)


Cell = str | int | bool | Decimal | datetime | date | None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)  # the shortest spelling that round-trips, not the binary expansion
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    if isinstance(value, str):
        try:
            return parse_iso_utc(value)
        except ValueError:
            return None
    return None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ";".join(str(v) for v in value)
    return str(value)


def coerce(column: Column, value: Any) -> Cell:
    """The value as its column's kind (UTC datetime, date, Decimal, int, bool or str); None = empty.

    A value that does not fit its kind (a malformed timestamp, text in a money column) falls back
    to text: a mirror shows what is stored rather than failing or inventing a number.
    """
    if value is None:
        return None
    kind = column.kind
    result: Cell = None
    if kind is Kind.TEXT or kind is Kind.ID:
        return _text(value)
    if kind is Kind.DATETIME:
        result = _datetime(value)
    elif kind is Kind.DATE:
        result = _date(value)
    elif kind is Kind.BOOL:
        result = value if isinstance(value, bool) else None
    elif kind is Kind.INT:
        number = _decimal(value)
        result = int(number) if number is not None and number == number.to_integral() else None
    else:
        result = _decimal(value)
        if result is None and isinstance(value, (float, Decimal)):
            return None  # NaN or infinity: an empty cell, never a made-up number
    return _text(value) if result is None else result


def _cols(spec: str) -> tuple[Column, ...]:
    """Columns from "name:kind" words, "name:kind?" for an optional one (the tables below)."""
    columns = []
    for word in spec.split():
        name, kind = word.split(":")
        columns.append(Column(name, Kind(kind.rstrip("?")), optional=kind.endswith("?")))
    return tuple(columns)


# The eight CSV exports of DESIGN.md §3, each in its order. Names follow the vocabulary of
# DESIGN.md §7 (`fees_usd`, `display_price`, `trade_count`, `open_positions` as a count); `as_of`
# is the instant a snapshot file describes (the write for prices and positions, the morning refresh
# for events and markets); `strategy` appears once rows carry it (DESIGN.md §10).
EVENTS_FILTERED = Export(
    "events_filtered",
    "Events that passed the filters at the last morning refresh.",
    _cols(
        "title:text end_date:datetime market_count:int liquidity_usd:usd "
        "volume_usd:usd volume_24h_usd:usd neg_risk:bool tags:text slug:text as_of:datetime "
        "event_id:id"
    ),
)
MARKETS_EXTRACTED = Export(
    "markets_extracted",
    "One row per market of the filtered events: outcomes, token ids, fees, liquidity.",
    _cols(
        "question:text event_title:text end_date:datetime outcome_yes:text outcome_no:text "
        "liquidity_usd:usd volume_usd:usd volume_24h_usd:usd tick_size:price "
        "min_order_size:shares fees_enabled:bool fee_rate:number fee_exponent:number "
        "neg_risk:bool tags:text slug:text as_of:datetime market_id:id event_id:id "
        "condition_id:id yes_token_id:id no_token_id:id"
    ),
)
MARKETS_CURRENT = Export(
    "markets_current",
    "Latest polled prices and depth of every tracked market (YES and NO books).",
    _cols(
        "question:text display_price:price yes_bid:price yes_ask:price yes_mid:price "
        "no_bid:price no_ask:price no_mid:price spread:price yes_bid_depth_usd:usd "
        "yes_ask_depth_usd:usd no_ask_depth_usd:usd stale:bool age_s:number "
        "outcome_yes:text outcome_no:text as_of:datetime market_id:id event_id:id"
    ),
)
SIGNALS_CURRENT = Export(
    "signals_current",
    "The signals of the latest strategy evaluation: what would be bought, or why not.",
    _cols(
        "strategy:text? question:text status:text action:text outcome:text yes_price:price "
        "threshold:price confidence:price stake_usd:usd skip_reason:text reason:text "
        "liquidity_usd:usd price_source:text config_version:int evaluated_at:datetime "
        "market_id:id event_id:id token_id:id idempotency_key:id"
    ),
)
TRADES_SUMMARY = Export(
    "trades_summary",
    "Every paper trade, with its status and the realized P&L attributed to it.",
    _cols(
        "strategy:text? time:datetime question:text outcome:text side:text status:text "
        "shares:shares avg_price:price cost_usd:usd proceeds_usd:usd fees_usd:usd "
        "realized_pnl_usd:usd open_shares:shares settlement_payout_per_share:price "
        "settled_at:datetime trade_id:id market_id:id token_id:id"
    ),
)
PORTFOLIO_HISTORY = Export(
    "portfolio_history",
    "The evening snapshot of each day: cash, positions, equity, P&L.",
    _cols(
        "strategy:text? date:date equity_usd:usd cash_usd:usd positions_value_usd:usd "
        "realized_pnl_usd:usd unrealized_pnl_usd:usd fees_usd:usd trade_count:int "
        "open_positions:int settled_positions:int settled_wins:int taken_at:datetime"
    ),
)
POSITIONS_CURRENT = Export(
    "positions_current",
    "Open positions marked at the best bid, with unrealized P&L.",
    _cols(
        "strategy:text? question:text outcome:text unrealized_pnl_usd:usd value_usd:usd "
        "cost_usd:usd shares:shares avg_entry_price:price mark_price:price "
        "display_price:price best_bid:price value_at_display_usd:usd fees_usd:usd stale:bool "
        "book_missing:bool opened_at:datetime as_of:datetime market_id:id event_id:id "
        "token_id:id"
    ),
)
PERFORMANCE_DAILY = Export(
    "performance_daily",
    "Daily performance from the evening snapshots: returns, drawdown, win rate.",
    _cols(
        "strategy:text? date:date equity_usd:usd daily_return:percent cumulative_return:percent "
        "drawdown:percent max_drawdown:percent win_rate:percent realized_pnl_usd:usd "
        "unrealized_pnl_usd:usd fees_usd:usd cash_usd:usd positions_value_usd:usd "
        "trade_count:int open_positions:int settled_positions:int"
    ),
)
STRATEGIES = Export(
    "strategies",
    "Every strategy's paper account side by side: equity, return, drawdown, win rate, fees.",
    _cols(
        "strategy:text status:text equity_usd:usd cumulative_return:percent "
        "max_drawdown:percent win_rate:percent trade_count:int fees_usd:usd "
        "capital_locked_usd:usd total_pnl_usd:usd realized_pnl_usd:usd unrealized_pnl_usd:usd "
        "starting_balance_usd:usd cash_usd:usd positions_value_usd:usd open_positions:int "
        "settled_positions:int settled_wins:int"
    ),
)
# The analytics report (DESIGN §11; core/report.py builds the rows), rebuilt each evening.
REPORT_CAPITAL = Export(
    "report_capital",
    "Report: each strategy's P&L per dollar-day of capital locked, beside its return on balance.",
    _cols(
        "strategy:text pnl_usd:usd return_on_balance:percent return_per_dollar_day:rate "
        "annualized_return:percent dollar_days:number average_locked_usd:usd "
        "capital_locked_usd:usd starting_balance_usd:usd realized_pnl_usd:usd "
        "unrealized_pnl_usd:usd fees_usd:usd trade_count:int open_positions:int "
        "unmarked_positions:int"
    ),
)
REPORT_CALIBRATION = Export(
    "report_calibration",
    "Report: YES price buckets of resolved tracked markets, implied vs realized (95% Wilson).",
    _cols(
        "kind:text bucket_low:price bucket_high:price implied_probability:price "
        "realized_frequency:price wilson_low:price wilson_high:price observation_count:int "
        "yes_count:int market_count:int"
    ),
)
REPORT_BRIER = Export(
    "report_brier",
    "Report: Brier score of the market's price, overall and per tag (lower is sharper).",
    _cols("kind:text scope:text tag:text brier_score:number observation_count:int"),
)
REPORT_EVENTS = Export(
    "report_events",
    "Report: the worst single outcome of each event held, largest loss first.",
    _cols(
        "strategy:text title:text worst_outcome:text worst_loss_usd:usd "
        "worst_loss_vs_value_usd:usd worst_payout_usd:usd cost_usd:usd value_usd:usd "
        "open_positions:int scenario_count:int neg_risk:bool worst_market_id:id event_id:id"
    ),
)
REPORT_VERSIONS = Export(
    "report_versions",
    "Report: P&L of the entries made under each config version, per strategy.",
    _cols(
        "strategy:text config_version:int loaded_at:datetime changed_keys:text pnl_usd:usd "
        "return_on_cost:percent realized_pnl_usd:usd unrealized_pnl_usd:usd cost_usd:usd "
        "fees_usd:usd entries:int trade_count:int"
    ),
)
REPORT_DEPTH_SUMMARY = Export(
    "report_depth_summary",
    "Report: how much of the visible book within the slippage cap the fills used.",
    _cols(
        "fill_count:int fills_without_book:int depth_used_min:percent "
        "depth_used_median:percent depth_used_p90:percent depth_used_max:percent "
        "depth_used_mean:percent"
    ),
)
REPORT_DEPTH_HISTOGRAM = Export(
    "report_depth_histogram",
    "Report: fills per bar of depth used (1 = the whole visible book).",
    _cols("depth_used_low:percent depth_used_high:percent fill_count:int"),
)
REPORT_DEPTH = Export(
    "report_depth",
    "Report: each fill with a recorded book and the share of it the fill used.",
    _cols(
        "time:datetime strategy:text side:text depth_used:percent filled_shares:shares "
        "visible_shares:shares filled_usd:usd visible_usd:usd market_id:id trade_id:id"
    ),
)
REPORT_EXPORTS: tuple[Export, ...] = (
    REPORT_CAPITAL,
    REPORT_CALIBRATION,
    REPORT_BRIER,
    REPORT_EVENTS,
    REPORT_VERSIONS,
    REPORT_DEPTH_SUMMARY,
    REPORT_DEPTH_HISTOGRAM,
    REPORT_DEPTH,
)
# Workbook sheet order: what an operator looks at first.
EXPORTS: tuple[Export, ...] = (
    POSITIONS_CURRENT,
    TRADES_SUMMARY,
    PERFORMANCE_DAILY,
    STRATEGIES,
    PORTFOLIO_HISTORY,
    SIGNALS_CURRENT,
    MARKETS_CURRENT,
    MARKETS_EXTRACTED,
    EVENTS_FILTERED,
    *REPORT_EXPORTS,
)
EXPORT_BY_FILENAME: dict[str, Export] = {e.filename: e for e in EXPORTS}
