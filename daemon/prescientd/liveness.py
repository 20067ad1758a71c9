"""Whether a prescientd writer is running: who holds the writer lock file, read from outside.

A writer (`run`, `demo`, `once`, `export`) holds an exclusive flock on its lock file and writes
its pid into it. A reader tells a live holder from a stale file by a non-blocking *shared* flock
attempt: it fails while the exclusive lock is held, and when it succeeds it is released at once,
never kept, and the file is never written or created. The pid in the file alone proves nothing
(pids are reused; a crash leaves the file behind), so it is only reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DAEMON_COMMANDS = frozenset({"run", "demo"})
ONE_OFF_COMMANDS = frozenset({"once", "export", "replay", "report"})
MAX_COMMAND_CHARS = 200


@dataclass(frozen=True, slots=True)
class LockProbe:
    """What one lock file says about its holder.

    `held` is None when the file exists but could not be opened (then `error` says why).
    `modified_at` is when the holder wrote its pid: about when it started.
    `kind` is "daemon" (run/demo), "command" (once/export/...) or None when unknown.
    """

    path: Path
    exists: bool
    held: bool | None
    pid: int | None
    pid_alive: bool | None
    modified_at: datetime | None
    command: str | None
    kind: str | None
    error: str | None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0: nothing is sent)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def process_command(pid: int, proc_dir: Path = Path("/proc")) -> str | None:
    """A process's command line, when the system shows it (Linux /proc); None otherwise."""
    try:
        raw = (proc_dir / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    text = " ".join(words)
    return text[:MAX_COMMAND_CHARS] if text else None


def command_kind(command: str | None) -> str | None:
    """'daemon' for `prescientd run|demo`, 'command' for a one-off writer, None if unknown."""
    if not command or "prescientd" not in command:
        return None
    words = set(command.split())
    if words & DAEMON_COMMANDS:
        return "daemon"
    if words & ONE_OFF_COMMANDS:
        return "command"
    return None


def _read_pid(text: str) -> int | None:
    word = text.strip().split()[0] if text.strip() else ""
    return int(word) if word.isdigit() else None


def _is_held(fd: int) -> bool:
    """Try a shared lock without waiting: it fails only while someone holds it exclusively."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def probe_lock(path: Path) -> LockProbe:
    """Read path's pid and test whether its lock is held, without taking or creating it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return LockProbe(path, False, False, None, None, None, None, None, None)
    except OSError as exc:
        error = f"cannot read {path}: {exc.strerror or exc}"
        return LockProbe(path, True, None, None, None, None, None, None, error)
    try:
        held = _is_held(fd)
        modified_at = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
        pid = _read_pid(os.read(fd, 64).decode("ascii", "replace"))
    finally:
        os.close(fd)
    alive = pid_alive(pid) if pid is not None else None
    command = process_command(pid) if pid is not None and alive else None
    kind = command_kind(command) if held else None
    return LockProbe(path, True, held, pid, alive, modified_at, command, kind, None)


def probe_writer(lock_paths: Sequence[Path]) -> LockProbe:
    """The writer's lock among lock_paths: a held one, else one naming a pid, else the first."""
    probes = [probe_lock(p) for p in lock_paths]
    for rule in (
        lambda p: p.held is True,
        lambda p: p.held is None,
        lambda p: p.pid is not None,
        lambda p: p.exists,
    ):
        for probe in probes:
            if rule(probe):
                return probe
    return probes[0]
