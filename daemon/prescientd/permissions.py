"""File modes the daemon sets itself, whatever the umask it was started with.

Everything it writes (database, its -wal/-shm, lock files, logs, mirrors) is 0640 and every
directory it creates 0750: readable by the service's group (analysts opening the CSVs), never by
the world. A umask of 022 would otherwise leave the database and logs world-readable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

FILE_MODE = 0o640
DIR_MODE = 0o750
# new files 0666 & ~027 = 0640, new directories 0777 & ~027 = 0750 (SQLite's temp files too)
PROCESS_UMASK = 0o027


def apply_process_umask() -> int:
    """Set the umask of a writing command; returns the previous one."""
    return os.umask(PROCESS_UMASK)


def make_dirs(path: Path) -> None:
    """Create path and any missing parents with mode 0750 (existing directories are kept)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by someone else: leave its mode alone
        directory.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask


def restrict_file(path: Path) -> None:
    """Set a file of ours to 0640 when it has another mode; a missing file is fine."""
    try:
        if path.stat().st_mode & 0o7777 != FILE_MODE:
            path.chmod(FILE_MODE)
    except FileNotFoundError:
        return
    except PermissionError as exc:
        log.warning("file_mode_not_set", path=str(path), error=exc.strerror or str(exc))


def open_private(path: Path, flags: int) -> int:
    """os.open with O_CREAT and mode 0640 whatever the umask; returns the descriptor."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    with contextlib.suppress(PermissionError):  # not our file: keep its mode
        if os.fstat(fd).st_mode & 0o7777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    return fd


def database_files(db_path: Path) -> tuple[Path, Path, Path]:
    """The database and the -wal and -shm files SQLite keeps beside it."""
    return db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
