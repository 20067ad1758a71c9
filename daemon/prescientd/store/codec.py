"""Conversions between value types and their stored form: micro-units and JSON text."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from prescientd.clock import iso_utc, parse_iso_utc
from prescientd.models import Event, FeeSchedule, Market

MICRO = Decimal("0.000001")
_MICRO_PER_UNIT = 1_000_000


def to_micro(value: Decimal) -> int:
    """Exact conversion to integer micro-units; raises ValueError if value has finer precision."""
    if not value.is_finite():
        raise ValueError(f"non-finite value {value}")
    scaled = value * _MICRO_PER_UNIT
    as_int = int(scaled)
    if scaled != as_int:
        raise ValueError(f"{value} is not a whole number of micro-units")
    return as_int


def round_micro(value: Decimal) -> int:
    """Conversion to micro-units rounding half-even (for derived values such as depth)."""
    if not value.is_finite():
        raise ValueError(f"non-finite value {value}")
    scaled = value * _MICRO_PER_UNIT
    as_int = int(scaled)
    if scaled == as_int:  # the usual case: already whole micro-units
        return as_int
    return int(value.quantize(MICRO, rounding=ROUND_HALF_EVEN) * _MICRO_PER_UNIT)


def opt_micro(value: Decimal | None) -> int | None:
    """round_micro for optional values."""
    return None if value is None else round_micro(value)


def from_micro(value: int) -> Decimal:
    """Integer micro-units back to a Decimal."""
    return Decimal(value) / _MICRO_PER_UNIT


def opt_from_micro(value: int | None) -> Decimal | None:
    """from_micro for optional values."""
    return None if value is None else from_micro(value)


# Prices read back by the hundred thousand (quotes, bars) sit on a tick grid: a bounded memo of
# their Decimals (values are immutable, so sharing them is safe).
_PRICES: dict[int, Decimal] = {}
_PRICES_MAX = 100_000


def price_from_micro(value: int | None) -> Decimal | None:
    """opt_from_micro for prices (0..1), memoised."""
    if value is None:
        return None
    found = _PRICES.get(value)
    if found is None:
        found = from_micro(value)
        if len(_PRICES) < _PRICES_MAX:
            _PRICES[value] = found
    return found


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# Fields kept in the stored JSON as they are (ids, text, flags).
_MARKET_PLAIN = (
    "market_id",
    "event_id",
    "condition_id",
    "slug",
    "question",
    "active",
    "closed",
    "accepting_orders",
    "enable_order_book",
    "uma_resolution_status",
    "neg_risk",
    "neg_risk_other",
)
_EVENT_PLAIN = ("event_id", "slug", "title", "active", "closed", "neg_risk")


def _sizes_to_json(item: Market | Event) -> dict[str, Any]:
    return {
        "end_date": iso_utc(item.end_date) if item.end_date else None,
        "liquidity_usd": str(item.liquidity_usd),
        "volume_usd": str(item.volume_usd),
        "volume_24h_usd": str(item.volume_24h_usd),
    }


def _sizes_from_json(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "end_date": parse_iso_utc(d["end_date"]) if d["end_date"] else None,
        "liquidity_usd": Decimal(d["liquidity_usd"]),
        "volume_usd": Decimal(d["volume_usd"]),
        "volume_24h_usd": Decimal(d["volume_24h_usd"]),
    }


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def market_to_json(market: Market) -> str:
    """Serialise a Market for the markets table."""
    fee = market.fee_schedule
    return _dumps(
        {
            **{name: getattr(market, name) for name in _MARKET_PLAIN},
            "outcomes": list(market.outcomes),
            "token_ids": list(market.token_ids),
            "outcome_prices": [str(p) for p in market.outcome_prices],
            "uma_resolution_statuses": list(market.uma_resolution_statuses),
            **_sizes_to_json(market),
            "tick_size": _dec(market.tick_size),
            "min_order_size": _dec(market.min_order_size),
            "fee_schedule": None
            if fee is None
            else {
                "rate": str(fee.rate),
                "exponent": str(fee.exponent),
                "taker_only": fee.taker_only,
            },
            "fees_enabled": market.fees_enabled,
        }
    )


def market_from_json(text: str) -> Market:
    """Rebuild a Market from market_to_json output."""
    d = json.loads(text)
    fee = d["fee_schedule"]
    return Market(
        **{name: d[name] for name in _MARKET_PLAIN},
        outcomes=tuple(d["outcomes"]),
        token_ids=tuple(d["token_ids"]),
        outcome_prices=tuple(Decimal(p) for p in d["outcome_prices"]),
        uma_resolution_statuses=tuple(d["uma_resolution_statuses"]),
        **_sizes_from_json(d),
        tick_size=_undec(d["tick_size"]),
        min_order_size=_undec(d["min_order_size"]),
        fee_schedule=None
        if fee is None
        else FeeSchedule(Decimal(fee["rate"]), Decimal(fee["exponent"]), fee["taker_only"]),
        fees_enabled=d.get("fees_enabled", False),
    )


def event_to_json(event: Event) -> str:
    """Serialise an Event (without its markets, which have their own table) for the events table."""
    return _dumps(
        {
            **{name: getattr(event, name) for name in _EVENT_PLAIN},
            "tags": list(event.tags),
            **_sizes_to_json(event),
            "children": [list(child) for child in event.children],
            "children_complete": event.children_complete,
        }
    )


def event_from_json(text: str, markets: tuple[Market, ...]) -> Event:
    """Rebuild an Event from event_to_json output plus its markets."""
    d = json.loads(text)
    return Event(
        **{name: d[name] for name in _EVENT_PLAIN},
        tags=tuple(d["tags"]),
        **_sizes_from_json(d),
        markets=markets,
        # rows written before the child lists were kept have none (and are not complete)
        children=tuple((str(i), str(q)) for i, q in d.get("children", ())),
        children_complete=bool(d.get("children_complete", False)),
    )
