"""Reconnect policy: capped full-jitter backoff and the failure circuit (time passed in)."""

from __future__ import annotations

import random

import pytest

from prescientd.core.reconnect import Circuit, backoff_delay


class Extremes(random.Random):
    """A generator whose uniform() returns its upper bound, to read the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (10, 30.0), (5000, 30.0)],
)
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    """The jitter range is [0, min(max, base * 2^attempt)], even for huge attempt numbers."""
    assert backoff_delay(attempt, 0.5, 30.0, Extremes()) == ceiling


def test_backoff_is_jittered_within_the_range() -> None:
    """Delays are spread over the whole range, never above the ceiling."""
    rng = random.Random(7)
    delays = [backoff_delay(3, 0.5, 30.0, rng) for _ in range(500)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 3.5


@pytest.mark.parametrize(
    ("failures_at", "opens_at"),
    [
        ([0, 1, 2], 2),  # three within the window
        ([0, 50, 100], 100),  # the window is inclusive
        ([0, 50, 101], None),  # the first one has left the window
        ([0, 101, 150, 160], 160),  # the window slides
        ([0, 1], None),
    ],
)
def test_circuit_opens_after_n_failures_within_the_window(
    failures_at: list[float], opens_at: float | None
) -> None:
    """N failed connects within window_s open the circuit for open_s."""
    circuit = Circuit(failures=3, window_s=100, open_s=300)
    opened = [t for t in failures_at if circuit.record_failure(t)]
    assert opened == ([] if opens_at is None else [opens_at])
    if opens_at is not None:
        assert circuit.is_open(opens_at + 299.9) and not circuit.is_open(opens_at + 300)
        assert circuit.remaining_s(opens_at + 100) == pytest.approx(200)


def test_after_opening_one_failure_reopens_and_a_success_closes_for_good() -> None:
    """Half-open: a single failure after the pause reopens; a healthy session resets it."""
    circuit = Circuit(failures=3, window_s=10, open_s=60)
    for t in (0, 1, 2):
        circuit.record_failure(t)
    assert circuit.opens == 1
    assert not circuit.record_failure(30)  # failures while open are not counted
    assert circuit.record_failure(62) and circuit.opens == 2
    circuit.record_success()
    assert not circuit.record_failure(200) and not circuit.record_failure(201)
    assert circuit.record_failure(202)


@pytest.mark.parametrize(("failures", "window", "open_s"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_circuit_refuses_nonsense_settings(failures: int, window: float, open_s: float) -> None:
    """A circuit needs at least one failure, a window and a pause."""
    with pytest.raises(ValueError):
        Circuit(failures=failures, window_s=window, open_s=open_s)
