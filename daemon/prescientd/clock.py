"""Time: an injectable clock and the one ISO-8601 UTC format used in storage and mirrors.

Every duration the daemon's schedule works with (poll interval, job retry, debounce, staleness)
is in *clock seconds*: seconds on the injected clock. The real clock's seconds are real ones;
the demo's accelerated clock runs `rate` times faster, so before it sleeps the daemon converts a
clock duration to the real seconds it must wait (`Clock.real_seconds`). HTTP timeouts, retries
and the WebSocket stream are real time whatever the clock.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Wall-clock and monotonic time; tests inject a fake, the demo an accelerated one."""

    def now(self) -> datetime:
        """The current aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def real_seconds(self, clock_s: float) -> float:
        """How many real seconds pass while this clock advances clock_s (for sleeping)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current aware UTC datetime."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def real_seconds(self, clock_s: float) -> float:
        """A real second is a real second."""
        return clock_s


class AcceleratedClock:
    """A clock that runs `rate` times faster than `base` from `start`: `prescientd demo` only.

    Both times advance from the base clock's monotonic time, so a step of the base wall clock
    (NTP, an operator) never moves it; `now()` starts at `start` (default: the base's now).
    """

    def __init__(
        self, rate: float, start: datetime | None = None, *, base: Clock | None = None
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._base: Clock = base if base is not None else SystemClock()
        self.start = (start if start is not None else self._base.now()).astimezone(UTC)
        self._origin_s = self._base.monotonic()

    def elapsed_s(self) -> float:
        """Clock seconds since start."""
        return (self._base.monotonic() - self._origin_s) * self.rate

    def now(self) -> datetime:
        """start plus rate times the real time elapsed since the clock was made."""
        return self.start + timedelta(seconds=self.elapsed_s())

    def monotonic(self) -> float:
        """Clock seconds since the clock was made (never backwards)."""
        return self.elapsed_s()

    def real_seconds(self, clock_s: float) -> float:
        """clock_s / rate."""
        return clock_s / self.rate


def clock_seconds(clock: Clock, real_s: float) -> float:
    """How many clock seconds pass in real_s real seconds (the inverse of real_seconds)."""
    return real_s / clock.real_seconds(1.0)


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with microseconds and a Z suffix."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso_utc(text: str) -> datetime:
    """Parse a timestamp written by iso_utc (or any ISO-8601 string with an offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar date of moment in tz."""
    return moment.astimezone(tz).date()
