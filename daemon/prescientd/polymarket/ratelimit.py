"""A sliding-window request limiter: at most N request starts in any window of W seconds.

Polymarket documents its limits as N requests per 10 s, enforced over sliding windows (section 5
of docs/polymarket-api.md). A leaky bucket of N per 10 s (aiolimiter's AsyncLimiter, used before)
lets a full bucket's burst of N through and then drains N per 10 s, so a busy 10 s window could
see 2N; this limiter never lets more than N start in any window of W seconds, and lets a burst of
up to N through at once (a whole poll's POST /books batches, when they fit).
"""

from __future__ import annotations

import asyncio
from collections import deque


class WindowLimiter:
    """At most `max_requests` acquisitions in any `window_s`; waiters are served in order."""

    def __init__(self, max_requests: int, window_s: float) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("max_requests must be >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = window_s
        self._starts: deque[float] = deque()
        self._turn = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request may start without exceeding the window, and count it."""
        async with self._turn:
            loop = asyncio.get_running_loop()
            starts = self._starts
            while True:
                now = loop.time()
                while starts and starts[0] <= now - self.window_s:
                    starts.popleft()
                if len(starts) < self.max_requests:
                    starts.append(now)
                    return
                await asyncio.sleep(starts[0] + self.window_s - now)
