"""One writer per database: a second `prescientd` with another data_dir but the same db_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.conftest import DaemonProcess, Setup

DOWN = "http://127.0.0.1:9"  # nothing listens: the daemon keeps retrying its first morning


@pytest.mark.e2e
def test_second_writer_with_another_data_dir_is_refused(
    tmp_path: Path,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """While `run` uses data A with db X, `once` with data B and db X exits 1 naming the pid."""
    first = setup_factory(DOWN, name="a", polymarket={"max_attempts": 1})
    db = first.db_path
    second = setup_factory(
        DOWN,
        name="b",
        polymarket={"max_attempts": 1},
        paths={"data_dir": tmp_path / "b" / "data", "db_path": db},
    )
    daemon = daemon_factory(first)
    daemon.wait_for("started", 30)
    refused = second.cli("once", "evening")
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f"another prescientd (pid {daemon.pid})" in lines[0], lines
    assert str(db) in lines[0]
    assert not (tmp_path / "b" / "data" / "trades").exists()  # nothing was written for B
    code, _ = daemon.terminate_and_wait()
    assert code == 0, daemon.stderr_path.read_text()
