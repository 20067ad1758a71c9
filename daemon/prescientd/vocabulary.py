"""How the daemon shows a value: one number converter and one timestamp spelling for every output.

JSON mirrors, CSV exports and `prescientd status --json` (and later the HTTP API) all go through
these, so the same quantity reads the same everywhere: a Decimal becomes a plain number rounded
half-even to 6 decimals (the store's micro-units), an int when it is whole; a timestamp becomes
`clock.iso_utc` text (`2026-12-01T13:25:47.029758Z`). The names and units themselves are listed in
the README's Vocabulary table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from prescientd.clock import iso_utc

_MICRO = Decimal("0.000001")
_EXACT_INT_LIMIT = 2**53  # beyond this a JSON reader's float cannot hold every integer


def number(value: Decimal | None) -> int | float | None:
    """A Decimal as a plain JSON/CSV number: 6 decimals at most, an int when whole; None stays."""
    if value is None:
        return None
    try:
        rounded = value.quantize(_MICRO, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # more digits than the context holds: far beyond any amount here
        return float(value)
    if rounded == rounded.to_integral_value() and abs(rounded) < _EXACT_INT_LIMIT:
        return int(rounded)  # also turns a rounded -0 into 0
    return float(rounded)


def timestamp(moment: datetime | None) -> str | None:
    """An aware datetime as ISO-8601 UTC text (clock.iso_utc); None stays None."""
    return None if moment is None else iso_utc(moment)


def plain(data: Any) -> Any:
    """data with every Decimal, datetime and date spelled as above, tuples and sets as lists."""
    if isinstance(data, Decimal):
        return number(data)
    if isinstance(data, datetime):
        return iso_utc(data)
    if isinstance(data, date):
        return data.isoformat()
    if isinstance(data, Mapping):
        return {key: plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [plain(value) for value in data]
    return data
