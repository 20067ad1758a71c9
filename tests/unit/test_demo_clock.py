"""The demo's clock file: `status` on a demo's data tells time by the demo's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import FakeClock
from prescientd.clock import AcceleratedClock
from prescientd.demo import CLOCK_FILE, demo_now, write_clock_file

REAL = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
SIM_START = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


def demo_clock(real_elapsed_s: float) -> AcceleratedClock:
    """A 5000x clock whose base has run real_elapsed_s."""
    base = FakeClock(REAL)
    clock = AcceleratedClock(5000.0, SIM_START, base=base)
    base.advance(real_elapsed_s)
    return clock


def test_a_running_demo_runs_on_while_status_reads_it(tmp_path: Path) -> None:
    """10 real seconds after the file was written, the demo's time is 50,000 s further on."""
    clock = demo_clock(60.0)
    written_at = REAL + timedelta(seconds=60)
    write_clock_file(tmp_path, clock, stopped=False, real_now=written_at)
    assert clock.now() == SIM_START + timedelta(seconds=300_000)
    later = demo_now(tmp_path, written_at + timedelta(seconds=10))
    assert later == clock.now() + timedelta(seconds=50_000)


def test_a_stopped_demo_stands_at_the_moment_it_stopped(tmp_path: Path) -> None:
    """However much later status runs, the stopped demo's time is its stop."""
    clock = demo_clock(120.0)
    write_clock_file(tmp_path, clock, stopped=True, real_now=REAL + timedelta(seconds=120))
    assert demo_now(tmp_path, REAL + timedelta(days=3)) == SIM_START + timedelta(seconds=600_000)


@pytest.mark.parametrize(
    "text",
    [None, "", "not json", '{"speed": 5000}', '{"speed": "x", "clock_at": 1, "real_at": 2}'],
)
def test_no_or_a_bad_clock_file_means_the_real_clock(tmp_path: Path, text: str | None) -> None:
    """A real data directory (no file) or an unreadable file: None, status uses real time."""
    if text is not None:
        (tmp_path / CLOCK_FILE).write_text(text)
    assert demo_now(tmp_path, REAL) is None
