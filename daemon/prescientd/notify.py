"""systemd's notify protocol (sd_notify): READY, RELOADING, STOPPING, STATUS and WATCHDOG.

Without $NOTIFY_SOCKET (not under systemd) every call is a no-op. Send errors are swallowed: the
service manager going away must never stop trading.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque


class Notifier:
    """Sends notify messages to the socket named by $NOTIFY_SOCKET."""

    def __init__(self, socket_path: str | None = None, watchdog_usec: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
        if path and path.startswith("@"):
            path = "\0" + path[1:]  # abstract namespace socket
        self._address = path or None
        usec = watchdog_usec if watchdog_usec is not None else os.environ.get("WATCHDOG_USEC")
        try:
            self.watchdog_s: float | None = int(usec) / 1_000_000 if usec else None
        except ValueError:
            self.watchdog_s = None
        self.sent: deque[str] = deque(maxlen=64)  # the latest messages, for tests

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens."""
        return self._address is not None

    def send(self, *fields: str) -> None:
        """Send one datagram of newline-separated KEY=VALUE fields."""
        message = "\n".join(fields)
        self.sent.append(message)
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode("utf-8"))
        except OSError:
            pass

    def ready(self, status: str) -> None:
        """Start-up or reload finished."""
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        """A reload started (systemd expects READY=1 after it)."""
        self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self, status: str = "stopping") -> None:
        """Shutdown started."""
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """A one-line status shown by systemctl status."""
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        """The main loop made real progress."""
        self.send("WATCHDOG=1")
