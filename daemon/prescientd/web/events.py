"""Live events for `/api/v1/stream`: a hub the daemon publishes to, bounded in every direction.

The daemon calls `EventHub.publish(kind, data)` from its own tasks; publishing never blocks and
never waits for a client. Each subscriber has a bounded queue: a client that falls `queue_size`
events behind is dropped (its connection is closed), so a slow or stalled reader can cost at most
its queue. The last `replay_size` events are kept so a client reconnecting with `Last-Event-ID`
resumes where it stopped; when the events it missed are no longer kept (or it saw another process
run), it gets one `resync` event telling it to re-read the API instead.

Event ids are integers that increase for the life of the hub. They start at the wall-clock
milliseconds at creation, so ids of a restarted daemon are larger than those of the previous run
and an old `Last-Event-ID` is recognised as "not from this run".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import structlog

from prescientd.config import HttpConfig

log = structlog.get_logger(__name__)

EventKind = Literal["job_finished", "paper_trade", "position_settled", "config_reloaded", "prices"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
RESYNC = "resync"


class StreamClosed(Exception):
    """The subscription ended: the hub closed, or the client fell behind and was dropped."""


@dataclass(frozen=True, slots=True)
class Event:
    """One published event, serialised once for every client."""

    event_id: int
    kind: str
    data_json: str

    def encode(self) -> bytes:
        """The event in the text/event-stream wire format."""
        return f"id: {self.event_id}\nevent: {self.kind}\ndata: {self.data_json}\n\n".encode()


class Subscription:
    """One client's view of the hub: a bounded queue of events and a reason it ended."""

    def __init__(self, queue_size: int) -> None:
        self._items: deque[Event] = deque()
        self._queue_size = queue_size
        self._wakeup = asyncio.Event()
        self._on_drop: list[Callable[[], None]] = []
        self.ended: Literal["closed", "dropped"] | None = None

    def on_drop(self, callback: Callable[[], None]) -> None:
        """Call callback (e.g. abort the connection) if this client is dropped for lagging."""
        self._on_drop.append(callback)

    def offer(self, event: Event) -> bool:
        """Queue an event; False when the queue is full (the client is too slow)."""
        if self.ended is not None:
            return True
        if len(self._items) >= self._queue_size:
            return False
        self._items.append(event)
        self._wakeup.set()
        return True

    def end(self, reason: Literal["closed", "dropped"]) -> None:
        """End the subscription; a dropped one runs its on_drop callbacks."""
        if self.ended is not None:
            return
        self.ended = reason
        self._items.clear()
        self._wakeup.set()
        if reason == "dropped":
            for callback in self._on_drop:
                with contextlib.suppress(Exception):
                    callback()

    async def next(self, timeout_s: float) -> Event | None:
        """The next event, or None after timeout_s with nothing to send; StreamClosed when ended."""
        if not self._items and self.ended is None:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout_s)
        if self.ended is not None:
            raise StreamClosed(self.ended)
        return self._items.popleft() if self._items else None

    @property
    def pending(self) -> int:
        """Events queued and not yet sent."""
        return len(self._items)


class EventHub:
    """Fan-out of daemon events to stream clients, with a replay ring for Last-Event-ID."""

    def __init__(
        self,
        *,
        queue_size: int = 256,
        replay_size: int = 1000,
        first_id: int | None = None,
    ) -> None:
        self._queue_size = queue_size
        self._ring: deque[Event] = deque(maxlen=replay_size)
        self._subscribers: set[Subscription] = set()
        self._next_id = first_id if first_id is not None else time.time_ns() // 1_000_000
        self._first_id = self._next_id
        self._closed = False
        self._published = 0
        self._dropped_clients = 0
        self._rejected_events = 0

    # -- the daemon's side -----------------------------------------------------------------------
    def publish(self, kind: EventKind, data: Mapping[str, Any]) -> int | None:
        """Send an event to every client; returns its id (None if refused). Never blocks."""
        if kind not in EVENT_KINDS:
            self._rejected_events += 1
            log.error("event_rejected", kind=kind, error="unknown event kind")
            return None
        try:
            data_json = json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            self._rejected_events += 1
            log.error("event_rejected", kind=kind, error=f"not JSON-ready: {exc}")
            return None
        event = Event(self._next_id, kind, data_json)
        self._next_id += 1
        self._published += 1
        self._ring.append(event)
        for sub in list(self._subscribers):
            if not sub.offer(event):
                self._drop(sub)
        return event.event_id

    def close(self) -> None:
        """End every stream (on shutdown); later subscriptions end at once."""
        self._closed = True
        for sub in list(self._subscribers):
            sub.end("closed")
        self._subscribers.clear()

    @classmethod
    def from_config(cls, http: HttpConfig) -> EventHub:
        """A hub sized by the [http] section (sse_queue_size, sse_replay_size)."""
        return cls(queue_size=http.sse_queue_size, replay_size=http.sse_replay_size)

    # -- the stream handler's side ---------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once close() was called (the daemon is stopping)."""
        return self._closed

    @property
    def clients(self) -> int:
        """Open subscriptions."""
        return len(self._subscribers)

    def subscribe(self, last_event_id: int | None = None) -> Subscription:
        """A new subscription, pre-filled with the events after last_event_id when still kept."""
        sub = Subscription(self._queue_size)
        if self._closed:
            sub.end("closed")
            return sub
        if last_event_id is not None:
            for event in self._missed(last_event_id):
                if not sub.offer(event):
                    # more missed events than the queue holds: cheaper to re-read than replay
                    sub = Subscription(self._queue_size)
                    sub.offer(self._resync_event())
                    break
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscription (its client went away)."""
        self._subscribers.discard(sub)
        sub.end("closed")

    def _missed(self, last_event_id: int) -> list[Event]:
        newest = self._next_id - 1
        if last_event_id == newest:
            return []
        kept_from = self._ring[0].event_id - 1 if self._ring else newest
        if kept_from <= last_event_id < newest:
            return [e for e in self._ring if e.event_id > last_event_id]
        # older than the ring, or an id this hub never issued (another run of the daemon)
        return [self._resync_event()]

    def _resync_event(self) -> Event:
        # id = the newest id, so the client's next Last-Event-ID resumes from here
        data = {"reason": "events missed since Last-Event-ID are not kept; re-read the API"}
        return Event(self._next_id - 1, RESYNC, json.dumps(data, separators=(",", ":")))

    def _drop(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        self._dropped_clients += 1
        log.warning("stream_client_dropped", reason="fell behind", queue_size=self._queue_size)
        sub.end("dropped")

    def stats(self) -> dict[str, float]:
        """Counters for /metrics (prescientd_sse_*)."""
        return {
            "clients": len(self._subscribers),
            "events_published_total": self._published,
            "clients_dropped_total": self._dropped_clients,
            "events_rejected_total": self._rejected_events,
        }
