"""Headless Chromium driven over the DevTools protocol (a WebSocket), with aiohttp only.

`find_chromium()` locates the browser; when it is missing the test fails under CI (env CI set)
and is skipped elsewhere. `Browser` starts Chromium with a throw-away profile on a port the OS
picks, opens one page, evaluates JavaScript in it, waits for conditions (bounded) and takes
screenshots. Everything is stopped at exit, whatever happened.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, BinaryIO, Self

import aiohttp
import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the test runs as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def find_chromium() -> str:
    """The Chromium executable; fail (under CI) or skip (elsewhere) when there is none."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install it (see .ci/run)")
    pytest.skip(message)


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, profile_dir: Path, *, width: int = 1400, height: int = 1800) -> None:
        self.profile_dir = profile_dir
        self.size = (width, height)
        self.proc: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.console: list[str] = []
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        exe = find_chromium()
        log = await asyncio.to_thread(self._fresh_profile)
        self.proc = await asyncio.create_subprocess_exec(
            exe,
            *FLAGS,
            f"--user-data-dir={self.profile_dir}",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            port = await self._devtools_port()
            self.session = aiohttp.ClientSession()
            async with self.session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t.get("type") == "page")
            self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
            await self.send("Page.enable")
            await self.send("Runtime.enable")
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def _fresh_profile(self) -> BinaryIO:
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        (self.profile_dir / "DevToolsActivePort").unlink(missing_ok=True)
        return (self.profile_dir / "chromium.log").open("wb")

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def _devtools_port(self) -> int:
        for _ in range(300):  # up to 30 s for a cold start on a busy machine
            assert self.proc is not None
            if self.proc.returncode is not None:
                tail = await asyncio.to_thread(self._read, "chromium.log")
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {tail[-2000:]}")
            words = (await asyncio.to_thread(self._read, "DevToolsActivePort")).split()
            if words:
                return int(words[0])
            await asyncio.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port within 30 s")

    def _read(self, name: str) -> str:
        try:
            return (self.profile_dir / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command; returns its result (console messages are collected meanwhile)."""
        assert self.ws is not None
        call_id = next(self._ids)
        await self.ws.send_str(
            json.dumps({"id": call_id, "method": method, "params": params or {}})
        )
        async with asyncio.timeout(30):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"DevTools connection closed during {method}")
                data = json.loads(message.data)
                if data.get("method") == "Runtime.consoleAPICalled":
                    args = data["params"].get("args", [])
                    self.console.append(
                        " ".join(str(a.get("value", a.get("description"))) for a in args)
                    )
                elif data.get("method") == "Runtime.exceptionThrown":
                    details = data["params"]["exceptionDetails"]
                    self.console.append(
                        f"exception: {details.get('exception', {}).get('description', details)}"
                    )
                if data.get("id") == call_id:
                    if "error" in data:
                        raise RuntimeError(f"{method}: {data['error']}")
                    result: dict[str, Any] = data.get("result", {})
                    return result

    async def goto(self, url: str) -> None:
        """Load url."""
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value (TimeoutError names it)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        error = ""
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError as exc:  # e.g. the page is still loading: no body yet
                value, error = None, str(exc)[:300]
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"waited {timeout_s} s for {expression}; last error: {error or 'none'};"
                    f" console: {self.console}"
                )
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page."""
        result = await self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(result["data"]))
        return path
