"""The writer's lock files: removed on a clean exit, a crash's taken over, and the races of a
starter that opened a lock file its holder was removing."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from prescientd import runtime
from prescientd.config import PathsConfig
from prescientd.permissions import open_private as real_open_private
from prescientd.runtime import AlreadyRunning, writer_lock

DEAD_PID = "4194999"  # above the default pid_max: no such process


def paths(root: Path) -> PathsConfig:
    """A data directory and a database under root."""
    return PathsConfig(
        data_dir=root / "data", logs_dir=root / "logs", db_path=root / "db" / "prescient.db"
    )


def lock_files(p: PathsConfig) -> list[Path]:
    """The data directory's lock file and the database's."""
    return [p.data_dir / "prescientd.lock", runtime.db_lock_path(p.db_path)]


def test_the_lock_files_exist_only_while_held(tmp_path: Path) -> None:
    """Inside: both files hold our pid; after a normal exit and after an exception: gone."""
    p = paths(tmp_path)
    with writer_lock(p):
        assert [f.read_text() for f in lock_files(p)] == [f"{os.getpid()}\n"] * 2
    assert not any(f.exists() for f in lock_files(p))
    with pytest.raises(RuntimeError), writer_lock(p):
        raise RuntimeError("a job crashed the command")
    assert not any(f.exists() for f in lock_files(p))


def test_a_crashed_writers_files_are_taken_over(tmp_path: Path) -> None:
    """Files left by a dead writer (unlocked, its pid inside) are taken, rewritten, removed."""
    p = paths(tmp_path)
    for f in lock_files(p):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"{DEAD_PID}\n")
    with writer_lock(p):
        assert [f.read_text() for f in lock_files(p)] == [f"{os.getpid()}\n"] * 2
    assert not any(f.exists() for f in lock_files(p))


def test_a_held_lock_refuses_a_second_writer_and_is_kept(tmp_path: Path) -> None:
    """A second writer is refused naming the holder's pid; the holder's file stays."""
    p = paths(tmp_path)
    with writer_lock(p):
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"), writer_lock(p):
            pass
        assert all(f.exists() for f in lock_files(p))
    assert not any(f.exists() for f in lock_files(p))


Opener = Callable[[Path, int], int]


def opening_then(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[Path], None]) -> list[Path]:
    """Make the lock's first open() return the file as it was, then run meanwhile(path) (the
    holder exiting, a new holder starting) before the lock is tried. Returns the opened paths."""
    real: Opener = real_open_private
    opened: list[Path] = []

    def open_private(path: Path, flags: int) -> int:
        fd = real(path, flags)
        opened.append(path)
        if len(opened) == 1:
            meanwhile(path)
        return fd

    monkeypatch.setattr(runtime, "open_private", open_private)
    return opened


def test_a_starter_that_locked_a_removed_file_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder removed the file after we opened it: our lock on it is worthless, so the
    starter opens the path again and holds the file that is linked there."""
    path = tmp_path / "prescientd.lock"
    path.write_text(f"{DEAD_PID}\n")
    opened = opening_then(monkeypatch, lambda p: p.unlink())
    with runtime.data_dir_lock(tmp_path):
        assert len(opened) == 2
        assert path.read_text() == f"{os.getpid()}\n"
        probe = os.open(path, os.O_RDONLY)
        try:  # the file at the path is the one held: a second lock on it fails
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
    assert not path.exists()


def test_a_starter_that_locked_a_replaced_file_finds_the_new_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder exited and another writer created and locked a new file meanwhile: the
    starter, holding only the old unlinked file, starts over and is refused by the new one."""
    path = tmp_path / "prescientd.lock"
    path.write_text(f"{DEAD_PID}\n")
    other: list[int] = []

    def exit_and_restart(p: Path) -> None:
        p.unlink()
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"777\n")
        other.append(fd)

    opened = opening_then(monkeypatch, exit_and_restart)
    try:
        with pytest.raises(AlreadyRunning, match="pid 777"), runtime.data_dir_lock(tmp_path):
            pass
        assert len(opened) == 2
        assert path.read_text() == "777\n"  # the new holder's file is left alone
    finally:
        os.close(other[0])


def test_an_exiting_holder_removes_only_its_own_file(tmp_path: Path) -> None:
    """Should the path name another file by the time the holder exits, that file is kept."""
    path = tmp_path / "prescientd.lock"
    with runtime.data_dir_lock(tmp_path):
        path.unlink()
        path.write_text("someone else's\n")
    assert path.read_text() == "someone else's\n"
