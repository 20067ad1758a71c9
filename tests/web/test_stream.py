"""Server-sent events: delivery, Last-Event-ID resume, slow clients dropped, shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from prescientd.config import HttpConfig
from prescientd.web.events import EventHub, StreamClosed

from .fakes import serve

Sse = dict[str, str]


async def read_events(
    response: aiohttp.ClientResponse, count: int, timeout_s: float = 5.0
) -> list[Sse]:
    """The next count events (comments and the retry preamble skipped)."""
    events: list[Sse] = []
    current: Sse = {}
    async with asyncio.timeout(timeout_s):
        while len(events) < count:
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


@asynccontextmanager
async def stream(
    client: aiohttp.ClientSession, url: str = "/api/v1/stream", **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """An open event stream, closed (not drained: it never ends) on exit."""
    response = await client.get(url, **kwargs)
    try:
        yield response
    finally:
        response.close()


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Poll condition every 10 ms; fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_events_arrive_in_order_with_ids() -> None:
    """Published events reach a connected client with increasing ids, kinds and JSON data."""
    async with serve() as s, stream(s.client) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        await wait_until(lambda: s.hub.stats()["clients"] == 1, "the subscription")
        ids = [
            s.hub.publish("job_finished", {"job": "poll", "outcome": "ok", "duration_s": 1.5}),
            s.hub.publish("paper_trade", {"trade_id": 7, "question": "Will it rain?"}),
            s.hub.publish("prices", {"tokens": 412, "stale": 0}),
        ]
        events = await read_events(response, 3)
    numbers = [i for i in ids if i is not None]
    assert [int(e["id"]) for e in events] == numbers
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert [e["event"] for e in events] == ["job_finished", "paper_trade", "prices"]
    assert json.loads(events[1]["data"]) == {"trade_id": 7, "question": "Will it rain?"}


async def test_last_event_id_resumes() -> None:
    """Reconnecting with Last-Event-ID gives exactly the events missed, then live ones."""
    async with serve() as s:
        ids = [s.hub.publish("prices", {"n": n}) for n in range(5)]
        headers = {"Last-Event-ID": str(ids[1])}
        async with stream(s.client, headers=headers) as response:
            missed = await read_events(response, 3)
            await wait_until(lambda: s.hub.stats()["clients"] == 1, "the subscription")
            live = s.hub.publish("config_reloaded", {"version": 3})
            after = await read_events(response, 1)
    assert [json.loads(e["data"])["n"] for e in missed] == [2, 3, 4]
    assert [int(e["id"]) for e in missed] == ids[2:]
    assert (after[0]["event"], int(after[0]["id"])) == ("config_reloaded", live)


@pytest.mark.parametrize("which", ["too_old", "from_the_future", "from_another_run"])
async def test_unresumable_last_event_id_gets_resync(which: str) -> None:
    """When the missed events are not kept (or the id is not ours), one resync event says so."""
    settings = HttpConfig(port=0, sse_replay_size=2)
    hub = EventHub(replay_size=2, first_id=1000)
    async with serve(settings=settings, hub=hub) as s:
        ids = [s.hub.publish("prices", {"n": n}) for n in range(5)]
        assert ids[0] is not None and ids[-1] is not None
        last = {"too_old": ids[0], "from_the_future": ids[-1] + 50, "from_another_run": 17}[which]
        headers = {"Last-Event-ID": str(last)}
        async with stream(s.client, headers=headers) as response:
            first = await read_events(response, 1)
    assert first[0]["event"] == "resync"
    assert int(first[0]["id"]) == ids[-1]  # resuming from it later loses nothing more


async def test_caught_up_client_gets_nothing_old() -> None:
    """Last-Event-ID equal to the newest id replays nothing."""
    async with serve() as s:
        newest = [s.hub.publish("prices", {"n": n}) for n in range(3)][-1]
        headers = {"Last-Event-ID": str(newest)}
        async with stream(s.client, headers=headers) as response:
            await wait_until(lambda: s.hub.stats()["clients"] == 1, "the subscription")
            fresh = s.hub.publish("prices", {"n": 99})
            events = await read_events(response, 1)
    assert int(events[0]["id"]) == fresh


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 25])
async def test_malformed_last_event_id_is_400(value: str) -> None:
    """A Last-Event-ID that is not one of our ids answers 400."""
    async with serve() as s, stream(s.client, headers={"Last-Event-ID": value}) as response:
        status = response.status
    assert status == 400


async def test_keepalive_comments() -> None:
    """An idle stream carries a keepalive comment every sse_keepalive_s."""
    settings = HttpConfig(port=0, sse_keepalive_s=0.05)
    async with serve(settings=settings) as s, stream(s.client) as response:
        lines: list[bytes] = []
        async with asyncio.timeout(5):
            while lines.count(b": keepalive\n") < 3:
                lines.append(await response.content.readline())


async def test_too_many_clients_is_503() -> None:
    """Beyond sse_max_clients, a stream request answers 503 and the others stay open."""
    async with (
        serve(settings=HttpConfig(port=0, sse_max_clients=2)) as s,
        stream(s.client) as first,
        stream(s.client) as second,
    ):
        await wait_until(lambda: s.hub.stats()["clients"] == 2, "two subscriptions")
        async with stream(s.client) as third:
            body = await third.json()
        event_id = s.hub.publish("prices", {"n": 1})
        got = [await read_events(r, 1) for r in (first, second)]
    assert third.status == 503
    assert body["status"] == 503
    assert [int(g[0]["id"]) for g in got] == [event_id, event_id]


async def _stalled_client(port: int) -> socket.socket:
    """A client that asks for the stream, then never reads (a tiny receive buffer)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    await loop.sock_sendall(sock, request.encode())
    return sock


