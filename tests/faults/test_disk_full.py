"""The data and log directories on a small tmpfs that fills up while the daemon runs: polls fail
cleanly, no file is left partial, every log line is whole, and the daemon recovers by itself."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess, integrity_check, temp_files

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

TMPFS_SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of TMPFS_SIZE (needs root and mount(8)); skipped where it cannot be made."""
    volume = tmp_path / "volume"
    volume.mkdir()
    if os.geteuid() != 0:
        pytest.skip("the disk-full test mounts a small tmpfs, which needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(volume)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


def fill(volume: Path) -> Path:
    """Write a filler file until the volume is full; returns it."""
    filler = volume / "filler"
    chunk = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, chunk) == len(chunk):
            pass
    except OSError:
        pass  # ENOSPC: full
    finally:
        os.close(fd)
    return filler


def whole_json_lines(path: Path) -> list[dict[str, object]]:
    """Every line of a JSON-lines file, each of which must parse on its own."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.timeout(90)
def test_disk_full_fails_cleanly_and_recovers(
    small_disk: Path,
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """Full disk: a poll fails in one line, files stay whole, the next polls succeed again."""
    data, logs = small_disk / "data", small_disk / "logs"
    setup = setup_factory(
        sim.url,
        paths={"data_dir": data, "logs_dir": logs, "db_path": data / "prescient.db"},
        schedule={"poll_interval_s": 1},
    )
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, job="poll", outcome="ok")

    filler = fill(small_disk)
    failed = daemon.wait_for("job_finished", 30, job="poll", outcome="failed")
    assert "\n" not in str(failed["error"])
    filler.unlink()
    later = len(daemon.events("job_finished", job="poll"))
    daemon.wait_for("job_finished", 30, count=later + 1, job="poll", outcome="ok")
    code, _ = daemon.terminate_and_wait()
    assert code == 0, daemon.stderr_path.read_text()

    stdout = whole_json_lines(daemon.stdout_path)  # no line cut in half, no traceback line
    assert not [e for e in stdout if e["event"] in ("loop_crashed", "job_crashed")]
    for entry in stdout:
        if entry["event"] == "job_run_not_recorded":
            assert "exception" not in entry and "\n" not in str(entry["error"])
    for log_file in logs.glob("trading_log_*.txt"):
        whole_json_lines(log_file)
    for mirror in data.rglob("*.json"):
        json.loads(mirror.read_bytes())
    assert temp_files(data) == []
    assert integrity_check(data / "prescient.db") == "ok"
