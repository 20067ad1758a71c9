"""The morning's streaming filter (core/filters.EligibleCollector): page by page, memory bounded by
max_markets, and the same result as judging every event at once and sorting at the end."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conftest import make_market
from prescientd.config import FiltersConfig
from prescientd.core.filters import EligibleCollector, FilterResult, id_key, judge_market
from prescientd.models import Event, Market

NOW = datetime(2026, 10, 6, 12, 0, tzinfo=UTC)


def universe(seed: int, n_events: int) -> list[Event]:
    """Events with 0-4 markets: volume ties, a few repeated ids, some ineligible markets."""
    rng = random.Random(seed)
    events = []
    for e in range(n_events):
        markets = []
        for _ in range(rng.randint(0, 4)):
            market_id = str(rng.randint(1, n_events * 3))  # repeats happen
            markets.append(
                make_market(
                    market_id,
                    event_id=str(e),
                    volume_24h_usd=Decimal(rng.choice([0, 5, 5, 10, 250, 1000])),
                    closed=rng.random() < 0.1,
                    end_date=NOW + timedelta(days=rng.choice([-1, 10, 30])),
                )
            )
        events.append(
            Event(
                event_id=str(e),
                slug=f"e{e}",
                title=f"Event {e}",
                tags=("politics",),
                active=True,
                closed=False,
                end_date=NOW + timedelta(days=30),
                liquidity_usd=Decimal(0),
                volume_usd=Decimal(0),
                volume_24h_usd=Decimal(0),
                neg_risk=False,
                markets=tuple(markets),
            )
        )
    return events


def reference(events: list[Event], cfg: FiltersConfig) -> FilterResult:
    """Judge everything, then keep the max_markets best by 24 h volume, then id, then arrival."""
    seen: set[str] = set()
    rejections: Counter[str] = Counter()
    eligible: list[tuple[int, Market]] = []
    for index, event in enumerate(events):
        for market in event.markets:
            reason = (
                "duplicate" if market.market_id in seen else judge_market(market, event, cfg, NOW)
            )
            seen.add(market.market_id)
            if reason is None:
                eligible.append((index, market))
            else:
                rejections[reason] += 1
    ranked = sorted(
        enumerate(eligible),
        key=lambda p: (-p[1][1].volume_24h_usd, id_key(p[1][1].market_id), p[0]),
    )
    if len(ranked) > cfg.max_markets:
        rejections["over_max_markets"] += len(ranked) - cfg.max_markets
    kept = sorted(ranked[: cfg.max_markets])  # back to arrival order
    by_event: dict[int, list[Market]] = {}
    for _, (index, market) in kept:
        by_event.setdefault(index, []).append(market)
    out = [dataclasses.replace(events[i], markets=tuple(ms)) for i, ms in sorted(by_event.items())]
    pairs = tuple((e, m) for e in out for m in e.markets)
    return FilterResult(tuple(out), pairs, dict(sorted(rejections.items())))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("max_markets", [1, 7, 40, 10_000])
@pytest.mark.parametrize("page", [1, 3, 100, 10_000])
def test_pages_give_the_same_result_as_one_pass(seed: int, max_markets: int, page: int) -> None:
    """However the events are paged and however often candidates are pruned, same result."""
    events = universe(seed, 300)
    cfg = FiltersConfig(
        min_liquidity_usd=Decimal(0), min_volume_24h_usd=Decimal(5), max_markets=max_markets
    )
    collector = EligibleCollector(cfg, NOW)
    for start in range(0, len(events), page):
        collector.add(events[start : start + page])
        assert len(collector._eligible) <= 2 * max_markets  # bounded by the cap, not the pages
    assert collector.result() == reference(events, cfg)


def test_events_without_kept_markets_are_not_held() -> None:
    """An event whose markets were all pruned is dropped, not kept as an empty shell."""
    events = universe(4, 200)
    cfg = FiltersConfig(min_liquidity_usd=Decimal(0), max_markets=3)
    collector = EligibleCollector(cfg, NOW)
    for event in events:
        collector.add([event])
    alive = {index for _, index, _ in collector._eligible}
    assert set(collector._events) == alive and len(alive) <= 6
    assert all(not e.markets for e in collector._events.values())  # shells: markets dropped
