"""The real daemon in this process, against the simulator, with its web layer on a free port.

`live_daemon()` starts the simulator and `Daemon.run()` as a task (the same object `prescientd run`
builds), waits until the listener is up and the first poll has finished, and yields the daemon,
its URL and a client session. On exit it stops the daemon as SIGTERM does and checks it exited 0.
Jobs other than the start-up morning and first poll run only when a test asks (interval jobs a day
apart, a poll an hour apart), so what a test compares cannot move under it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from prescientd.clock import SystemClock
from prescientd.config import Config, load_config
from prescientd.daemon import Daemon
from prescientd.notify import Notifier
from prescientd.sim import RunningSim, running_simulator
from prescientd.web.server import Listening

TOKEN = "live-test-token-0123456789abcdef"
STOP_LIMIT_S = 10.0
Sse = dict[str, str]


def _toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ['timezone = "America/New_York"']
    for name, keys in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def config_sections(root: Path, sim_url: str, token_file: Path | None) -> dict[str, dict[str, Any]]:
    """A fast, quiet daemon config for the simulator at sim_url."""
    return {
        "paths": {
            "data_dir": str(root / "data"),
            "logs_dir": str(root / "logs"),
            "db_path": str(root / "data" / "prescient.db"),
        },
        "polymarket": {
            "gamma_url": sim_url,
            "clob_url": sim_url,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "max_attempts": 3,
        },
        "schedule": {
            "poll_interval_s": 3600,
            "morning_every_s": 86400,
            "evening_every_s": 86400,
            "max_price_age_s": 600,
        },
        "filters": {"min_liquidity_usd": 500, "max_days_to_end": 1200},
        "strategy": {"threshold": 0.5, "action": "buy_no", "stake_usd": 100},
        "mirrors": {"debounce_s": 0.1},
        "logging": {"file": False},
        "http": {"port": 0, "token_file": str(token_file) if token_file else ""},
    }


@dataclass
class LiveDaemon:
    """A running daemon with its simulator, URL and a client bound to the URL."""

    daemon: Daemon
    sim: RunningSim
    url: str
    client: aiohttp.ClientSession
    root: Path
    task: asyncio.Task[int]

    @property
    def config(self) -> Config:
        """The daemon's running config."""
        return self.daemon.config

    @property
    def data_dir(self) -> Path:
        """data/ (the mirrors)."""
        return self.config.paths.data_dir

    @property
    def config_path(self) -> Path:
        """The config file (rewrite it, then reload)."""
        return self.daemon.config_path

    async def json(self, path: str, status: int = 200) -> Any:
        """GET path and return its JSON body, checking the status."""
        async with self.client.get(path) as response:
            body = await response.json()
            assert response.status == status, (path, response.status, body)
            return body

    async def post(self, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
        """POST path with (or without) the bearer token: status and JSON body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.client.post(path, headers=headers) as response:
            return response.status, await response.json()

    async def mirrors_written(self) -> None:
        """Wait until every requested mirror is rebuilt (the files match the database)."""
        assert self.daemon._mirrors is not None
        await self.daemon._mirrors.flush()


async def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Await an async (or plain) condition until it is truthy; fail naming what."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def polls_done(live: LiveDaemon) -> int:
    """Successful poll runs recorded so far (from the job-run history)."""
    store = live.daemon._store
    assert store is not None
    rows = await store.db.read("SELECT COUNT(*) FROM job_runs WHERE job='poll' AND outcome='ok'")
    return int(rows[0][0])


def write_config(
    root: Path,
    sim_url: str,
    *,
    token: bool,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """root/prescientd.toml (and root/http.token when token) for the simulator at sim_url, with
    the extra sections (e.g. {"strategies.contrarian60": {"threshold": 0.6}})."""
    root.mkdir(parents=True, exist_ok=True)
    token_file = None
    if token:
        token_file = root / "http.token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
        token_file.chmod(0o600)
    config_path = root / "prescientd.toml"
    sections = {**config_sections(root, sim_url, token_file), **(extra or {})}
    config_path.write_text(_toml(sections), encoding="utf-8")
    return config_path


@asynccontextmanager
async def live_daemon(
    root: Path,
    *,
    token: bool = True,
    n_events: int = 60,
    seed: int = 5,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[LiveDaemon]:
    """Simulator + daemon + client; stopped (and checked to exit 0 in time) on exit. extra adds
    config sections (variants: {"strategies.NAME": {...}})."""
    async with running_simulator(seed=seed, n_events=n_events) as sim:
        config_path = write_config(root, sim.url, token=token, extra=extra)
        config = load_config(config_path).resolve_paths(root)
        listening: asyncio.Future[Listening] = asyncio.get_running_loop().create_future()
        daemon = Daemon(
            config_path,
            config,
            clock=SystemClock(),
            notifier=Notifier("", ""),
            base_dir=root,
            on_listening=listening.set_result,
        )
        task = asyncio.create_task(daemon.run())
        try:
            either: set[asyncio.Future[Any]] = {task, listening}
            done, _ = await asyncio.wait(either, timeout=30, return_when="FIRST_COMPLETED")
            assert listening in done, f"the daemon did not start listening: {done}"
            async with aiohttp.ClientSession(base_url=listening.result().url) as client:
                live = LiveDaemon(daemon, sim, listening.result().url, client, root, task)
                await wait_for(lambda: polls_done(live), "the first poll")
                await live.mirrors_written()
                yield live
        finally:
            daemon.request_stop()
            async with asyncio.timeout(STOP_LIMIT_S):
                code = await task
            assert code == 0


async def read_events(
    response: aiohttp.ClientResponse, until: Callable[[list[Sse]], bool], timeout_s: float = 20.0
) -> list[Sse]:
    """Events from an open stream until until(events) holds (comments skipped)."""
    events: list[Sse] = []
    current: Sse = {}
    async with asyncio.timeout(timeout_s):
        while not until(events):
            raw = await response.content.readline()
            if not raw:
                raise EOFError(f"stream ended after {len(events)} events")
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = value
    return events
