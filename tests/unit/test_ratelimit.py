"""WindowLimiter: at most N starts in any window, bursts up to N, cancelled waiters step aside."""

from __future__ import annotations

import asyncio

import pytest

from prescientd.polymarket.ratelimit import WindowLimiter


async def start_times(limiter: WindowLimiter, n: int) -> list[float]:
    """Loop times at which n concurrent acquirers were let through, in completion order."""
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(loop.time())

    await asyncio.gather(*(one() for _ in range(n)))
    return times


async def test_no_window_holds_more_than_the_budget() -> None:
    """Any window of window_s seconds contains at most max_requests starts."""
    limiter = WindowLimiter(5, 0.2)
    times = await start_times(limiter, 17)
    assert len(times) == 17
    for i, first in enumerate(times):
        inside = [t for t in times[i:] if t < first + limiter.window_s - 1e-3]
        assert len(inside) <= 5


async def test_burst_up_to_the_budget_goes_at_once() -> None:
    """max_requests acquisitions on an idle limiter do not wait."""
    limiter = WindowLimiter(50, 10.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    times = await start_times(limiter, 50)
    assert max(times) - start < 0.05


async def test_next_request_waits_for_the_oldest_to_leave() -> None:
    """The (N+1)th acquisition starts one window after the first, not earlier."""
    limiter = WindowLimiter(3, 0.3)
    times = await start_times(limiter, 4)
    assert times[3] - times[0] >= 0.3 - 1e-3
    assert times[3] - times[0] < 0.3 + 0.15


async def test_cancelled_waiter_frees_its_turn() -> None:
    """A waiter cancelled while queued does not block the ones behind it."""
    limiter = WindowLimiter(1, 0.2)
    await limiter.acquire()
    blocked = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    loop = asyncio.get_running_loop()
    start = loop.time()
    await limiter.acquire()
    assert loop.time() - start < 0.3


@pytest.mark.parametrize(("max_requests", "window_s"), [(0, 10.0), (5, 0.0), (5, -1.0)])
def test_invalid_limits_rejected(max_requests: int, window_s: float) -> None:
    """A zero budget or a non-positive window is a ValueError."""
    with pytest.raises(ValueError, match="max_requests"):
        WindowLimiter(max_requests, window_s)
