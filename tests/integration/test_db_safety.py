"""Start-up safety of the database: no new ledger over history, no use of a damaged file,
append-only mirrors never shrink, one writer per database, and the daemon's own file modes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from conftest import T0, make_intent
from prescientd import runtime
from prescientd.config import Config, parse_config
from prescientd.logs import DailyLogFile
from prescientd.mirrors.build import MirrorBuilder
from prescientd.runtime import AlreadyRunning, open_store
from prescientd.store.db import Store, StoreError

HISTORY: list[dict[str, object]] = [{"seq": n, "kind": "trade", "trade_id": n} for n in range(1, 6)]


def make_config(root: Path) -> Config:
    """Paths under root, everything else default."""
    return parse_config("").resolve_paths(root)


def digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_history(config: Config, entries: list[dict[str, object]] | None = None) -> Path:
    """A data dir that already holds history: paper_trades.json with entries."""
    path = config.paths.data_dir / "trades" / "paper_trades.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(HISTORY if entries is None else entries))
    return path


def sidecars(db_path: Path) -> list[str]:
    """The -wal/-shm files present beside the database."""
    return [s for s in ("-wal", "-shm") if Path(f"{db_path}{s}").exists()]


async def make_ledger(config: Config, trades: int) -> None:
    """A database holding `trades` trades, closed again."""
    async with open_store(config) as store:
        intents = [
            make_intent(f"k{n}", market_id=str(n), token_id=f"t{n}", shares="10", price="0.5")
            for n in range(trades)
        ]
        await store.record_trades(intents, T0)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run with the umask most shells have (files 0644, directories 0755 by default)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


# -- missing, empty and damaged databases -------------------------------------------------------


@pytest.mark.parametrize("db_file", ["missing", "empty"])
async def test_no_new_ledger_over_history(tmp_path: Path, db_file: str) -> None:
    """A missing or 0-byte database beside paper_trades.json with entries is refused, untouched."""
    config = make_config(tmp_path)
    mirror = write_history(config)
    before = digest(mirror)
    db = config.paths.db_path
    if db_file == "empty":
        db.touch()
    with pytest.raises(StoreError) as refused:
        async with open_store(config):
            pass
    message = str(refused.value)
    assert "holds history" in message and "backup" in message and "\n" not in message
    assert digest(mirror) == before
    assert db.exists() == (db_file == "empty") and sidecars(db) == []
    if db.exists():
        assert db.stat().st_size == 0


async def test_a_fresh_install_creates_the_database_and_says_so(tmp_path: Path) -> None:
    """With no history the database is created, logged as database_created."""
    config = make_config(tmp_path)
    with capture_logs() as logs:
        async with open_store(config) as store:
            assert await store.starting_balance() == config.paper.starting_balance_usd
    (created,) = [e for e in logs if e["event"] == "database_created"]
    assert created["path"] == str(config.paths.db_path)


async def test_a_damaged_database_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """One garbage page: quick_check fails, the open is refused, not a byte is written."""
    config = make_config(tmp_path)
    await make_ledger(config, trades=300)
    db = config.paths.db_path
    assert sidecars(db) == []
    conn = sqlite3.connect(db)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trades'").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with db.open("r+b") as handle:  # the trades table's root: opening never reads it
        handle.seek((root - 1) * page_size)
        handle.write(random.Random(7).randbytes(page_size))
    before = digest(db)
    with pytest.raises(StoreError) as refused:
        async with open_store(config):
            pass
    message = str(refused.value)
    assert "integrity check failed" in message and "backup" in message and "\n" not in message
    assert digest(db) == before and sidecars(db) == []


async def test_a_database_behind_its_mirror_is_refused(tmp_path: Path) -> None:
    """2 trades in the database, 5 in paper_trades.json (an older backup put back): refused."""
    config = make_config(tmp_path)
    await make_ledger(config, trades=2)
    mirror = write_history(config)
    with pytest.raises(StoreError) as refused:
        async with open_store(config):
            pass
    assert "older than its mirrors" in str(refused.value)
    assert json.loads(mirror.read_text()) == HISTORY


async def test_an_append_only_mirror_is_never_shrunk(tmp_path: Path) -> None:
    """Rebuilding paper_trades.json from a shorter ledger is refused and logged; file kept."""
    config = make_config(tmp_path)
    await make_ledger(config, trades=2)
    mirror = write_history(config)
    async with runtime_store_without_checks(config) as store:
        with capture_logs() as logs:
            ok = await MirrorBuilder(store, config).write_portfolio(T0)
    assert not ok
    assert json.loads(mirror.read_text()) == HISTORY
    (failed,) = [e for e in logs if e["event"] == "mirror_write_failed"]
    assert "refusing" in failed["error"] and "5 entries" in failed["error"]


@asynccontextmanager
async def runtime_store_without_checks(config: Config) -> AsyncIterator[Store]:
    """The store opened directly (as a bug or an older version would), bypassing the checks."""
    store = await Store.open(config.paths.db_path)
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.parametrize("command", ["status", "export"])
def test_status_and_export_on_an_empty_database_say_one_line(tmp_path: Path, command: str) -> None:
    """`status`/`export` on a 0-byte database: exit 1 with one line, no traceback."""
    config_path = tmp_path / "c.toml"
    config_path.write_text(f'[paths]\ndata_dir = "{tmp_path}/data"\ndb_path = "{tmp_path}/p.db"\n')
    (tmp_path / "p.db").touch()
    done = subprocess.run(
        [sys.executable, "-m", "prescientd", command, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty (0 bytes)" in lines[0], done.stderr
    assert sidecars(tmp_path / "p.db") == []


# -- one writer per database ----------------------------------------------------------------------


def test_a_second_writer_on_the_same_database_is_refused(tmp_path: Path) -> None:
    """Another data_dir but the same db_path: the database's own lock refuses the second."""
    first = make_config(tmp_path / "a").paths
    second = first.model_copy(update={"data_dir": tmp_path / "b" / "data"})
    with runtime.writer_lock(first):
        with pytest.raises(AlreadyRunning) as refused, runtime.writer_lock(second):
            pass
        assert f"the database {first.db_path}" in str(refused.value)
    with runtime.writer_lock(second):  # free again once the first is gone
        pass


# -- file modes -----------------------------------------------------------------------------------


async def test_files_are_0640_and_directories_0750_whatever_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    """Under umask 022: database, -wal, -shm, locks, logs, mirrors 0640; new directories 0750."""
    config = make_config(tmp_path / "site")
    with runtime.writer_lock(config.paths):
        async with open_store(config) as store:
            await MirrorBuilder(store, config).write_all(T0)
            db = config.paths.db_path
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            files += [config.paths.data_dir / "prescientd.lock", Path(f"{db}.lock")]
            files += [p for p in config.paths.data_dir.rglob("*") if p.is_file()]
            daily = DailyLogFile(config.paths.logs_dir, config.tz)
            daily.write("{}")
            daily.close()
            files += list(config.paths.logs_dir.iterdir())
            modes = {str(p): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o640"}, modes
    dirs = [tmp_path / "site", config.paths.data_dir, config.paths.logs_dir]
    dirs += [p for p in config.paths.data_dir.rglob("*") if p.is_dir()]
    dir_modes = {str(p): oct(p.stat().st_mode & 0o777) for p in dirs}
    assert set(dir_modes.values()) == {"0o750"}, dir_modes
