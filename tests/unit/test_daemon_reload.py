"""SIGHUP reload decisions of the daemon, with a stand-in store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from prescientd.clock import SystemClock
from prescientd.config import load_config
from prescientd.daemon import Daemon
from prescientd.notify import Notifier


class _Store:
    """Records config versions, or fails like a locked database."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.version = 1

    async def record_config_version(self, **_: Any) -> int:
        if self.fail:
            raise sqlite3.OperationalError("database is locked")
        self.version += 1
        return self.version


def _daemon(tmp_path: Path, store: _Store) -> tuple[Daemon, Path]:
    path = tmp_path / "c.toml"
    path.write_text("[strategy]\nthreshold = 0.5\n")
    daemon = Daemon(
        path,
        load_config(path).resolve_paths(tmp_path),
        clock=SystemClock(),
        notifier=Notifier("", ""),
        base_dir=tmp_path,
    )
    daemon.config_version = 1
    daemon._store = store  # type: ignore[assignment]
    return daemon, path


async def test_reload_applies_a_valid_change_with_a_new_version(tmp_path: Path) -> None:
    """A valid new threshold is swapped in under the next version; READY follows RELOADING."""
    daemon, path = _daemon(tmp_path, _Store(fail=False))
    path.write_text("[strategy]\nthreshold = 0.7\n")
    assert await daemon.reload() is True
    assert str(daemon.config.strategy.threshold) == "0.7" and daemon.config_version == 2
    sent = list(daemon.notifier.sent)
    assert sent[0].startswith("RELOADING=1") and sent[-1] == "READY=1\nSTATUS=running; config v2"


async def test_reload_keeps_the_old_config_on_a_bad_value(tmp_path: Path) -> None:
    """An invalid value is rejected, the old version stays, and READY is still sent."""
    daemon, path = _daemon(tmp_path, _Store(fail=False))
    path.write_text("[strategy]\nthreshold = 7\n")
    assert await daemon.reload() is False
    assert str(daemon.config.strategy.threshold) == "0.5" and daemon.config_version == 1
    assert list(daemon.notifier.sent)[-1].startswith("READY=1\nSTATUS=reload rejected")


async def test_reload_survives_a_database_error(tmp_path: Path) -> None:
    """If the new version cannot be recorded (locked database) the old config stays in force."""
    daemon, path = _daemon(tmp_path, _Store(fail=True))
    path.write_text("[strategy]\nthreshold = 0.7\n")
    assert await daemon.reload() is False
    assert str(daemon.config.strategy.threshold) == "0.5" and daemon.config_version == 1
    assert list(daemon.notifier.sent)[-1].startswith("READY=1\nSTATUS=reload failed (database)")
