"""systemd notify messages and the watchdog's progress rule."""

from __future__ import annotations

import socket
from pathlib import Path

from conftest import FakeClock
from prescientd.daemon import Progress
from prescientd.notify import Notifier


def test_notify_messages_reach_the_socket(tmp_path: Path) -> None:
    """READY, RELOADING (with MONOTONIC_USEC), STATUS, WATCHDOG and STOPPING are datagrams."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier(str(path), "20000000")
        assert notifier.enabled and notifier.watchdog_s == 20
        notifier.ready("running; config v1")
        notifier.reloading()
        notifier.ready("running; config v2")
        notifier.watchdog()
        notifier.stopping()
        got = [server.recv(4096).decode() for _ in range(5)]
    assert got[0] == "READY=1\nSTATUS=running; config v1"
    assert got[1].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert got[2] == "READY=1\nSTATUS=running; config v2"
    assert got[3] == "WATCHDOG=1"
    assert got[4].startswith("STOPPING=1")


def test_without_notify_socket_nothing_is_sent() -> None:
    """Outside systemd the notifier only records what it would have sent."""
    notifier = Notifier("", "")
    notifier.ready("x")
    assert (
        not notifier.enabled
        and notifier.watchdog_s is None
        and list(notifier.sent) == ["READY=1\nSTATUS=x"]
    )


def test_watchdog_pings_only_while_every_loop_makes_progress() -> None:
    """A loop that stops beating past its limit makes the process unhealthy (pings stop)."""
    clock = FakeClock(monotonic_s=100.0)
    progress = Progress(clock, limits_s={"poller": 10.0, "scheduler": 5.0})
    progress.beat("poller")
    progress.beat("scheduler")
    assert progress.beats == {"poller": 100.0, "scheduler": 100.0}  # the injected clock's time
    assert progress.healthy(104.0)
    assert not progress.healthy(106.0)  # scheduler silent for 6 s > 5 s
    clock.advance(5.0)
    progress.beat("scheduler")
    assert progress.healthy(109.0)
    assert not progress.healthy(111.0)  # poller hung for 11 s
