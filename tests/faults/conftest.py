"""The fault suite: prescientd as a subprocess under kills, a full disk, damaged databases,
hostile upstream replies and bad reloads.

Every test here is marked `e2e` and `faults`: the fast loop (`pytest -m "not e2e"`) skips them,
`pytest -m faults` runs only them (under a minute). Fixtures come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Self

import aiohttp
import pytest
from aiohttp import web

from e2e.conftest import (  # noqa: F401 - fixtures re-exported for the fault tests
    daemon_factory,
    setup_factory,
    sim,
    sim_factory,
)

# (method, path, decoded JSON reply) -> the reply to send: a value (as JSON) or raw JSON text
Rewrite = Callable[[str, str, Any], Any]


class RawJson(str):
    """Reply text sent as is (JSON that json.dumps cannot produce: nested 5,000 deep)."""


class HostileProxy:
    """An HTTP proxy in its own thread and event loop that rewrites the upstream's replies.

    `rules` maps a path to a function of the decoded reply; change it while the daemon runs.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: dict[str, Callable[[Any], Any]] = {}
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hostile-proxy", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:

            async def forward(request: web.Request) -> web.Response:
                body = await request.read()
                async with session.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=body or None,
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    data, status = await resp.read(), resp.status
                rule = self.rules.get(request.path)
                if status != 200 or rule is None:
                    return web.Response(body=data, status=status, content_type="application/json")
                reply = rule(json.loads(data))
                text = reply if isinstance(reply, RawJson) else json.dumps(reply)
                return web.Response(text=text, content_type="application/json")

            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", forward)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()


@pytest.fixture
def hostile_proxy() -> Iterator[Callable[[str], HostileProxy]]:
    """Start hostile proxies in front of upstream URLs; all are stopped at teardown."""
    started: list[HostileProxy] = []

    def start(upstream: str) -> HostileProxy:
        proxy = HostileProxy(upstream).__enter__()
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.__exit__(None, None, None)
