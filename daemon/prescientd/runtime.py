"""Opening and closing the process-wide resources: the store, the one HTTP session, the clients."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
import structlog

from prescientd.clock import Clock
from prescientd.config import Config
from prescientd.jobs import JobContext
from prescientd.mirrors.build import Mirror
from prescientd.mirrors.files import sweep_temp_files
from prescientd.polymarket.clob import ClobClient
from prescientd.polymarket.gamma import GammaClient
from prescientd.polymarket.http import HostClient, make_session
from prescientd.store.db import BUSY_TIMEOUT_MS, Store

LOCK_NAME = "prescientd.lock"

log = structlog.get_logger(__name__)


class AlreadyRunning(Exception):
    """Another prescientd process holds the data directory's lock."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on data_dir so two writers never run at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise AlreadyRunning(
                f"another prescientd (pid {holder}) is using {data_dir}; stop it or send it SIGHUP"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def config_sha256(config: Config) -> str:
    """A digest of the effective configuration (what a version number stands for)."""
    return hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()


@dataclass
class Clients:
    """The HTTP session and the two API clients built on it."""

    session: aiohttp.ClientSession
    gamma: GammaClient
    clob: ClobClient


@contextlib.asynccontextmanager
async def open_clients(config: Config) -> AsyncIterator[Clients]:
    """One aiohttp session per process, with a rate-limited client per host."""
    pm = config.polymarket
    session = make_session(
        pm.user_agent,
        connect_timeout_s=pm.connect_timeout_s,
        request_timeout_s=pm.request_timeout_s,
    )
    try:

        def host(url: str, rate: int) -> HostClient:
            return HostClient(
                session,
                url,
                requests_per_10s=rate,
                max_concurrency=pm.max_concurrent_requests,
                max_attempts=pm.max_attempts,
                backoff_base_s=pm.backoff_base_s,
                backoff_max_s=pm.backoff_max_s,
                retry_after_max_s=pm.retry_after_max_s,
                max_response_bytes=int(pm.max_response_mb * 1024 * 1024),
                connect_timeout_s=pm.connect_timeout_s,
                request_timeout_s=pm.request_timeout_s,
            )

        gamma_http = host(pm.gamma_url, pm.gamma_requests_per_10s)
        clob_http = host(pm.clob_url, pm.clob_requests_per_10s)
        yield Clients(
            session=session,
            gamma=GammaClient(
                gamma_http,
                page_limit=pm.page_limit,
                max_pages=pm.max_pages,
                max_item_bytes=int(pm.max_item_kb * 1024),
            ),
            clob=ClobClient(clob_http, books_per_request=pm.books_per_request),
        )
    finally:
        await session.close()


@contextlib.asynccontextmanager
async def open_store(
    config: Config, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> AsyncIterator[Store]:
    """The store, created with the starting deposit if new; always closed."""
    store = await Store.open(
        config.paths.db_path,
        starting_balance_usd=config.paper.starting_balance_usd,
        busy_timeout_ms=busy_timeout_ms,
    )
    try:
        yield store
    finally:
        await store.close()


def make_context(
    config: Config,
    config_version: int,
    store: Store,
    clients: Clients,
    clock: Clock,
    publish: Callable[[set[Mirror]], Awaitable[None]],
) -> JobContext:
    """The context a job runs with."""
    return JobContext(
        config=config,
        config_version=config_version,
        store=store,
        gamma=clients.gamma,
        clob=clients.clob,
        clock=clock,
        publish=publish,
    )


@dataclass
class Session:
    """What `run` and `once` start with: the store, the HTTP clients and the config version."""

    store: Store
    clients: Clients
    config_version: int


@contextlib.asynccontextmanager
async def start_session(config: Config) -> AsyncIterator[Session]:
    """The one start-up path of `run` and `once` (the caller holds the data-dir lock): open the
    store and the clients, remove temp files a crash left behind, record the config version."""
    async with open_store(config) as store, open_clients(config) as clients:
        removed = sweep_temp_files(config.paths.data_dir)
        if removed:
            log.info("temp_files_removed", count=len(removed))
        version = await store.record_config_version(
            sha256=config_sha256(config),
            source="start",
            changed_keys=[],
            strategy_json=config.strategy.model_dump_json(),
        )
        yield Session(store=store, clients=clients, config_version=version)
