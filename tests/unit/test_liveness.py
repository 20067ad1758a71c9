"""Telling a prescientd daemon from a one-off command by its command line."""

from __future__ import annotations

import os

import pytest

from prescientd.liveness import command_kind, pid_alive


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        (
            "/opt/prescientd/.venv/bin/python /opt/prescientd/.venv/bin/prescientd run --config x",
            "daemon",
        ),
        ("python -m prescientd demo --dir demo", "daemon"),
        ("/usr/bin/python3 /usr/local/bin/prescientd once cycle --config c.toml", "command"),
        ("prescientd export", "command"),
        ("python -c import time; time.sleep(9)", None),  # not prescientd
        ("prescientd --config run.toml", None),  # 'run' only inside a word
        (None, None),
        ("", None),
    ],
)
def test_command_kind(command: str | None, kind: str | None) -> None:
    """run/demo are the daemon; once/export/replay/report one-off writers; the rest unknown."""
    assert command_kind(command) == kind


def test_pid_alive() -> None:
    """This process is alive; pid 0 and negative pids are not processes."""
    assert pid_alive(os.getpid()) is True
    assert pid_alive(0) is False and pid_alive(-1) is False
