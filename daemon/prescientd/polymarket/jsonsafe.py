"""Safe decoding of outside JSON and the small validators shared by the Gamma and CLOB parsers.

`json.loads` accepts `NaN`/`Infinity` and turns `1e400` into `inf`; a NaN then slips through range
checks (`nan > 1` is False). Here such literals stay as their source text (a str), so the per-item
validators reject the one item that carries them, the rest of the page survives, and the raw payload
can still be written with `json.dumps(..., allow_nan=False)`.

Nesting is bounded the same way: a value nested so deep that the C decoder would raise
`RecursionError` (about 1,000 levels) is replaced by the `TOO_DEEP` marker string, and `check_item`
rejects any item holding the marker or nested deeper than `MAX_ITEM_DEPTH` (real items are about 5
levels deep), so one hostile record is skipped like any malformed item instead of failing the job.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
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
# Depth (1 = the top-level value) beyond which a document that overflowed the decoder's recursion
# is cut: the cut value becomes TOO_DEEP. Items deeper than MAX_ITEM_DEPTH are rejected.
MAX_JSON_DEPTH = 64
MAX_ITEM_DEPTH = 32
TOO_DEEP = "\x00prescientd: nested too deep"
_TOO_DEEP_JSON = json.dumps(TOO_DEEP)
_STRUCTURE = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# A price as the API spells it: "0", "1", "0.4155" - no sign, blank, exponent or leading dot.
_CANONICAL_PRICE = re.compile(r"[01](?:\.[0-9]+)?")


class ItemError(Exception):
    """One outside item (market, event, book) failed validation; `reason` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RecordMismatch(ItemError):
    """A fetched record is not the one that was asked for (another id, condition or tokens)."""

    def __init__(self, detail: str) -> None:
        super().__init__("record_mismatch", detail)


def same_id(got: str, asked: str) -> bool:
    """Ids compare exactly; hex condition ids ("0xAB..") without regard to case."""
    return got == asked or (got.startswith("0x") and got.lower() == asked.lower())


def replied_items_cap(asked: int) -> int:
    """How many items a reply to a request for `asked` items may carry before the rest is cut."""
    return 2 * asked + 10


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

    A value nested too deep for the decoder comes back as TOO_DEEP; ValueError if undecodable.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return _DECODER.decode(text)
    except RecursionError:
        pass
    try:
        return _DECODER.decode(_cut_deep_values(text, MAX_JSON_DEPTH))
    except RecursionError:  # pragma: no cover - the cut text is at most MAX_JSON_DEPTH deep
        raise ValueError("JSON nested too deeply") from None


def _cut_deep_values(text: str, max_depth: int) -> str:
    """text with every array/object that starts deeper than max_depth replaced by TOO_DEEP.

    A linear scan over brackets and strings (no recursion); text that is not valid JSON stays
    invalid, so the decoder still reports it.
    """
    parts: list[str] = []
    depth = 0
    kept_until = 0
    cut_from: int | None = None
    pos = 0
    while (found := _STRUCTURE.search(text, pos)) is not None:
        char, at = found.group(), found.start()
        if char == '"':
            rest = _STRING_REST.match(text, at + 1)
            if rest is None:
                break  # unterminated string: invalid JSON either way
            pos = rest.end()
            continue
        pos = at + 1
        if char in "[{":
            depth += 1
            if depth == max_depth + 1:
                cut_from = at
        else:
            if depth == max_depth + 1 and cut_from is not None:
                parts += [text[kept_until:cut_from], _TOO_DEEP_JSON]
                kept_until, cut_from = pos, None
            depth -= 1
    if cut_from is not None:  # never closed: cut to the end (the decoder reports the rest)
        parts += [text[kept_until:cut_from], _TOO_DEEP_JSON]
        kept_until = len(text)
    parts.append(text[kept_until:])
    return "".join(parts)


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


def to_canonical_price(value: object, field: str) -> Decimal:
    """A price in [0, 1] spelled canonically ("0", "1", "0.25"): no blank, sign or exponent.

    Settlement reads `outcomePrices`; a lenient reading would settle on `["1 ", "0"]` or
    `["-0", "1"]`, which no real resolution looks like.
    """
    price = to_price(value, field)  # NaN, out of range ... keep their own reasons
    if not isinstance(value, str) or _CANONICAL_PRICE.fullmatch(value) is None:
        raise ItemError(f"bad_field:{field}", f"{value!r}"[:80] + " is not a canonical price")
    return price


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


def check_item(obj: object, max_bytes: int | None, *, skip_key: str | None = None) -> None:
    """Raise ItemError("too_deep") or ItemError("oversized") for an item that is either.

    Size is counted like estimate_size; depth is counted from the item (1) and is checked for
    everything, sizes only when max_bytes is given. skip_key leaves one top-level key out of
    both (an event's markets are checked one by one). Only containers go on the stack: a morning
    checks ~150,000 items of ~90 values each, and a tuple per value cost more than the rest.
    """
    total = 0
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_ITEM_DEPTH:
            raise ItemError("too_deep", f"nested deeper than {MAX_ITEM_DEPTH} levels")
        kind = type(item)
        values: Iterable[object]
        if kind is dict:
            assert isinstance(item, dict)
            total += 8 * len(item) + sum(map(len, item))
            values = (
                item.values()
                if depth > 1 or skip_key is None
                else [v for k, v in item.items() if k != skip_key]
            )
        elif kind is list:
            assert isinstance(item, list)
            total += 8 * len(item)
            values = item
        else:
            values = (item,)  # a bare value: checked as if it were its own child
            depth -= 1
        child = depth + 1
        for value in values:
            value_kind = type(value)
            if value_kind is dict or value_kind is list:
                stack.append((value, child))
                continue
            if child > MAX_ITEM_DEPTH:
                raise ItemError("too_deep", f"nested deeper than {MAX_ITEM_DEPTH} levels")
            if value_kind is str:
                assert isinstance(value, str)
                if value == TOO_DEEP:
                    raise ItemError("too_deep", f"nested deeper than {MAX_JSON_DEPTH} levels")
                total += len(value)
        if max_bytes is not None and total > max_bytes:
            raise ItemError("oversized")


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
