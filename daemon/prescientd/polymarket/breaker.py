"""Consecutive-failure circuit breakers, one per route class of a host.

A route class is a path's first segment (`/books` -> `books`, `/markets/123` -> `markets`). Each
class has its own budget, so failing settlement look-ups (`/markets/...`) cannot open the breaker
that price polling (`/books`) needs: a breaker opens after `threshold` consecutive failed
requests of its class, fails that class fast for `cooldown_s`, then lets one probe through
(half-open); the probe's success closes it, its failure reopens it.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def route_class(path: str) -> str:
    """The breaker budget a path counts against: its first segment (`/books` -> `books`)."""
    return path.lstrip("/").split("/", 1)[0].split("?", 1)[0] or "/"


class Breaker:
    """The breaker of one route class."""

    def __init__(self, route: str, host: str, threshold: int, cooldown_s: float) -> None:
        self.route = route
        self.host = host
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until: float | None = None
        self.probe_in_flight = False

    def is_open(self, now: float) -> bool:
        """True while requests fail fast (open, or half-open with the probe out)."""
        if self.open_until is None:
            return False
        return now < self.open_until or self.probe_in_flight

    def admit(self, now: float) -> tuple[bool, str | None]:
        """(this request is the half-open probe, why it may not be sent or None)."""
        if self.open_until is None:
            return False, None
        remaining_s = self.open_until - now
        if remaining_s > 0:
            return False, (
                f"circuit breaker open for {remaining_s:.1f} s more "
                f"after {self.failures} consecutive failed requests"
            )
        if self.probe_in_flight:
            return False, "circuit breaker half-open, a probe request is in flight"
        self.probe_in_flight = True
        return True, None

    def record(self, now: float, *, failed: bool) -> None:
        """Count one finished request; open, re-open or close the breaker."""
        if not failed:
            if self.open_until is not None:
                log.info("http_breaker_closed", host=self.host, route=self.route)
            self.failures = 0
            self.open_until = None
            return
        self.failures += 1
        if self.open_until is not None or self.failures >= self.threshold:
            self.open_until = now + self.cooldown_s
            log.warning(
                "http_breaker_opened",
                host=self.host,
                route=self.route,
                consecutive_failures=self.failures,
                cooldown_s=self.cooldown_s,
            )


class RouteBreakers:
    """The breakers of one host, created per route class on first use."""

    def __init__(
        self, host: str, threshold: int, cooldown_s: float, clock: Callable[[], float]
    ) -> None:
        self._host = host
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._by_route: dict[str, Breaker] = {}

    def for_path(self, path: str) -> Breaker:
        """The breaker a request to path counts against."""
        route = route_class(path)
        found = self._by_route.get(route)
        if found is None:
            found = Breaker(route, self._host, self._threshold, self._cooldown_s)
            self._by_route[route] = found
        return found

    def is_open(self, route: str | None = None) -> bool:
        """True while one route class (or, without one, any) fails fast."""
        now = self._clock()
        if route is not None:
            breaker = self._by_route.get(route)
            return breaker is not None and breaker.is_open(now)
        return any(b.is_open(now) for b in self._by_route.values())
