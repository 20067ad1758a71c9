"""An empty, missing or damaged database beside existing history: every command refuses with one
line and touches nothing; the README's restore procedure brings the installation back."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.conftest import Setup, SimProcess, read_json

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(db: Path) -> list[Path]:
    """-wal/-shm files beside the database."""
    return [p for p in (Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 1 with exactly one line on stderr naming the problem; no traceback anywhere."""
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert all(f in lines[0] for f in fragments), lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def backup(db: Path, target: Path) -> None:
    """What `sqlite3 DB ".backup TARGET"` does: SQLite's online backup."""
    source, copy = sqlite3.connect(db), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def damage(db: Path) -> None:
    """Overwrite the trades table's root page with garbage (quick_check finds it)."""
    conn = sqlite3.connect(db)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trades'").fetchone()
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with db.open("r+b") as handle:
        handle.seek((root - 1) * size)
        handle.write(random.Random(3).randbytes(size))


@pytest.mark.timeout(120)
def test_damaged_empty_or_missing_database_beside_history(
    sim: SimProcess, setup_factory: Callable[..., Setup]
) -> None:
    """0 bytes, deleted, one garbage page: refused by once/run/status/export; restore works."""
    setup = setup_factory(sim.url)
    made = setup.cli("once", "cycle")
    assert made.returncode == 0, made.stderr
    db, mirror = setup.db_path, setup.data_dir / "trades/paper_trades.json"
    entries = read_json(mirror)
    assert entries, "no paper trade to protect: the test exercised nothing"
    saved = setup.root / "backup.db"
    backup(db, saved)
    history = digest(mirror)

    # an empty database (a failed copy, a truncation)
    db.write_bytes(b"")
    refused(setup.cli("once", "poll"), "is empty (0 bytes)", "holds history", "backup")
    refused(setup.cli("status"), "is empty (0 bytes)")
    refused(setup.cli("export"), "is empty (0 bytes)")
    assert db.stat().st_size == 0 and sidecars(db) == [] and digest(mirror) == history

    # a deleted database
    db.unlink()
    refused(setup.cli("once", "poll"), "does not exist", "holds history")
    refused(setup.cli("run", timeout_s=30), "does not exist", "holds history")
    assert not db.exists() and digest(mirror) == history

    # one garbage page
    shutil.copyfile(saved, db)
    damage(db)
    damaged = digest(db)
    refused(setup.cli("once", "poll"), "is damaged", "integrity check failed")
    refused(setup.cli("export"), "is damaged")
    assert digest(db) == damaged and sidecars(db) == [] and digest(mirror) == history

    # README, How to restore from backup: put the backup in place while stopped, start again
    db.unlink()
    shell = shutil.which("sqlite3")
    if shell is not None:
        subprocess.run([shell, str(saved), f".backup '{db}'"], check=True, timeout=30)
    else:  # no sqlite3 command-line shell on this machine: the same online-backup API
        backup(saved, db)
    again = setup.cli("once", "poll")
    assert again.returncode == 0, again.stderr
    assert read_json(mirror)[: len(entries)] == entries