async def _read_until_closed(sock: socket.socket, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            while await loop.sock_recv(sock, 65536):
                pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def test_slow_client_is_dropped_while_others_keep_receiving() -> None:
    """A stalled client is cut off once its queue is full; a reading client misses nothing."""
    settings = HttpConfig(port=0, sse_queue_size=8, sse_keepalive_s=60)
    async with serve(settings=settings) as s:
        slow = await _stalled_client(s.port)
        fast = await s.client.get("/api/v1/stream")
        await wait_until(lambda: s.hub.stats()["clients"] == 2, "two subscriptions")
        received: list[Sse] = []

        async def follow() -> None:
            while True:
                received.extend(await read_events(fast, 1, timeout_s=30))

        reader = asyncio.create_task(follow())
        published: list[int | None] = []
        payload: dict[str, Any] = {"blob": "x" * 16000}
        for _ in range(3000):  # ~48 MB at most; the stalled path holds a few MB before it blocks
            published += [s.hub.publish("prices", payload) for _ in range(2)]
            await asyncio.sleep(0.005)
            if s.hub.stats()["clients_dropped_total"]:
                break
        assert s.hub.stats()["clients_dropped_total"] == 1
        assert s.hub.stats()["clients"] == 1
        published.append(s.hub.publish("paper_trade", {"trade_id": 1}))
        await wait_until(lambda: len(received) == len(published), "the fast client to catch up", 30)
        reader.cancel()
        fast.close()
        closed = await _read_until_closed(slow, timeout_s=10)
        slow.close()
    assert [int(e["id"]) for e in received] == published
    assert received[-1]["event"] == "paper_trade"
    assert closed, "the dropped client's connection was not closed"


async def test_shutdown_ends_open_streams_quickly() -> None:
    """Stopping the app ends every open stream at once (so SIGTERM exits promptly)."""
    async with aiohttp.ClientSession() as outside:
        started = time.monotonic()
        async with serve() as s:
            response = await outside.get(f"{s.base_url}/api/v1/stream")
            await wait_until(lambda: s.hub.stats()["clients"] == 1, "the subscription")
            started = time.monotonic()
        elapsed_s = time.monotonic() - started
        async with asyncio.timeout(5):
            rest = await response.content.read()
        response.close()
    assert elapsed_s < 2.0
    assert b"event:" not in rest


def test_publish_refuses_bad_events() -> None:
    """Unknown kinds and data that is not JSON-ready are refused and counted, never raised."""
    hub = EventHub(first_id=1)
    bad_kind: Any = "trade"
    assert hub.publish(bad_kind, {}) is None
    assert hub.publish("prices", {"x": float("nan")}) is None
    assert hub.publish("prices", {"x": object()}) is None
    assert hub.publish("prices", {"x": 1}) == 1
    assert hub.stats()["events_rejected_total"] == 3
    assert hub.stats()["events_published_total"] == 1


async def test_replay_larger_than_queue_resyncs() -> None:
    """A client that missed more events than its queue holds is told to resync instead."""
    hub = EventHub(queue_size=4, replay_size=100, first_id=1)
    for n in range(10):
        hub.publish("prices", {"n": n})
    sub = hub.subscribe(last_event_id=2)
    event = await sub.next(0.1)
    assert event is not None and event.kind == "resync"
    assert event.event_id == 10
    assert await sub.next(0.01) is None


async def test_closed_hub_ends_subscriptions() -> None:
    """close() ends waiting subscriptions; later subscriptions end at once."""
    hub = EventHub(first_id=1)
    sub = hub.subscribe()
    waiter = asyncio.create_task(sub.next(10))
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(StreamClosed):
        await waiter
    with pytest.raises(StreamClosed):
        await hub.subscribe().next(10)
