"""Opening and closing the process-wide resources: the store, the one HTTP session, the clients."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import structlog

from prescientd.clock import Clock
from prescientd.config import Config, PathsConfig, decision_inputs
from prescientd.jobs import JobContext
from prescientd.mirrors.build import Mirror
from prescientd.mirrors.files import sweep_temp_files
from prescientd.observe import NO_OBSERVER, HttpObserver, JobObserver
from prescientd.permissions import database_files, make_dirs, open_private, restrict_file
from prescientd.polymarket.clob import ClobClient
from prescientd.polymarket.gamma import GammaClient
from prescientd.polymarket.http import HostClient, make_session
from prescientd.store.db import BUSY_TIMEOUT_MS, Store
from prescientd.store.safety import prepare_for_write

LOCK_NAME = "prescientd.lock"
DB_LOCK_SUFFIX = ".lock"  # prescient.db.lock beside the database

log = structlog.get_logger(__name__)


class AlreadyRunning(Exception):
    """Another prescientd process holds the data directory's or the database's lock."""


LOCK_ATTEMPTS = 20  # a lock file replaced this many times in a row while we take it: give up


def _same_file(fd: int, path: Path) -> bool:
    """Whether path still names the file open on fd (followed, as open() follows it)."""
    try:
        linked = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (linked.st_dev, linked.st_ino) == (held.st_dev, held.st_ino)


def _lock_file(path: Path, what: str) -> IO[str]:
    """Open path (creating it 0640) and hold an exclusive flock on the file path names.

    A clean exit removes the lock file while still holding it, so a starter that opened it just
    before may get the lock on a file that is no longer linked: it checks that path still names
    its file and starts over if not. Only a holder removes the file, so the file a process holds
    after the check stays the one at path until it exits. A crash leaves the file behind,
    unlocked: it is taken over (its pid overwritten).
    """
    make_dirs(path.parent)
    for _ in range(LOCK_ATTEMPTS):
        handle: IO[str] = os.fdopen(open_private(path, os.O_RDWR), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another prescientd (pid {holder}) is using {what}; stop it or send it SIGHUP"
            ) from exc
        except BaseException:
            handle.close()
            raise
        if _same_file(handle.fileno(), path):
            return handle
        handle.close()  # removed or replaced by a writer that exited meanwhile: again
    raise AlreadyRunning(
        f"the lock file {path} keeps being replaced; is another prescientd starting?"
    )


@contextlib.contextmanager
def _exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive flock on path (0640, holding our pid) or raise AlreadyRunning; on exit
    remove the file (while still holding it), so a lock file exists only while its holder runs."""
    handle = _lock_file(path, what)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):  # a read-only directory: the file stays, unlocked
            if _same_file(handle.fileno(), path):
                path.unlink()
        handle.close()


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on data_dir so two writers never run at once."""
    with _exclusive_lock(data_dir / LOCK_NAME, str(data_dir)):
        yield


def db_lock_path(db_path: Path) -> Path:
    """The lock file of a database: prescient.db.lock beside it."""
    return db_path.with_name(db_path.name + DB_LOCK_SUFFIX)


@contextlib.contextmanager
def writer_lock(paths: PathsConfig) -> Iterator[None]:
    """The locks of a writing command: its data directory and its database.

    The database's own lock means a second daemon with another data_dir but the same db_path
    is refused too (always taken in this order, without waiting, so two never deadlock).
    """
    with (
        data_dir_lock(paths.data_dir),
        _exclusive_lock(db_lock_path(paths.db_path), f"the database {paths.db_path}"),
    ):
        yield


def config_sha256(config: Config) -> str:
    """A digest of the effective configuration (what a version number stands for)."""
    return hashlib.sha256(config.model_dump_json().encode("utf-8")).hexdigest()


async def record_config_version(
    store: Store, config: Config, *, source: str, changed_keys: list[str]
) -> int:
    """Record config as a version with every key a decision of any strategy depends on (so a
    replay can apply each version where it was loaded); an unchanged start keeps the number."""
    return await store.record_config_version(
        sha256=config_sha256(config),
        source=source,
        changed_keys=changed_keys,
        strategy_json=config.strategy.model_dump_json(),
        decision_inputs_json=json.dumps(decision_inputs(config), sort_keys=True),
    )


@dataclass
class Clients:
    """The HTTP session and the two API clients built on it."""

    session: aiohttp.ClientSession
    gamma: GammaClient
    clob: ClobClient


@contextlib.asynccontextmanager
async def open_clients(
    config: Config, observer: HttpObserver = NO_OBSERVER
) -> AsyncIterator[Clients]:
    """One aiohttp session per process, with a rate-limited client per host (each response and
    retry reported to observer as api "gamma" or "clob")."""
    pm = config.polymarket
    session = make_session(
        pm.user_agent,
        connect_timeout_s=pm.connect_timeout_s,
        request_timeout_s=pm.request_timeout_s,
    )
    try:

        def host(api: str, url: str, rate: int) -> HostClient:
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
                api=api,
                observer=observer,
            )

        gamma_http = host("gamma", pm.gamma_url, pm.gamma_requests_per_10s)
        clob_http = host("clob", pm.clob_url, pm.clob_requests_per_10s)
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
    """The store for writing, after the start-up checks of store/safety.py; always closed.

    A database is created (with the starting deposit) only when the data directory holds no
    history; a damaged, empty or missing one next to history is refused (DatabaseRefused).
    """
    db_path = config.paths.db_path
    create = await asyncio.to_thread(prepare_for_write, db_path, config.paths.data_dir)
    store = await Store.open(
        db_path,
        starting_balance_usd=config.paper.starting_balance_usd,
        busy_timeout_ms=busy_timeout_ms,
        create=create,
    )
    try:
        if create:
            log.info(
                "database_created",
                path=str(db_path),
                starting_balance_usd=str(config.paper.starting_balance_usd),
            )
        for path in database_files(db_path):  # -wal/-shm appear with the first connection
            await asyncio.to_thread(restrict_file, path)
        try:  # once after the upgrade to schema v3: the v1 snapshots' daily bars (needs the tz)
            await store.collapse_legacy_snapshots(config.tz)
        except sqlite3.Error as exc:  # retried at the next start; the v1 table is kept meanwhile
            log.error("legacy_snapshots_not_collapsed", error=str(exc))
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
    observer: JobObserver = NO_OBSERVER,
    exclusive: Callable[[], AbstractAsyncContextManager[Any]] = contextlib.nullcontext,
) -> JobContext:
    """The context a job runs with (exclusive: see JobContext)."""
    return JobContext(
        config=config,
        config_version=config_version,
        store=store,
        gamma=clients.gamma,
        clob=clients.clob,
        clock=clock,
        publish=publish,
        observer=observer,
        exclusive=exclusive,
    )


@dataclass
class Session:
    """What `run` and `once` start with: the store, the HTTP clients and the config version."""

    store: Store
    clients: Clients
    config_version: int


@contextlib.asynccontextmanager
async def start_session(
    config: Config, *, http_observer: HttpObserver = NO_OBSERVER
) -> AsyncIterator[Session]:
    """The one start-up path of `run` and `once` (the caller holds the data-dir lock): open the
    store and the clients, remove temp files a crash left behind, record the config version."""
    async with open_store(config) as store, open_clients(config, http_observer) as clients:
        removed = sweep_temp_files(config.paths.data_dir)
        if removed:
            log.info("temp_files_removed", count=len(removed))
        version = await record_config_version(store, config, source="start", changed_keys=[])
        yield Session(store=store, clients=clients, config_version=version)
