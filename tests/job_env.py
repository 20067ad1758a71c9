"""Running jobs in-process against the built-in simulator: the environment the job tests share."""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prescientd import jobs
from prescientd.clock import SystemClock
from prescientd.config import Config, parse_config
from prescientd.mirrors.build import Mirror, MirrorBuilder
from prescientd.models import JobOutcome
from prescientd.runtime import Clients, make_context, open_clients, open_store
from prescientd.sim import running_simulator
from prescientd.sim.state import SimState
from prescientd.store.db import BUSY_TIMEOUT_MS, Store


def make_config(tmp_path: Path, url: str, extra: str = "") -> Config:
    """A config pointing at the simulator, with quick retries and paths in tmp_path."""
    text = f"""
[polymarket]
gamma_url = "{url}"
clob_url = "{url}"
backoff_base_s = 0.01
backoff_max_s = 0.05
max_attempts = 3
{extra}
[mirrors]
workbook_interval_s = 0
"""
    return parse_config(text).resolve_paths(tmp_path)


@dataclass
class Env:
    """A store, clients and builder for running jobs in-process."""

    config: Config
    store: Store
    clients: Clients
    sim: SimState

    async def run(self, name: str) -> JobOutcome:
        """Run one job the way `prescientd once` does (one mirror flush after the job)."""
        builder = MirrorBuilder(self.store, self.config)
        clock = SystemClock()
        requested: set[Mirror] = set()

        async def publish(mirrors: set[Mirror]) -> None:
            requested.update(mirrors)

        ctx = make_context(self.config, 1, self.store, self.clients, clock, publish)
        outcome = await jobs.run_job(name, ctx, jobs.JOB_BODIES[name])
        await builder.write_many(requested, clock.now())
        return outcome


@asynccontextmanager
async def job_env(
    tmp_path: Path,
    *,
    n_events: int,
    extra: str = "",
    seed: int = 3,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> AsyncIterator[Env]:
    """The simulator (prices frozen at one step) and everything a job needs."""
    frozen = datetime.now(UTC).timestamp()
    async with running_simulator(seed=seed, n_events=n_events, clock=lambda: frozen) as sim:
        config = make_config(tmp_path, sim.url, extra)
        store_cm = open_store(config, busy_timeout_ms=busy_timeout_ms)
        async with store_cm as store, open_clients(config) as clients:
            yield Env(config, store, clients, sim.state)


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a mirror CSV, read as the README tells scripts to (it starts with a BOM)."""
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def snapshot_files(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
