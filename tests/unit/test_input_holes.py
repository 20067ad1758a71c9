"""Small input holes: tick sizes out of range, resolution prices not spelled canonically."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from test_gamma_parse import good_market

from prescientd.core.ledger import resolve
from prescientd.polymarket.gamma import ItemError, parse_market


def resolved_market(prices: list[str]) -> dict[str, Any]:
    """The good recorded market, closed and resolved with the given outcomePrices texts."""
    market = good_market()
    market.update(
        closed=True,
        umaResolutionStatus="resolved",
        outcomePrices=json.dumps(prices),
    )
    return market


@pytest.mark.parametrize("tick", ["1E+30", 1e30, "2", "0.00001", "1e-30", 0])
def test_tick_size_out_of_range_rejects_the_market(tick: object) -> None:
    """orderPriceMinTickSize must lie in 0.0001..1; 1E+30 is never stored."""
    market = good_market()
    market["orderPriceMinTickSize"] = tick
    with pytest.raises(ItemError) as info:
        parse_market(market, "1")
    assert "orderPriceMinTickSize" in info.value.reason


@pytest.mark.parametrize("tick", ["0.01", 0.001, "0.0001", 0.1])
def test_real_tick_sizes_are_kept(tick: object) -> None:
    """Polymarket's ticks (0.1 down to 0.0001) parse as their exact decimal."""
    market = good_market()
    market["orderPriceMinTickSize"] = tick
    assert parse_market(market, "1").tick_size == Decimal(str(tick))


@pytest.mark.parametrize(
    "prices",
    [["1 ", "0"], ["-0", "1"], [" 1", "0"], ["+1", "0"], ["1e0", "0"], [".5", ".5"], ["1.", "0"]],
)
def test_resolution_prices_must_be_canonical(prices: list[str]) -> None:
    """["1 ","0"] or ["-0","1"] is no real resolution: the record is rejected, nothing settles."""
    with pytest.raises(ItemError) as info:
        parse_market(resolved_market(prices), "1")
    assert info.value.reason == "bad_field:outcomePrices"


@pytest.mark.parametrize(
    ("prices", "status"),
    [(["1", "0"], "resolved"), (["0", "1"], "resolved"), (["0.5", "0.5"], "resolved")],
)
def test_canonical_resolution_prices_still_settle(prices: list[str], status: str) -> None:
    """The exact pairs still resolve."""
    market = parse_market(resolved_market(prices), "1")
    assert resolve(market, None).status == status
