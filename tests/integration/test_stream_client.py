"""The market-channel client against the simulator over loopback: books equal REST, faults heal."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from prescientd.config import StreamConfig
from prescientd.models import Book
from prescientd.polymarket.clob import parse_book
from prescientd.polymarket.stream import MarketStream
from prescientd.sim import RunningSim, SimMarket, running_simulator

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
STEP_S = 5.0


@dataclass
class FakeClock:
    """The simulator's settable clock: prices move only when a test says so."""

    t: float = NOW.timestamp() + 1.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[RunningSim]:
    async with running_simulator(
        seed=11, n_events=80, clock=clock, now=NOW, price_step_s=STEP_S
    ) as running:
        yield running


def fast(sim: RunningSim, **overrides: Any) -> StreamConfig:
    """A stream config with sub-second timers, pointed at the simulator."""
    values: dict[str, Any] = {
        "ws_url": "ws" + sim.url.removeprefix("http") + "/ws/market",
        "ping_interval_s": 0.1,
        "silence_limit_s": 0.5,
        "debounce_ms": 20,
        "connect_timeout_s": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "resync_interval_s": 0.1,
        "circuit_failures": 50,
        "circuit_window_s": 10,
        "circuit_open_s": 0.6,
    }
    values.update(overrides)
    return StreamConfig(**values)


def markets(sim: RunningSim, n: int) -> list[SimMarket]:
    """Tradable binary markets whose prices move with the clock."""
    found = [m for m in sim.state.universe.markets if m.tradable and any(p.moves for p in m.prices)]
    assert len(found) >= n
    return found[:n]


def groups(chosen: Sequence[SimMarket]) -> list[tuple[str, ...]]:
    return [m.token_ids for m in chosen]


@asynccontextmanager
async def streaming(
    config: StreamConfig, watch: list[tuple[str, ...]], **kwargs: Any
) -> AsyncIterator[MarketStream]:
    """A running MarketStream watching `watch`; stopped (and checked to stop) on exit."""
    async with aiohttp.ClientSession() as session:
        stream = MarketStream(session, config, **kwargs)
        stream.set_watch(watch)
        stop = asyncio.Event()
        task = asyncio.create_task(stream.run(stop))
        try:
            yield stream
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll predicate every 10 ms; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


def rest_book(sim: RunningSim, token: str) -> Book:
    """The simulator's REST book (the body GET /book serves), parsed like a poll parses it."""
    body = sim.state.book_bytes(token)
    assert body is not None
    # live book frames carry neither min_order_size nor neg_risk: the poll has them
    return replace(parse_book(json.loads(body)), min_order_size=None, neg_risk=False)


def all_equal_rest(stream: MarketStream, sim: RunningSim, tokens: Sequence[str]) -> bool:
    return all(stream.book(t) == rest_book(sim, t) for t in tokens)


def tokens_of(chosen: Sequence[SimMarket]) -> list[str]:
    return [t for m in chosen for t in m.token_ids]


async def test_local_books_equal_the_rest_books_through_price_steps(
    sim: RunningSim, clock: FakeClock
) -> None:
    """Snapshots, then deltas at each price step: every local book equals the REST book."""
    chosen = markets(sim, 4)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        for _ in range(3):
            before = {t: rest_book(sim, t).hash for t in tokens}
            clock.t += STEP_S
            assert any(rest_book(sim, t).hash != before[t] for t in tokens)
            await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert stream.stats.deltas > 0 and stream.stats.disconnects == 0
        status = stream.status()
        assert (status.watched, status.trusted, status.stale) == (8, 8, 0)
        assert not status.poll_only


async def test_a_move_is_noticed_once_per_burst(sim: RunningSim) -> None:
    """Two moves within the debounce window come back as one notice naming both markets."""
    a, b, c = markets(sim, 3)
    async with streaming(fast(sim, debounce_ms=150), groups([a, b, c])) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens_of([a, b, c])))
        await stream.next_changes(timeout_s=0.01)  # drop the snapshots' notices
        sim.state.move(a.id, Decimal("0.93"))
        waiter = asyncio.create_task(stream.next_changes(timeout_s=2))
        await asyncio.sleep(0.05)
        sim.state.move(b.id, Decimal("0.07"))
        changes = await waiter
        assert changes.tokens >= {*a.token_ids, *b.token_ids}
        assert not changes.tokens & set(c.token_ids)
        book = stream.book(a.token_ids[0])
        assert book == rest_book(sim, a.token_ids[0])
        assert book is not None and book.bids[0].price > Decimal("0.85")
        assert not await stream.next_changes(timeout_s=0.1)


async def test_tokens_spread_over_connections_and_change_without_reconnecting(
    sim: RunningSim,
) -> None:
    """4 tokens a connection: a market's pair shares one; watch changes reuse live sockets."""
    chosen = markets(sim, 7)
    first, later = chosen[:5], chosen[5:]
    async with streaming(fast(sim, assets_per_connection=4), groups(first)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens_of(first)))
        assignment = stream.assignment()
        assert sorted(len(a) for a in assignment) == [2, 4, 4]
        for m in first:
            assert any(set(m.token_ids) <= a for a in assignment)
        assert sim.state.ws_stats.connections_open == 3
        connects = stream.stats.connects
        stream.set_watch(groups([*first[1:], *later]))
        await wait_until(lambda: all_equal_rest(stream, sim, tokens_of([*first[1:], *later])))
        assert stream.book(first[0].token_ids[0]) is None
        assert stream.stats.connects == connects  # subscribe/unsubscribe on the live sockets
        assert sim.state.ws_stats.connections_open == 3
        stream.set_watch([])
        await wait_until(lambda: sim.state.ws_stats.connections_open == 0)
        assert stream.assignment() == ()


