"""Row types the store returns, and the one mapper between value types and table rows.

`Columns(SomeValue, field="column")` maps a frozen value type to a table: each field is stored in
the column of its own name unless renamed, converted by the field's declared type (Decimal as
integer micro-units, datetime as ISO-8601 UTC text, enums as their value, mappings as JSON), so a
new field needs a column and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import (
    DEFAULT_STRATEGY,
    PortfolioSnapshot,
    Quote,
    Settlement,
    SettlementIntent,
    Signal,
    Trade,
)
from prescientd.store.codec import from_micro, round_micro

T = TypeVar("T")
Convert = Callable[[Any], Any]


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _converters(hint: Any) -> tuple[Convert | None, Convert | None]:
    """(decode, encode) for a field's type; None where the stored value is the value itself."""
    args = get_args(hint)
    is_union = isinstance(hint, types.UnionType)
    base = next(a for a in args if a is not type(None)) if is_union else hint
    decode: Convert | None = None
    encode: Convert | None = None
    if base is Decimal:
        decode, encode = from_micro, round_micro
    elif base is datetime:
        decode, encode = parse_iso_utc, iso_utc
    elif isinstance(base, type) and issubclass(base, Enum):
        decode, encode = base, lambda member: member.value
    elif get_origin(base) is Mapping:
        decode, encode = json.loads, lambda data: json.dumps(dict(data), sort_keys=True)
    if is_union and decode is not None and encode is not None:
        decode, encode = _optional(decode), _optional(encode)
    return decode, encode


class Columns(Generic[T]):
    """How one frozen value type is stored: a column per field (renamed where the table differs)."""

    def __init__(self, kind: type[T], **renames: str) -> None:
        hints = get_type_hints(kind)
        self.kind = kind
        self.plan: list[tuple[str, str, Convert | None, Convert | None]] = [
            (f.name, renames.get(f.name, f.name), *_converters(hints[f.name]))
            for f in dataclasses.fields(kind)  # type: ignore[arg-type]
        ]

    def decode(self, row: sqlite3.Row, **given: Any) -> T:
        """The value of a row; fields in `given` are taken from there instead of the row."""
        values = {
            name: given[name] if name in given else (dec(row[col]) if dec else row[col])
            for name, col, dec, _ in self.plan
        }
        return self.kind(**values)

    def encode(self, value: T) -> dict[str, Any]:
        """The value as stored, keyed by column name (Decimal rounded half-even to micro-units)."""
        return {
            col: enc(getattr(value, name)) if enc else getattr(value, name)
            for name, col, _, enc in self.plan
        }

    def names(self, *, without: tuple[str, ...] = ()) -> list[str]:
        """The column names, in field order, leaving out the given columns."""
        return [col for _, col, _, _ in self.plan if col not in without]


def insert_sql(table: str, columns: list[str], tail: str = "") -> str:
    """INSERT of the named columns from named parameters of the same names."""
    names = ", ".join(columns)
    marks = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({marks}){tail}"


_SETTLEMENT_RENAMES = {
    "payout_usd": "payout",
    "cost_basis_usd": "cost_basis",
    "realized_pnl_usd": "realized_pnl",
}
TRADES = Columns(Trade, trade_id="id", notional_usd="notional", fees_usd="fee")
SETTLEMENTS = Columns(Settlement, settlement_id="id", **_SETTLEMENT_RENAMES)
SETTLEMENT_INTENTS = Columns(SettlementIntent, **_SETTLEMENT_RENAMES)
QUOTES = Columns(Quote, book_timestamp_ms="book_ts_ms")
SIGNALS = Columns(Signal)
SNAPSHOTS = Columns(
    PortfolioSnapshot,
    **{f"{name}_usd": name for name in ("cash", "positions_value", "equity")},
    **{f"{name}_usd": name for name in ("realized_pnl", "unrealized_pnl")},
    fees_usd="fees_paid",
)


@dataclass(frozen=True, slots=True)
class JobRunRow:
    """The latest run of one job."""

    job: str
    run_id: str
    local_date: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    config_version: int
    counts: Mapping[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class RefreshRow:
    """One morning refresh."""

    refresh_id: int
    run_id: str
    fetched_at: datetime
    pages: int
    events_received: int
    events_eligible: int
    markets_eligible: int
    items_skipped: int
    rejections: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class QuoteRow:
    """The latest stored quote of a token with its fetch status."""

    quote: Quote
    status: str
    status_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    """One strategy evaluation."""

    evaluation_id: int
    run_id: str
    evaluated_at: datetime
    local_date: str
    config_version: int
    markets_considered: int
    signals: int
    actionable: int
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class SignalRow:
    """A stored signal with its latest sighting: `signal` carries the latest values."""

    signal_id: int
    evaluation_id: int
    evaluated_at: datetime
    local_date: str
    config_version: int
    signal: Signal
    first_at: datetime
    evaluations: int
    first_yes_price: Decimal
    min_yes_price: Decimal
    max_yes_price: Decimal


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What an evaluation transaction wrote for one strategy."""

    evaluation_id: int
    trades: tuple[Trade, ...]
    duplicates: int
    strategy: str = DEFAULT_STRATEGY


@dataclass(frozen=True, slots=True)
class Ohlc:
    """Open, high, low and close of one price series (None when it never had a value)."""

    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None


@dataclass(frozen=True, slots=True)
class PriceBar:
    """A token's prices over one local day."""

    token_id: str
    mid: Ohlc
    display: Ohlc
    last_bid: Decimal | None
    last_ask: Decimal | None
    snapshots: int


JOB_RUNS = Columns(JobRunRow)
REFRESHES = Columns(RefreshRow, refresh_id="id")
EVALUATIONS = Columns(EvaluationRow, evaluation_id="id")
