"""The operator's window as the daemon runs it: hub, metrics, live feed, control and the listener.

`OperatorWindow` is built with the daemon (so reloads and jobs can report from the start), loads
the bearer token before anything else starts, seeds the metrics from the store, and serves the
application inside the daemon's own event loop for as long as the daemon runs. `DaemonControl`
adapts the daemon's cycle queue and its SIGHUP path to the web layer's Control protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path

import structlog

from prescientd.config import HttpConfig
from prescientd.observe import DEFAULT_STRATEGY
from prescientd.portfolio import PortfolioService
from prescientd.store.db import Store
from prescientd.web.app import make_app
from prescientd.web.contract import Control, ControlRejected, JsonObject, ReadModel
from prescientd.web.events import EventHub
from prescientd.web.live import LiveFeed
from prescientd.web.metrics import Metrics
from prescientd.web.security import load_token
from prescientd.web.server import Listening, serving

log = structlog.get_logger(__name__)


class ListenError(Exception):
    """The listener cannot be opened (port taken, address not on this machine); one line."""


class DaemonControl:
    """Control over the daemon: a queued cycle, and a reload exactly as SIGHUP requests one."""

    def __init__(
        self,
        *,
        queue_cycle: Callable[[], JsonObject],
        request_reload: Callable[[], None],
        stopping: Callable[[], bool],
    ) -> None:
        self._queue_cycle = queue_cycle
        self._request_reload = request_reload
        self._stopping = stopping

    def _refuse_when_stopping(self) -> None:
        if self._stopping():
            raise ControlRejected("the daemon is stopping; nothing was queued")

    async def request_cycle(self) -> JsonObject:
        """Queue morning + poll behind any running job."""
        self._refuse_when_stopping()
        return self._queue_cycle()

    async def request_reload(self) -> JsonObject:
        """The SIGHUP handler's own request: applied at the next job boundary."""
        self._refuse_when_stopping()
        self._request_reload()
        return {"queued": True, "same_as": "SIGHUP"}


class OperatorWindow:
    """The web layer of one daemon run."""

    def __init__(self, settings: HttpConfig) -> None:
        self.settings = settings
        self.hub = EventHub.from_config(settings)
        self.metrics = Metrics()
        self.feed = LiveFeed(self.hub, self.metrics)

    def load_token(self, base_dir: Path) -> str | None:
        """The bearer token of http.token_file (relative paths from base_dir).

        Raises TokenFileError when the file is set but unusable (the daemon must not start).
        """
        path = self.settings.token_path
        if path is not None and not path.is_absolute():
            path = base_dir / path
        return load_token(path)

    async def seed(
        self, store: Store, config_version: int, max_age_s: float, now: datetime
    ) -> None:
        """Start the metrics from the store: config version, prices, job successes, account."""
        self.feed.config_loaded(config_version)
        last_poll = await store.last_poll()
        if last_poll is not None:
            self.metrics.set_prices_fetched_at(last_poll[0].timestamp())
        for job, run in (await store.last_job_runs()).items():
            if run.ok:
                self.metrics.set_job_last_success(job, run.finished_at.timestamp())
        portfolio, valuation = await PortfolioService.of(store).valued(now, max_age_s)
        self.feed.portfolio_valued(DEFAULT_STRATEGY, portfolio, valuation, now)

    def stopping(self) -> None:
        """End every event stream now, so open dashboards never hold up a stop."""
        self.hub.close()

    @asynccontextmanager
    async def serving(
        self, reads: ReadModel, control: Control, token: str | None
    ) -> AsyncIterator[Listening | None]:
        """Serve the application until the block exits; yields None when [http] is disabled."""
        settings = self.settings
        if not settings.enabled:
            log.info("http_disabled")
            yield None
            return
        app = make_app(reads, control, self.hub, self.metrics, settings, token=token)
        async with AsyncExitStack() as stack:
            try:
                listening = await stack.enter_async_context(
                    serving(app, settings.host, settings.port, port_fallback=settings.port_fallback)
                )
            except OSError as exc:
                raise ListenError(
                    f"http: cannot listen on {settings.host}:{settings.port}:"
                    f" {exc.strerror or exc} (change [http] port, set port_fallback = true,"
                    " or enabled = false)"
                ) from exc
            yield listening
