"""The store reads the web layer pages with, on a real SQLite file: each equals the full reads."""

from __future__ import annotations

from dataclasses import replace
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


async def _two_strategies(store: Store) -> None:
    """The default strategy's ledger of _ledger, and a variant's trades and a settlement between
    (one seq order across both, as the daemon writes them)."""
    await store.ensure_deposits({"contrarian60": Decimal(5000)}, T0)
    for n in range(4):
        intent = make_intent(f"v{n}", market_id=str(n), token_id=f"t{n}", fee="0.5")
        await store.record_trades([replace(intent, strategy="contrarian60")], T0)
        if n == 0:
            await _ledger(store)
        if n == 2:
            settle = SettlementIntent(
                "vs2",
                "2",
                "t2",
                "No",
                Decimal(100),
                Decimal(0),
                Decimal(0),
                Decimal("40.5"),
                Decimal("-40.5"),
                "Yes won",
                strategy="contrarian60",
            )
            await store.record_settlements([settle], T0)


@pytest.mark.parametrize("strategy", ["default", "contrarian60"])
@pytest.mark.parametrize("kinds", [("trade", "settlement"), ("trade",), ("settlement",)])
@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (2, 1), (3, 2), (100, 0), (4, 99)])
async def test_ledger_page_of_one_strategy_is_a_slice_of_its_ledger(
    store: Store,
    strategy: str,
    kinds: tuple[str, ...],
    newest_first: bool,
    limit: int,
    offset: int,
) -> None:
    """With a strategy, a page holds exactly that slice of the strategy's own entries (its
    total counts only them), whatever the other strategy wrote between them."""
    await _two_strategies(store)
    trades, settlements = await store.ledger(strategy=strategy)
    entries: list[tuple[int, str]] = [(t.seq, "trade") for t in trades if "trade" in kinds]
    entries += [(s.seq, "settlement") for s in settlements if "settlement" in kinds]
    entries.sort(reverse=newest_first)
    page = await store.ledger_page(
        kinds, limit=limit, offset=offset, newest_first=newest_first, strategy=strategy
    )
    got = sorted(
        [(t.seq, "trade") for t in page.trades] + [(s.seq, "settlement") for s in page.settlements],
        reverse=newest_first,
    )
    assert got == entries[offset : offset + limit]
    assert page.total == len(entries)
    assert {t.strategy for t in page.trades} | {s.strategy for s in page.settlements} <= {strategy}
    everyone = await store.ledger_page(kinds, limit=1000, offset=0, newest_first=False)
    assert everyone.total > page.total  # the other strategy's entries are left out


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


async def test_poll_valuations_of_each_strategy(store: Store) -> None:
    """The default account's equity is read from the top level of a poll's counts, a variant's
    from `strategy_equity.NAME` (a poll from before it existed lists it with None), and a name
    that is not a strategy's reads nothing."""
    runs: list[dict[str, Any]] = [
        {"equity_usd": "10000", "cash_usd": "10000"},
        {
            "equity_usd": "10010.5",
            "cash_usd": "9000",
            "strategies": {"default": {"signals": 3}, "contrarian60": {"signals": 3}},
            "strategy_equity": {
                "contrarian60": {"equity_usd": "4990.25", "cash_usd": "4800"},
                "cheap-yes": {"equity_usd": "700", "cash_usd": "650.5"},
            },
        },
    ]
    for n, counts in enumerate(runs):
        moment = T0 + timedelta(minutes=n)
        await store.record_job_run(
            JobOutcome(f"r{n}", "poll", "2026-10-06", moment, moment, True, 1, counts, None)
        )

    async def figures(strategy: str) -> list[tuple[Decimal | None, Decimal | None]]:
        return [(v.equity_usd, v.cash_usd) for v in await store.poll_valuations(0, 10, strategy)]

    assert await figures("default") == [
        (Decimal(10000), Decimal(10000)),
        (Decimal("10010.5"), Decimal(9000)),
    ]
    assert await figures("contrarian60") == [(None, None), (Decimal("4990.25"), Decimal(4800))]
    assert await figures("cheap-yes") == [(None, None), (Decimal(700), Decimal("650.5"))]
    assert await figures("nobody") == [(None, None), (None, None)]
    assert await store.poll_valuations(0, 10, 'x"y') == []


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
