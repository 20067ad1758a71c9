"""Serving the web application inside the daemon's event loop, and its access log."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from prescientd.web.app import BOUND_PORTS

log = structlog.get_logger(__name__)

# Streams end on shutdown, so handlers finish at once; this bounds a request stuck in a read.
SHUTDOWN_TIMEOUT_S = 3.0


class AccessLog(AbstractAccessLogger):
    """One debug line per request: method, path without the query string, status, time.

    Headers (Authorization among them) and query strings are never logged.
    """

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one finished request."""
        log.debug(
            "http_request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 1),
        )


def runner_options() -> dict[str, Any]:
    """AppRunner options: our access log (no headers, no query), owner-handled signals."""
    return {
        "access_log_class": AccessLog,
        "handle_signals": False,
        "shutdown_timeout": SHUTDOWN_TIMEOUT_S,
    }


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the web application listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """The dashboard's URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


@asynccontextmanager
async def serving(
    app: web.Application, host: str, port: int, *, port_fallback: bool = False
) -> AsyncIterator[Listening]:
    """Listen on host:port until the block exits, then shut down gracefully (streams end first).

    port 0 lets the OS choose a free port; with port_fallback a taken port does the same instead
    of failing. The chosen port is in the yielded Listening and is accepted by the Host check.
    """
    runner = web.AppRunner(app, **runner_options())
    await runner.setup()
    try:
        await _start_site(runner, host, port, port_fallback)
        bound = int(runner.addresses[0][1])
        app[BOUND_PORTS].clear()
        app[BOUND_PORTS].add(bound)
        listening = Listening(host, bound)
        log.info("http_listening", url=listening.url, host=host, port=bound)
        yield listening
    finally:
        await runner.cleanup()


async def _start_site(runner: web.AppRunner, host: str, port: int, fallback: bool) -> None:
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await site.stop()
        if not (fallback and port and exc.errno == errno.EADDRINUSE):
            raise
        log.warning("http_port_taken", port=port, fallback="a free port chosen by the OS")
        await web.TCPSite(runner, host, 0, reuse_address=True).start()
