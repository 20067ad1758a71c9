"""`prescientd demo` as a subprocess: start it, find its dashboard URL, read its API, stop it.

Used by the e2e web tests and the browser test. The demo asks for port 8686 with port_fallback, so
when 8686 is taken (another demo or a daemon on this machine) it listens on a free port: the URL is
always read from the banner line it prints.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.conftest import wait_until

BANNER = re.compile(r"dashboard at (http://127\.0\.0\.1:\d+/)")
STOP_LIMIT_S = 10.0


@dataclass
class DemoProcess:
    """A running demo, its output file and its dashboard URL."""

    proc: subprocess.Popen[bytes]
    out_path: Path
    url: str

    @property
    def port(self) -> int:
        """The listening port."""
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path: str) -> tuple[int, bytes]:
        """GET url+path (as curl would): status and body."""
        request = urllib.request.Request(self.url + path.lstrip("/"))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # 127.0.0.1 only
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        """GET path, expecting 200 and JSON."""
        status, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def first_poll_done(self) -> bool:
        """True once a poll has finished (health names its outcome)."""
        status, body = self.get("/api/v1/health")
        return status in (200, 503) and json.loads(body)["jobs"]["poll"] is not None

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the exit took (fails after STOP_LIMIT_S)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"the demo did not exit within {STOP_LIMIT_S:g} s") from exc
        return code, time.monotonic() - started


@contextmanager
def running_demo(
    workdir: Path, *, events: int = 60, speed: float | None = None
) -> Iterator[DemoProcess]:
    """Start `prescientd demo --dir workdir/demo` (at `--speed` when given), wait for its URL and
    first poll; always stopped (killed if it does not exit) at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    out_path = workdir / "demo.out"
    env = {k: v for k, v in os.environ.items() if k != "PRESCIENTD_CONFIG"}
    args = [sys.executable, "-m", "prescientd", "demo", "--dir", str(workdir / "demo")]
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [*args, "--events", str(events), *(["--speed", str(speed)] if speed else [])],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:

        def url() -> str | None:
            text = out_path.read_text(encoding="utf-8", errors="replace")
            assert proc.poll() is None, f"the demo exited ({proc.returncode}): {text[-2000:]}"
            found = BANNER.search(text)
            return found.group(1) if found else None

        demo = DemoProcess(proc, out_path, wait_until(url, 60, "the demo's dashboard URL"))
        wait_until(demo.first_poll_done, 60, "the demo's first poll")
        yield demo
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on port (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                address, port_hex = fields[1].rsplit(":", 1)
                if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                    found.append(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:  # IPv4, little-endian
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]  # IPv6: four little-endian words
    joined = b"".join(words)
    return ":".join(joined[i : i + 2].hex() for i in range(0, 16, 2))
