"""Safe decoding of outside JSON and the small validators shared by the Gamma and CLOB parsers.

`json.loads` accepts `NaN`/`Infinity` and turns `1e400` into `inf`; a NaN then slips through range
checks (`nan > 1` is False). Here such literals stay as their source text (a str), so the per-item
validators reject the one item that carries them, the rest of the page survives, and the raw payload
can still be written with `json.dumps(..., allow_nan=False)`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)

# Python refuses to build ints from more than 4300 digits (ValueError for the whole document);
# longer integer literals stay text so only the item holding one is rejected.
_MAX_INT_DIGITS = 4000
# A Decimal whose float would overflow (1e400) is treated as non-finite: later code converts to
# float or to integer micro-units, and no real price, size or volume comes near this.
_MAX_ADJUSTED_EXPONENT = 300


class ItemError(Exception):
    """One outside item (market, event, book) failed validation; `reason` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _parse_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _parse_int(text: str) -> int | str:
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


def _parse_constant(text: str) -> str:
    return text


# One decoder for every call: json.loads with hooks builds a new JSONDecoder each time, which
# dominated decoding the small JSON-in-JSON strings of Gamma markets.
_DECODER = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant
)


def parse_json(data: bytes | str) -> Any:
    """Decode JSON, keeping NaN, +-Infinity and overflowing numbers as their source text (str).

    ValueError for text that is not JSON, including nesting too deep to decode (the decoder's
    RecursionError would otherwise escape every caller's ValueError handling).
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def to_decimal(value: object, field: str) -> Decimal:
    """A finite Decimal from an int, float or decimal string; ItemError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if not text or not text.isascii() or "_" in text:
            raise ItemError(f"bad_field:{field}", repr(value)[:80])
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ItemError(f"bad_field:{field}", repr(value)[:80]) from None
    elif isinstance(value, bool):
        raise ItemError(f"bad_field:{field}", "boolean where a number was expected")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ItemError("non_finite_number", field)
        # repr is the shortest round-trip text: 0.001 -> Decimal("0.001"), not the binary value.
        number = Decimal(repr(value))
    else:
        raise ItemError(f"bad_field:{field}", f"{type(value).__name__} where a number was expected")
    if not number.is_finite() or number.adjusted() > _MAX_ADJUSTED_EXPONENT:
        raise ItemError("non_finite_number", field)
    return number


# Sizes, volumes and liquidity are stored as integer micro-units in SQLite's 64-bit integers;
# nothing real comes near a trillion.
SIZE_LIMIT = Decimal(10**12)


def to_size(value: object, field: str) -> Decimal:
    """A finite, non-negative Decimal below SIZE_LIMIT (a size, volume or liquidity)."""
    number = to_decimal(value, field)
    if number < ZERO:
        raise ItemError(f"bad_field:{field}", "negative")
    if number >= SIZE_LIMIT:
        raise ItemError(f"bad_field:{field}", f"{number} is out of range")
    return number


def to_price(value: object, field: str) -> Decimal:
    """A finite Decimal in [0, 1]."""
    number = to_decimal(value, field)
    if not ZERO <= number <= ONE:
        raise ItemError("price_out_of_range", f"{field}={number}")
    return number


def to_bool(value: object, field: str, default: bool = False) -> bool:
    """A JSON boolean; absent/null gives default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise ItemError(f"bad_field:{field}", repr(value)[:80])


def to_str(value: object, field: str, default: str = "") -> str:
    """A JSON string; absent/null gives default."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise ItemError(f"bad_field:{field}", f"{type(value).__name__} where a string was expected")


def to_id(value: object, field: str) -> str:
    """A non-empty identifier; ints (never floats) are accepted and kept as their decimal text."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ItemError(f"bad_field:{field}", repr(value)[:80])


def is_digits(text: str) -> bool:
    """True for a non-empty ASCII decimal digit string (a CLOB token id)."""
    return text.isascii() and text.isdigit()


def to_datetime(value: object, field: str) -> datetime | None:
    """An aware UTC datetime from RFC 3339 text (fraction/Z optional); absent/"" gives None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemError(f"bad_field:{field}", repr(value)[:80])
    try:
        # Python 3.11 reads "Z", microseconds and the postgres style "2024-12-25 00:28:03+00".
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ItemError(f"bad_field:{field}", repr(value)[:80]) from None
    if parsed.tzinfo is None:
        # Gamma dates are UTC; a date without offset (endDateIso style) is read as UTC midnight.
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def estimate_size(obj: object, limit: int) -> int:
    """Cheap size of a decoded JSON value (string lengths + 8 per entry); stops past limit."""
    total = 0
    stack: list[object] = [obj]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, dict):
            total += 8 * len(item) + sum(map(len, item))
            for value in item.values():
                kind = type(value)
                if kind is str:
                    total += len(value)
                elif kind is dict or kind is list:
                    stack.append(value)
        elif isinstance(item, list):
            total += 8 * len(item)
            stack.extend(item)
        elif isinstance(item, str):
            total += len(item)
        else:
            total += 8
    return total
