"""market_resolutions through the store: one row per market, first learned wins, reads by id and
by time, and nothing out of range reaches SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from prescientd.models import MarketResolution
from prescientd.store.db import Store

T0 = datetime(2026, 10, 6, 22, 0, tzinfo=UTC)
D = Decimal


def _resolution(
    market_id: str, at: datetime, label: str = "no", source: str = "evening"
) -> MarketResolution:
    payouts = {f"{market_id}1": D(0), f"{market_id}2": D(1)}
    if label == "50-50":
        payouts = {f"{market_id}1": D("0.5"), f"{market_id}2": D("0.5")}
    return MarketResolution(market_id, f"0x{market_id}", at, payouts, label, source)


async def test_the_first_resolution_of_a_market_is_kept(store: Store) -> None:
    """Recording counts the new rows; a second record of a market (either source) changes
    nothing; every value reads back as written."""
    first = [_resolution("1", T0, "no", "settlement"), _resolution("2", T0, "50-50")]
    assert await store.record_resolutions(first) == 2
    later = _resolution("1", T0 + timedelta(days=1), "yes", "evening")
    assert await store.record_resolutions([later, _resolution("3", T0)]) == 1
    assert await store.record_resolutions([]) == 0
    found = await store.resolutions()
    assert found == {r.market_id: r for r in [*first, _resolution("3", T0)]}
    assert found["2"].payouts == {"21": D("0.5"), "22": D("0.5")}
    assert await store.resolution_counts() == {"settlement": 1, "evening": 2}


async def test_resolutions_of_given_markets_and_of_a_time_range(store: Store) -> None:
    """By ids (more than one IN chunk) and by learned_at in [start, end), in learned order."""
    rows = [_resolution(str(i), T0 + timedelta(minutes=1200 - i)) for i in range(1200)]
    assert await store.record_resolutions(rows) == 1200
    wanted = {str(i) for i in range(0, 1200, 2)} | {"nope"}
    assert set(await store.resolutions(wanted)) == wanted - {"nope"}
    window = await store.resolutions_between(T0 + timedelta(minutes=10), T0 + timedelta(minutes=15))
    assert [r.learned_at for r in window] == [T0 + timedelta(minutes=m) for m in range(10, 15)]
    assert [r.market_id for r in window] == ["1190", "1189", "1188", "1187", "1186"]


@pytest.mark.parametrize(
    "bad",
    [
        MarketResolution("9", "0x9", T0, {"91": D(2), "92": D(0)}, "yes", "evening"),
        MarketResolution("9", "0x9", T0, {"91": D("NaN"), "92": D(0)}, "yes", "evening"),
        MarketResolution("9", "0x9", T0, {"91": D(1), "92": D(0)}, "yes", "replay"),
    ],
)
async def test_nothing_out_of_range_is_written(store: Store, bad: MarketResolution) -> None:
    """A payout outside 0..1 or an unknown source is refused before the transaction: the good
    rows of the same call are not written either."""
    with pytest.raises(ValueError):
        await store.record_resolutions([_resolution("8", T0), bad])
    assert await store.resolutions() == {}