async def test_a_dropped_connection_stays_stale_until_a_fresh_snapshot(
    sim: RunningSim, clock: FakeClock
) -> None:
    """After a drop the books are stale while reconnecting fails, and equal REST once back."""
    chosen = markets(sim, 2)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        snapshots = stream.stats.snapshots
        sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
        sim.state.set_faults({"ws_drop": 1})
        await wait_until(lambda: stream.stats.disconnects == 1)
        await wait_until(lambda: stream.stats.connect_failures >= 2)
        assert all(stream.book(t) is None for t in tokens)
        clock.t += STEP_S  # the market moves while we are away
        sim.state.clear_faults()
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert stream.stats.snapshots >= snapshots + len(tokens)
        assert stream.stats.connects == 2


async def test_silence_marks_books_stale_and_a_new_connection_heals_them(
    sim: RunningSim,
) -> None:
    """No frame (no PONG) for silence_limit_s: books unusable at once, reconnect, recovered."""
    chosen = markets(sim, 2)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        # reconnecting is refused for now, so the stale window can be observed
        sim.state.set_faults(
            {
                "ws_silence": {"count": 1, "delay_s": 3.0},
                "reset": {"count": None, "path_prefix": "/ws/market"},
            }
        )
        await wait_until(lambda: stream.stats.silences == 1, timeout_s=2)
        assert all(stream.book(t) is None for t in tokens)
        sim.state.clear_faults()
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert stream.stats.connects == 2


async def test_a_silent_connection_serves_no_book_even_before_the_keeper_notices(
    sim: RunningSim,
) -> None:
    """book() checks the silence itself: past the limit on the injected clock it returns None."""
    chosen = markets(sim, 1)
    tokens = tokens_of(chosen)
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    async with streaming(
        fast(sim, ping_interval_s=5, silence_limit_s=10), groups(chosen), clock=clock
    ) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        offset[0] += 10.5  # no await in between: the keeper cannot have run
        assert all(stream.book(t) is None for t in tokens)
        assert stream.status().stale == len(tokens)


async def test_a_malformed_entry_stales_its_token_until_a_resync_snapshot(
    sim: RunningSim,
) -> None:
    """A NaN price for one token: that book stale, re-requested on the same socket, healed."""
    chosen = markets(sim, 2)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        sim.state.set_faults({"ws_malformed": 1})
        sim.state.move(chosen[0].id, Decimal("0.80"))
        await wait_until(lambda: stream.stats.malformed == 1 and stream.stats.resyncs >= 1)
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert stream.stats.stale_marks >= 1
        assert stream.stats.disconnects == 0


async def test_garbage_reconnects_and_unknown_assets_are_ignored(sim: RunningSim) -> None:
    """A frame that is not JSON costs a reconnect; frames for unknown tokens cost nothing."""
    chosen = markets(sim, 1)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        sim.state.set_faults({"ws_unknown_asset": 1})
        await wait_until(lambda: stream.stats.ignored >= 2)
        assert stream.stats.disconnects == 0 and all_equal_rest(stream, sim, tokens)
        sim.state.set_faults({"ws_garbage": 1})
        await wait_until(lambda: stream.stats.disconnects == 1)
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert stream.stats.malformed == 1


async def test_failing_connects_open_the_circuit_to_poll_only_then_recover(
    sim: RunningSim,
) -> None:
    """3 failed connects within the window: poll-only for circuit_open_s, then streaming again."""
    chosen = markets(sim, 1)
    tokens = tokens_of(chosen)
    sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
    config = fast(sim, circuit_failures=3, circuit_open_s=0.6)
    async with streaming(config, groups(chosen)) as stream:
        await wait_until(lambda: stream.stats.circuit_opens == 1)
        assert stream.poll_only and stream.book(tokens[0]) is None
        failures = stream.stats.connect_failures
        await asyncio.sleep(0.3)
        assert stream.stats.connect_failures == failures  # no attempts while open
        sim.state.clear_faults()
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
        assert not stream.poll_only


async def test_backoff_uses_the_injected_sleep_and_grows(sim: RunningSim) -> None:
    """Reconnect delays come from the injected sleep: full jitter under a doubling ceiling."""
    sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    config = fast(sim, backoff_base_s=1.0, backoff_max_s=8.0)
    chosen = markets(sim, 1)
    async with streaming(config, groups(chosen), sleep=sleep, rng=random.Random(3)) as stream:
        await wait_until(lambda: len(delays) >= 6)
        assert stream.stats.connect_failures >= 6
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=False))
    assert max(delays[3:6]) > 1.0  # the range did grow


async def test_stop_ends_promptly_and_leaves_no_trusted_book(sim: RunningSim) -> None:
    """Setting stop ends run() within a second; afterwards no book is served."""
    chosen = markets(sim, 1)
    tokens = tokens_of(chosen)
    async with streaming(fast(sim), groups(chosen)) as stream:
        await wait_until(lambda: all_equal_rest(stream, sim, tokens))
    assert all(stream.book(t) is None for t in tokens)
    assert stream.poll_only
    await wait_until(lambda: sim.state.ws_stats.connections_open == 0)
