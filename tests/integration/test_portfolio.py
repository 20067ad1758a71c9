"""The portfolio service on a real SQLite file: one replay per store, read, tracked and valued."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from conftest import T0, make_book, make_intent, make_market
from prescientd.config import PricesConfig
from prescientd.core.ledger import replay
from prescientd.core.prices import quote_from_book
from prescientd.models import Event, SettlementIntent
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store


async def _refresh(store: Store, *market_ids: str) -> None:
    markets = tuple(make_market(m, "10") for m in market_ids)
    event = Event(
        "10", "e", "E", (), True, False, None, Decimal(1), Decimal(1), Decimal(1), False, markets
    )
    await store.save_refresh(
        run_id="r",
        fetched_at=T0,
        pages=1,
        events_received=1,
        eligible_events=[event],
        items_skipped=0,
        rejections={},
        raw_events_json=None,
    )


async def test_one_service_per_store(store: Store, tmp_path: Path) -> None:
    """PortfolioService.of gives every caller of a store the same service; another store its own."""
    other = await Store.open(tmp_path / "other.db", starting_balance_usd=Decimal(1))
    try:
        assert PortfolioService.of(store) is PortfolioService.of(store)
        assert PortfolioService.of(other) is not PortfolioService.of(store)
    finally:
        await other.close()


async def test_read_follows_the_ledger_and_equals_a_full_replay(store: Store) -> None:
    """Each read adds what was recorded since the last one; the result is the full replay."""
    service = PortfolioService.of(store)
    first = await service.read()
    assert (first.cash_usd, first.last_seq, first.trade_count) == (Decimal(10000), 0, 0)
    await store.record_trades([make_intent("k1", token_id="t1", fee="0.5")], T0)
    second = await service.read()
    assert (second.last_seq, second.trade_count, set(second.positions)) == (1, 1, {"t1"})
    await store.record_trades([make_intent("k2", market_id="2", token_id="t2")], T0)
    settle = SettlementIntent(
        "s1",
        "1",
        "t1",
        "No",
        Decimal(100),
        Decimal(1),
        Decimal(100),
        Decimal("40.5"),
        Decimal("59.5"),
        "No won",
    )
    await store.record_settlements([settle], T0)
    third = await service.read()
    trades, settlements = await store.ledger()
    assert third == replay(Decimal(10000), trades, settlements)
    assert (third.last_seq, third.settled_positions, set(third.positions)) == (3, 1, {"t2"})
    assert await service.read() is third  # nothing new: the same portfolio, nothing folded


async def test_tracked_markets_are_the_eligible_set_and_the_held_ones(store: Store) -> None:
    """Tracked: the latest eligible markets, plus held markets that are no longer eligible."""
    await _refresh(store, "1", "2")
    await store.record_trades([make_intent("k1", market_id="1", token_id="t1")], T0)
    await _refresh(store, "2", "3")
    service = PortfolioService.of(store)
    tracked = await service.tracked(await service.read())
    assert [m.market_id for m in tracked.eligible] == ["2", "3"]
    assert [m.market_id for m in tracked.held] == ["1"]
    assert list(tracked.by_id()) == ["2", "3", "1"]


async def test_value_marks_at_the_latest_quote_or_the_last_known_price(store: Store) -> None:
    """A position is marked at its latest ok quote's best bid; a vanished book at its last price."""
    await store.record_trades([make_intent("k1", token_id="t1", shares="100", price="0.40")], T0)
    book = make_book("t1", [("0.45", "100")], [("0.47", "100")])
    quote = quote_from_book(book, T0, PricesConfig())
    await store.record_poll(
        run_id="p",
        fetched_at=T0,
        local_date=T0.date().isoformat(),
        quotes={"t1": quote},
        missing=[],
        rejected=[],
        requests=1,
        tokens_requested=1,
    )
    service = PortfolioService.of(store)
    portfolio, valuation = await service.valued(T0 + timedelta(seconds=10), 60)
    (marked,) = valuation.positions
    assert (marked.mark_price, marked.price_stale, marked.book_missing) == (
        Decimal("0.45"),
        False,
        False,
    )
    assert valuation.equity_usd == portfolio.cash_usd + Decimal(45)
    later = T0 + timedelta(minutes=5)
    await store.record_poll(
        run_id="q",
        fetched_at=later,
        local_date=later.date().isoformat(),
        quotes={},
        missing=["t1"],
        rejected=[],
        requests=1,
        tokens_requested=1,
    )
    (gone,) = (await service.value(portfolio, later, 60)).positions
    assert (gone.mark_price, gone.price_stale, gone.book_missing) == (Decimal("0.45"), True, True)
