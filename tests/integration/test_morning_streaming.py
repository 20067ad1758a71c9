"""The morning streams the universe: pages into the filter and a staged compressed payload,
without the job lock until its one swapping transaction (so polls keep running meanwhile).

Against the simulator over loopback, with a real SQLite file and the daemon's own job runner.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from job_env import job_env
from prescientd.clock import SystemClock
from prescientd.daemon import Daemon, MirrorWriter
from prescientd.notify import Notifier
from prescientd.polymarket.gamma import GammaClient, OnPage, PagingSummary
from prescientd.polymarket.http import QueryParams
from prescientd.store import raw_payloads


async def test_raw_payload_is_the_dump_of_every_kept_event_in_chunks(tmp_path: Path) -> None:
    """The streamed backup is byte for byte json.dumps of all raw events, staged in chunks."""
    async with job_env(tmp_path, n_events=1500) as env:
        outcome = await env.run("morning")
        assert outcome.ok, outcome.error
        whole = await env.clients.gamma.fetch_events({"closed": "false"})
        expected = json.dumps(list(whole.raw_events), ensure_ascii=False, allow_nan=False)
        stored = await env.store.raw_events_payload()
        assert stored == expected.encode("utf-8")
        digest = await env.store.raw_events_digest()
        assert digest == (hashlib.sha256(stored).hexdigest(), len(stored))
        chunks = await env.store.db.read(
            "SELECT kind, COUNT(*), MAX(LENGTH(data)) FROM raw_payload_chunks GROUP BY kind"
        )
        assert len(chunks) == 1 and chunks[0][0] == "events"
        assert chunks[0][1] >= 2 and chunks[0][2] <= 2 * raw_payloads.CHUNK_BYTES
        backup = env.config.paths.data_dir / "events" / "raw_events_backup.json"
        assert backup.read_bytes() == stored
        assert outcome.counts["raw_bytes"] == len(stored)


async def test_a_failed_morning_keeps_the_payload_and_its_chunks_are_dropped_later(
    tmp_path: Path,
) -> None:
    """Pages staged by a morning that failed never replace the payload; the next morning clears
    them first."""
    async with job_env(tmp_path, n_events=1500) as env:
        assert (await env.run("morning")).ok
        before = await env.store.raw_events_payload()
        refresh = await env.store.latest_refresh()
        real = env.clients.gamma
        env.clients.gamma = Failing(real, env, after_pages=8)
        failed = await env.run("morning")
        assert not failed.ok and failed.error is not None and "failed after" in failed.error
        staged = await env.store.db.read(
            "SELECT COUNT(*) FROM raw_payload_chunks WHERE kind = 'staging:events'"
        )
        assert staged[0][0] >= 1  # what the failed morning had staged...
        assert await env.store.raw_events_payload() == before  # ...never replaced the payload
        assert await env.store.latest_refresh() == refresh
        env.sim.clear_faults()
        env.clients.gamma = real
        assert (await env.run("morning")).ok
        kinds = await env.store.db.read("SELECT DISTINCT kind FROM raw_payload_chunks")
        assert [r[0] for r in kinds] == ["events"]


class Failing(GammaClient):
    """A GammaClient after whose n-th page of events the simulator's Gamma starts failing."""

    def __init__(self, inner: GammaClient, env: Any, after_pages: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.env = env
        self.after_pages = after_pages

    async def stream_events(self, params: QueryParams, on_page: OnPage) -> PagingSummary:
        pages = 0

        async def counted(events: list[Any], raw: list[dict[str, Any]]) -> None:
            nonlocal pages
            await on_page(events, raw)
            pages += 1
            if pages == self.after_pages:
                self.env.sim.set_faults({"server_error": {"count": 1000, "route": "gamma"}})

        return await super().stream_events(params, counted)


class GatedGamma(GammaClient):
    """A GammaClient whose event paging stops after the first page until released."""

    def __init__(self, inner: GammaClient) -> None:
        self.__dict__.update(inner.__dict__)
        self.paused = asyncio.Event()
        self.release = asyncio.Event()
        self.fetched = asyncio.Event()

    async def stream_events(self, params: QueryParams, on_page: OnPage) -> PagingSummary:
        first = True

        async def gated(events: list[Any], raw: list[dict[str, Any]]) -> None:
            nonlocal first
            await on_page(events, raw)
            if first:
                first = False
                self.paused.set()
                await self.release.wait()

        summary = await super().stream_events(params, gated)
        self.fetched.set()
        return summary


async def test_polls_run_while_a_morning_fetches_and_wait_only_for_its_swap(
    tmp_path: Path,
) -> None:
    """A poll completes while the morning is paging; the morning's refresh waits for a running
    job and commits as one transaction after it."""
    async with job_env(tmp_path, n_events=1500) as env:
        path = tmp_path / "prescientd.toml"
        path.write_text("")
        daemon = Daemon(
            path, env.config, clock=SystemClock(), notifier=Notifier("", ""), base_dir=tmp_path
        )
        daemon.config_version = 1
        daemon._store = env.store
        gated = GatedGamma(env.clients.gamma)
        daemon._clients = replace(env.clients, gamma=gated)
        daemon._mirrors = MirrorWriter(env.store, lambda: env.config, daemon.clock, daemon.job_lock)
        gated.release.set()
        assert (await daemon.run_job_now("morning")).ok
        assert (await daemon.run_job_now("poll")).ok
        first_refresh = await env.store.latest_refresh()
        assert first_refresh is not None

        gated.paused.clear()
        gated.release.clear()
        morning = asyncio.create_task(daemon.run_job_now("morning"))
        await asyncio.wait_for(gated.paused.wait(), 30)
        poll = await asyncio.wait_for(daemon.run_job_now("poll"), 60)
        assert poll.ok and poll.counts["markets"] > 0 and not morning.done()

        async with daemon.job_lock:  # a job is running when the morning's fetch ends
            gated.release.set()
            await asyncio.wait_for(gated.fetched.wait(), 60)
            for _ in range(20):
                await asyncio.sleep(0)
            assert not morning.done()
            latest = await env.store.latest_refresh()
            assert latest is not None and latest.refresh_id == first_refresh.refresh_id
        outcome = await asyncio.wait_for(morning, 60)
        assert outcome.ok, outcome.error
        latest = await env.store.latest_refresh()
        assert latest is not None and latest.refresh_id == first_refresh.refresh_id + 1
