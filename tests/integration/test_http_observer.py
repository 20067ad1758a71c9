"""HostClient reports each response and retry to its observer (the daemon's HTTP metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from conftest import serve
from prescientd.polymarket.http import FetchError, HostClient, make_session


class Seen:
    """An HttpObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int | None]] = []
        self.retries: list[str] = []

    def http_response(self, api: str, status: int | None) -> None:
        """Remember a response."""
        self.responses.append((api, status))

    def http_retry(self, api: str) -> None:
        """Remember a retry."""
        self.retries.append(api)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session as the daemon builds it."""
    async with make_session("prescientd-test/1.0", connect_timeout_s=2, request_timeout_s=5) as s:
        yield s


def _client(session: aiohttp.ClientSession, url: str, seen: Seen, **extra: Any) -> HostClient:
    return HostClient(
        session,
        url,
        requests_per_10s=1000,
        max_concurrency=4,
        max_attempts=3,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        retry_after_max_s=5,
        max_response_bytes=100_000,
        connect_timeout_s=2,
        request_timeout_s=2,
        api="clob",
        observer=seen,
        **extra,
    )


async def test_each_attempt_is_one_response_and_each_retry_is_counted(
    session: aiohttp.ClientSession,
) -> None:
    """503, then 200: two responses of api "clob" with their statuses and one retry."""
    replies = [503, 200]

    async def books(request: web.Request) -> web.Response:
        return web.json_response([], status=replies.pop(0))

    seen = Seen()
    async with serve({"/books": books}) as url:
        assert await _client(session, url, seen).post_json("/books", []) == []
    assert seen.responses == [("clob", 503), ("clob", 200)]
    assert seen.retries == ["clob"]


async def test_no_response_is_counted_as_none(session: aiohttp.ClientSession) -> None:
    """A refused connection is a response of status None on every attempt."""
    seen = Seen()
    async with serve({}) as url:
        pass  # the server is gone: the port refuses connections
    with pytest.raises(FetchError):
        await _client(session, url, seen).get_json("/markets/1")
    assert seen.responses == [("clob", None)] * 3 and seen.retries == ["clob"] * 2


async def test_a_404_is_one_4xx_and_no_retry(session: aiohttp.ClientSession) -> None:
    """A 404 the caller accepts is still a response; nothing is retried."""
    seen = Seen()
    async with serve({}) as url:
        assert await _client(session, url, seen).get_json("/x", not_found_ok=True) is None
    assert seen.responses == [("clob", 404)] and seen.retries == []
