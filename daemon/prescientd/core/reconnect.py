"""When to reconnect: capped full-jitter backoff and a failure circuit (pure; time is passed in).

A stream that keeps failing to connect is worse than none: every attempt costs a TLS handshake and
its books are never fresh. After `failures` failed connects within `window_s` the circuit opens and
the daemon runs poll-only for `open_s`; then the stream is tried again (one failure re-opens it).
"""

from __future__ import annotations

import random
from collections import deque


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full jitter: uniform(0, min(max_s, base_s * 2**attempt)) seconds before attempt+1."""
    # 2**attempt overflows a float past ~1000; the cap is reached long before.
    ceiling = max_s if attempt >= 64 else min(max_s, base_s * 2.0**attempt)
    return rng.uniform(0.0, ceiling)


class Circuit:
    """Failed connects in a sliding window; open = do not connect until `open_until`."""

    def __init__(self, *, failures: int, window_s: float, open_s: float) -> None:
        if failures < 1 or window_s <= 0 or open_s <= 0:
            raise ValueError("failures >= 1, window_s > 0 and open_s > 0 are required")
        self._failures = failures
        self._window_s = window_s
        self._open_s = open_s
        self._recent: deque[float] = deque(maxlen=failures)
        self.open_until = float("-inf")
        self.opens = 0
        # After the circuit has been open, one more failure opens it again (half-open).
        self._half_open = False

    def is_open(self, now: float) -> bool:
        """True while connecting is suspended."""
        return now < self.open_until

    def remaining_s(self, now: float) -> float:
        """Seconds until the circuit closes again (0 when closed)."""
        return max(0.0, self.open_until - now)

    def record_failure(self, now: float) -> bool:
        """Count a failed connect at `now`; True when this failure opened the circuit."""
        if self.is_open(now):
            return False
        self._recent.append(now)
        full = len(self._recent) == self._failures and now - self._recent[0] <= self._window_s
        if not (full or self._half_open):
            return False
        self.open_until = now + self._open_s
        self.opens += 1
        self._half_open = True
        self._recent.clear()
        return True

    def record_success(self) -> None:
        """A connection proved healthy: forget past failures."""
        self._recent.clear()
        self._half_open = False
