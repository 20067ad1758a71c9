"""The clocks: the real one, and the demo's accelerated one driven by a fake base clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import FakeClock
from prescientd.clock import AcceleratedClock, SystemClock, clock_seconds

START = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def test_system_clock_waits_are_real_seconds() -> None:
    """The real clock converts nothing: a clock second is a real second, both ways."""
    clock = SystemClock()
    assert clock.real_seconds(300.0) == 300.0
    assert clock_seconds(clock, 30.0) == 30.0


@pytest.mark.parametrize(
    ("rate", "real_elapsed_s", "clock_elapsed_s"),
    [
        (1.0, 10.0, 10.0),
        (5000.0, 17.28, 86_400.0),  # the demo's default: a day every 17.28 s
        (0.5, 4.0, 2.0),
    ],
)
def test_accelerated_clock_runs_rate_times_faster(
    rate: float, real_elapsed_s: float, clock_elapsed_s: float
) -> None:
    """now() and monotonic() advance rate x the base clock's monotonic time from start."""
    base = FakeClock(start=datetime(2030, 1, 1, tzinfo=UTC), monotonic_s=500.0)
    clock = AcceleratedClock(rate, START, base=base)
    mono0 = clock.monotonic()
    base.advance(real_elapsed_s)
    assert clock.now() == START + timedelta(seconds=clock_elapsed_s)
    assert clock.monotonic() - mono0 == pytest.approx(clock_elapsed_s)
    assert clock.real_seconds(clock_elapsed_s) == pytest.approx(real_elapsed_s)
    assert clock_seconds(clock, real_elapsed_s) == pytest.approx(clock_elapsed_s)


def test_accelerated_clock_ignores_steps_of_the_base_wall_clock() -> None:
    """An NTP step of the real wall clock moves neither of the accelerated clock's times."""
    base = FakeClock(start=START)
    clock = AcceleratedClock(100.0, base=base)
    assert clock.now() == START  # start defaults to the base clock's now
    base.jump(timedelta(hours=-3))
    assert clock.now() == START and clock.monotonic() == 0.0
    base.advance(1.0)
    assert clock.now() == START + timedelta(seconds=100)


@pytest.mark.parametrize("rate", [0.0, -2.0, float("nan")])
def test_accelerated_clock_refuses_a_rate_that_is_not_positive(rate: float) -> None:
    """A zero, negative or NaN rate is a ValueError, not a clock that stands still."""
    with pytest.raises(ValueError, match="rate must be positive"):
        AcceleratedClock(rate)
