"""Counters, change notices and per-connection state of the market stream (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

import aiohttp

MAX_RESOLVED_NOTICES: Final = 10_000


@dataclass(slots=True)
class StreamStats:
    """Counters since start, for metrics (`prescientd_stream_*`) and status."""

    connects: int = 0
    reconnects: int = 0  # connection attempts after a connection's first
    connect_failures: int = 0
    disconnects: int = 0
    messages: int = 0
    pongs: int = 0
    snapshots: int = 0
    deltas: int = 0
    ignored: int = 0
    malformed: int = 0
    stale_marks: int = 0
    silences: int = 0
    resyncs: int = 0
    circuit_opens: int = 0
    resolved: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A point-in-time view of the stream: gauges plus the counters."""

    running: bool
    poll_only: bool
    connections: int
    watched: int
    trusted: int
    stale: int
    counters: dict[str, int]


@dataclass(frozen=True, slots=True)
class StreamChanges:
    """What changed since the last call: tokens with a new trusted book, markets resolved.

    `received_at` gives each token's earliest change in the batch, on the stream's monotonic
    clock (the start of the signal-to-trade latency).
    """

    tokens: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()  # condition ids (custom feature `market_resolved`)
    received_at: Mapping[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.tokens or self.resolved)


class ChangeNotices:
    """Coalesced change notices: a set per kind, so a burst on one token is one notice."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.resolved: set[str] = set()
        self.received_at: dict[str, float] = {}
        self.ready = asyncio.Event()

    def add_tokens(self, tokens: Iterable[str], received_at: float) -> None:
        """Note tokens whose trusted book changed on a frame received at received_at."""
        before = len(self.tokens)
        for token in tokens:
            self.tokens.add(token)
            self.received_at.setdefault(token, received_at)
        if len(self.tokens) != before:
            self.ready.set()

    def add_resolved(self, condition_id: str) -> None:
        """Note a market announced resolved (bounded)."""
        if len(self.resolved) < MAX_RESOLVED_NOTICES:
            self.resolved.add(condition_id)
            self.ready.set()

    def discard(self, tokens: Iterable[str]) -> None:
        """Drop pending notices of tokens no longer watched."""
        for token in tokens:
            self.tokens.discard(token)
            self.received_at.pop(token, None)

    def take(self) -> StreamChanges:
        """Everything noted since the last take, and reset."""
        changes = StreamChanges(frozenset(self.tokens), frozenset(self.resolved), self.received_at)
        self.tokens.clear()
        self.resolved.clear()
        self.received_at = {}
        self.ready.clear()
        return changes


@dataclass(eq=False, slots=True)
class Connection:
    """One WebSocket connection's share of the watched tokens and its session state."""

    number: int
    assets: set[str] = field(default_factory=set)  # wanted on this connection
    subscribed: set[str] = field(default_factory=set)  # told to the live socket
    ws: aiohttp.ClientWebSocketResponse | None = None
    last_message_at: float = 0.0
    pongs: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    had_book: set[str] = field(default_factory=set)  # snapshot seen in this session
    resynced_at: dict[str, float] = field(default_factory=dict)
    resync_tries: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    log_next_at: float = 0.0
    log_suppressed: int = 0

    def reset_session(self) -> None:
        """Forget what the closed socket was told."""
        self.ws = None
        self.subscribed.clear()
        self.had_book.clear()
        self.resynced_at.clear()
        self.resync_tries.clear()
        self.pongs = 0


def capped_groups(groups: Iterable[Sequence[str]], max_assets: int) -> list[tuple[str, ...]]:
    """The groups (a market's tokens each, in priority order) that fit in max_assets tokens,
    each token once; a group that does not fit whole is left out."""
    out: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for group in groups:
        unique = tuple(t for t in dict.fromkeys(group) if t not in seen)
        if unique and len(seen) + len(unique) <= max_assets:
            out.append(unique)
            seen.update(unique)
    return out


def describe_error(exc: BaseException | None) -> str:
    """An exception in at most 200 characters for a log line."""
    if exc is None:
        return "unknown"
    text = str(exc) or type(exc).__name__
    return text[:200]
