"""The store reads the web layer pages with, on a real SQLite file: each equals the full reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from conftest import T0, make_intent
from prescientd.models import JobOutcome, Settlement, SettlementIntent, Trade
from prescientd.store.db import Store


async def _ledger(store: Store) -> None:
    """Trades and settlements interleaved in seq: t, t, s, t, t, s, t."""
    for n in range(5):
        await store.record_trades(
            [make_intent(f"k{n}", market_id=str(n), token_id=f"t{n}", fee="0.25")], T0
        )
        if n in (1, 3):
            await store.record_settlements(
                [
                    SettlementIntent(
                        f"s{n}",
                        str(n),
                        f"t{n}",
                        "No",
                        Decimal(100),
                        Decimal(1),
                        Decimal(100),
                        Decimal("40.25"),
                        Decimal("59.75"),
                        "No won",
                    )
                ],
                T0,
            )


@pytest.mark.parametrize("kinds", [("trade", "settlement"), ("trade",), ("settlement",)])
@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (2, 1), (3, 5), (100, 0), (4, 99)])
async def test_ledger_page_is_a_slice_of_the_whole_ledger(
    store: Store, kinds: tuple[str, ...], newest_first: bool, limit: int, offset: int
) -> None:
    """A page holds exactly the entries of that slice of the seq order, with their levels."""
    await _ledger(store)
    trades, settlements = await store.ledger()
    levels = await store.trade_levels()
    entries: list[tuple[int, str, Trade | Settlement]] = [
        (t.seq, "trade", t) for t in trades if "trade" in kinds
    ]
    entries += [(s.seq, "settlement", s) for s in settlements if "settlement" in kinds]
    entries.sort(key=lambda e: e[0], reverse=newest_first)
    wanted = entries[offset : offset + limit]
    page = await store.ledger_page(kinds, limit=limit, offset=offset, newest_first=newest_first)
    found: list[tuple[int, str, Trade | Settlement]] = [(t.seq, "trade", t) for t in page.trades]
    got = sorted(
        found + [(s.seq, "settlement", s) for s in page.settlements],
        key=lambda e: e[0],
        reverse=newest_first,
    )
    assert got == wanted
    assert page.total == len(entries)
    assert page.levels == {t.trade_id: levels[t.trade_id] for t in page.trades}


async def test_trade_by_id(store: Store) -> None:
    """One trade with its levels, or None."""
    await _ledger(store)
    trades, _ = await store.ledger()
    found = await store.trade_by_id(trades[2].trade_id)
    assert found is not None and found[0] == trades[2]
    assert found[1] == (await store.trade_levels())[trades[2].trade_id]
    assert await store.trade_by_id(10_000) is None


async def test_poll_valuations_page_through_ok_polls_only(store: Store) -> None:
    """Successful polls in row order with the equity and cash their counts hold; a poll without
    them (nothing tracked) is listed with None; other jobs and failed polls are not listed."""
    runs: list[tuple[str, bool, dict[str, Any]]] = [
        ("poll", True, {"equity_usd": "10000.5", "cash_usd": "9000"}),
        ("morning", True, {"pages": 1}),
        ("poll", False, {}),
        ("poll", True, {"markets": 0}),
        ("poll", True, {"equity_usd": "9999.25", "cash_usd": "8000.125"}),
    ]
    for n, (job, ok, counts) in enumerate(runs):
        moment = T0 + timedelta(minutes=n)
        await store.record_job_run(
            JobOutcome(f"r{n}", job, "2026-10-06", moment, moment, ok, 1, counts, None)
        )
    everything = await store.poll_valuations(0, 100)
    assert [(v.equity_usd, v.cash_usd) for v in everything] == [
        (Decimal("10000.5"), Decimal(9000)),
        (None, None),
        (Decimal("9999.25"), Decimal("8000.125")),
    ]
    assert [v.finished_at for v in everything] == [
        T0,
        T0 + timedelta(minutes=3),
        T0 + timedelta(minutes=4),
    ]
    first = await store.poll_valuations(0, 1)
    rest = await store.poll_valuations(first[-1].run_row_id, 100)
    assert first + rest == everything


async def test_config_versions_oldest_first(store: Store) -> None:
    """Every recorded version with its source and changed keys."""
    await store.record_config_version(
        sha256="a", source="start", changed_keys=[], strategy_json="{}"
    )
    await store.record_config_version(
        sha256="b", source="reload", changed_keys=["strategy.threshold"], strategy_json="{}"
    )
    versions = await store.config_versions()
    assert [(v.version, v.source, v.changed_keys, v.sha256) for v in versions] == [
        (1, "start", (), "a"),
        (2, "reload", ("strategy.threshold",), "b"),
    ]


async def test_latest_evaluation_id(store: Store) -> None:
    """None before any evaluation, then the newest id."""
    assert await store.latest_evaluation_id() is None
    for n in range(2):
        await store.record_evaluation(
            run_id=f"r{n}",
            evaluated_at=T0,
            local_date="2026-10-06",
            config_version=1,
            markets_considered=0,
            signals=[],
            intents=[],
        )
    latest = await store.latest_evaluation()
    assert latest is not None and await store.latest_evaluation_id() == latest[0].evaluation_id == 2
