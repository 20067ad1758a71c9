"""Mutable simulator state: universe, clock, cached books, fault switches and the request log.

Everything the HTTP control routes (`/_sim/...`) do is a method here, so in-process tests can call
it directly. Prices depend only on (market, step) with `step = floor(clock() / price_step_s)`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from prescientd.sim.books import (
    PRICE_STR,
    PriceParams,
    Quote,
    book_levels,
    encode_book,
    mirror_levels,
    mix64,
    quote_at,
)
from prescientd.sim.universe import SimMarket, Universe, rfc3339

Clock = Callable[[], float]
Outcome = Literal["yes", "no", "50-50"]
Route = Literal["any", "gamma", "clob"]

FAULT_NAMES = (
    "reset",
    "books_down",
    "rate_limit",
    "server_error",
    "error_body",
    "slow_body",
    "stuck_cursor",
    "malformed_items",
    "malformed_books",
    "ws_drop",
    "ws_silence",
    "ws_malformed",
    "ws_garbage",
    "ws_unknown_asset",
)
"""`ws_*` act on `/ws/market` connections (see sim/stream.py); the others on HTTP requests."""


class SimError(Exception):
    """A control request the simulator refuses (unknown market, bad outcome, bad fault spec)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class FaultSwitch:
    """One fault: applies to the next `count` matching requests (None = until cleared).

    A request matches when its route group (`route`: any, gamma or clob) and `path_prefix` fit.
    Only some parameters matter per switch: rate_limit reads `retry_after_s`/`http_date`,
    server_error `statuses`
    (cycled), slow_body `delay_s`/`chunk_bytes`, malformed_items `include_huge`.
    """

    count: int | None = 1
    route: Route = "any"
    path_prefix: str = ""
    retry_after_s: int = 1
    http_date: bool = False
    statuses: tuple[int, ...] = (500, 502, 503)
    delay_s: float = 0.2
    chunk_bytes: int = 1024
    include_huge: bool = True
    fired: int = 0

    def matches(self, path: str, route: str) -> bool:
        """Whether this switch targets a request to `path` in route group `route`."""
        if self.count is not None and self.count <= 0:
            return False
        if self.route != "any" and self.route != route:
            return False
        return path.startswith(self.path_prefix)

    def consume(self) -> None:
        """Count one application."""
        self.fired += 1
        if self.count is not None:
            self.count -= 1

    def to_json(self) -> dict[str, Any]:
        """Plain dict for `GET /_sim/faults`."""
        d = asdict(self)
        d["statuses"] = list(self.statuses)
        return d


@dataclass(slots=True)
class Faults:
    """All fault switches; None = off. Checked in the order of the fields."""

    reset: FaultSwitch | None = None
    books_down: FaultSwitch | None = None
    rate_limit: FaultSwitch | None = None
    server_error: FaultSwitch | None = None
    error_body: FaultSwitch | None = None
    slow_body: FaultSwitch | None = None
    stuck_cursor: FaultSwitch | None = None
    malformed_items: FaultSwitch | None = None
    malformed_books: FaultSwitch | None = None
    ws_drop: FaultSwitch | None = None
    ws_silence: FaultSwitch | None = None
    ws_malformed: FaultSwitch | None = None
    ws_garbage: FaultSwitch | None = None
    ws_unknown_asset: FaultSwitch | None = None

    def take(self, name: str, path: str, route: str) -> FaultSwitch | None:
        """If switch `name` matches the request, count it down and return it."""
        switch: FaultSwitch | None = getattr(self, name)
        if switch is None or not switch.matches(path, route):
            return None
        switch.consume()
        return switch

    def to_json(self) -> dict[str, Any]:
        """Active switches as plain dicts."""
        out: dict[str, Any] = {}
        for f in fields(self):
            switch = getattr(self, f.name)
            if switch is not None:
                out[f.name] = switch.to_json()
        return out


_SWITCH_KEYS = {f.name for f in fields(FaultSwitch)} - {"fired"}


def parse_fault_switch(name: str, spec: Any) -> FaultSwitch | None:
    """Switch from JSON: int (count), true (until cleared), false/null (off) or an object."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return FaultSwitch(count=None)
    if isinstance(spec, int):
        return FaultSwitch(count=spec)
    if not isinstance(spec, Mapping):
        raise SimError(f"fault {name}: expected int, bool, null or object")
    unknown = set(spec) - _SWITCH_KEYS
    if unknown:
        raise SimError(f"fault {name}: unknown keys {sorted(unknown)}")
    kwargs = dict(spec)
    if "statuses" in kwargs:
        kwargs["statuses"] = tuple(int(s) for s in kwargs["statuses"])
    if kwargs.get("route", "any") not in ("any", "gamma", "clob"):
        raise SimError(f"fault {name}: route must be any, gamma or clob")
    try:
        return FaultSwitch(**kwargs)
    except TypeError as exc:
        raise SimError(f"fault {name}: {exc}") from exc


@dataclass(slots=True)
class RequestRecord:
    """One served request (control routes under /_sim/ are not recorded)."""

    method: str
    path: str
    query: str
    status: int | None = None
    """HTTP status sent; 0 when the connection was reset without a response."""
    n_token_ids: int | None = None
    """Items in a POST /books body (None for other routes or an invalid body)."""
    t_monotonic: float = 0.0
    fault: str | None = None
    """Name of the fault switch applied to this request, if any."""
    malformed_asset_ids: list[str] = field(default_factory=list)
    """Books the `malformed_books` fault corrupted in this response."""

    def to_json(self) -> dict[str, Any]:
        """Plain dict for `GET /_sim/requests`."""
        return asdict(self)


@dataclass(slots=True)
class WsStats:
    """What the `/ws/market` channel did (for tests and benchmarks)."""

    connections_open: int = 0
    connections_total: int = 0
    snapshots_sent: int = 0
    price_changes_sent: int = 0
    entries_sent: int = 0
    last_trades_sent: int = 0
    resolved_sent: int = 0
    pongs_sent: int = 0
    dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain dict for `GET /_sim/ws`."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Pin:
    """A market whose YES fair price was set by `/_sim/move`."""

    params: PriceParams
    set_at_ms: int


@dataclass(slots=True)
class _StepCache:
    step: int
    quotes: dict[str, tuple[Quote, ...]] = field(default_factory=dict)
    books: dict[str, tuple[bytes, ...]] = field(default_factory=dict)


class SimState:
    """The simulator: universe + clock + faults + request log + cached books."""

    def __init__(
        self,
        universe: Universe,
        *,
        clock: Clock | None = None,
        price_step_s: float = 5.0,
        resolve_interval_s: float | None = None,
        resolve_batch: int = 3,
    ) -> None:
        if price_step_s <= 0:
            raise ValueError("price_step_s must be > 0")
        if resolve_interval_s is not None and resolve_interval_s <= 0:
            raise ValueError("resolve_interval_s must be > 0")
        self.universe = universe
        self.clock: Clock = clock or time.time
        self.price_step_s = price_step_s
        self.resolve_interval_s = resolve_interval_s
        self.resolve_batch = resolve_batch
        self.faults = Faults()
        self.requests: deque[RequestRecord] = deque(maxlen=200_000)
        self._cache = _StepCache(step=-1)
        self._static: dict[str, tuple[bytes, ...]] = {}
        self._static_quotes: dict[str, tuple[Quote, ...]] = {}
        self._resolve_origin_s = self.clock()
        self._resolve_intervals_done = 0
        self._auto_proposed: list[tuple[str, float]] = []
        self._token_order = {t: mix64(int(t) & ((1 << 64) - 1)) for t in universe.token_index}
        self._pins: dict[str, _Pin] = {}
        self._listeners: set[Callable[[], None]] = set()
        self.book_version = 0
        """Bumped whenever books change other than by the clock (move, propose, resolve)."""
        self.ws_stats = WsStats()

    # -- time ------------------------------------------------------------------------------------

    def step(self) -> int:
        """Current price step."""
        return math.floor(self.clock() / self.price_step_s)

    def now(self) -> datetime:
        """Current time as an aware UTC datetime (from the injected clock)."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def _step_cache(self) -> _StepCache:
        step = self.step()
        if self._cache.step != step:
            self._cache = _StepCache(step=step)
        return self._cache

    # -- prices and books ------------------------------------------------------------------------

    def price_params(self, market: SimMarket) -> tuple[PriceParams, ...]:
        """How the market's prices move now: its own parameters, or the pinned YES price."""
        pin = self._pins.get(market.id)
        return market.prices if pin is None else (pin.params, *market.prices[1:])

    def quotes(self, market: SimMarket) -> tuple[Quote, ...]:
        """Current top of book per priced token (binary: YES only; NO is its mirror)."""
        params = self.price_params(market)
        if not any(p.moves for p in params):
            cached = self._static_quotes.get(market.id)
            if cached is None:
                cached = tuple(quote_at(p, 0) for p in params)
                self._static_quotes[market.id] = cached
            return cached
        cache = self._step_cache()
        found = cache.quotes.get(market.id)
        if found is None:
            found = tuple(quote_at(p, cache.step) for p in params)
            cache.quotes[market.id] = found
        return found

    def live_quotes(self, market: SimMarket) -> tuple[Quote, ...] | None:
        """Quotes if the market has a live book, else None."""
        return self.quotes(market) if market.has_book else None

    def _build_books(self, m: SimMarket, step: int) -> tuple[bytes, ...]:
        quotes = self.quotes(m)
        out: list[bytes] = []
        tick = m.tick_size
        pin = self._pins.get(m.id)
        for i, (params, quote) in enumerate(zip(self.price_params(m), quotes, strict=True)):
            ts_ms = round(step * self.price_step_s * 1000) if params.moves else params.static_ts_ms
            if pin is not None:
                # timestamp and hash change together: a pinned book changed at the pin
                ts_ms = max(ts_ms, pin.set_at_ms)
            bids, asks = book_levels(params, quote, step)
            last = PRICE_STR[quote.last_units]

            encode = functools.partial(
                encode_book,
                condition_id=m.condition_id,
                timestamp_ms=ts_ms,
                tick_size=tick,
                neg_risk=m.neg_risk,
                last_trade_price=last,
            )
            out.append(encode(asset_id=m.token_ids[i], bids_best_first=bids, asks_best_first=asks))
            if m.is_binary:
                # NO book is the exact mirror: NO bids = 1 - YES asks, NO asks = 1 - YES bids.
                out.append(
                    encode(
                        asset_id=m.token_ids[1],
                        bids_best_first=mirror_levels(asks),
                        asks_best_first=mirror_levels(bids),
                    )
                )
        return tuple(out)

    def _books(self, m: SimMarket) -> tuple[bytes, ...]:
        if not any(p.moves for p in self.price_params(m)):
            found = self._static.get(m.id)
            if found is None:
                found = self._build_books(m, 0)
                self._static[m.id] = found
            return found
        cache = self._step_cache()
        found = cache.books.get(m.id)
        if found is None:
            found = self._build_books(m, cache.step)
            cache.books[m.id] = found
        return found

    def book_bytes(self, token_id: str) -> bytes | None:
        """The JSON of a token's current book, or None if unknown or the market has no book."""
        entry = self.universe.token_index.get(token_id)
        if entry is None:
            return None
        market, index = entry
        if not market.has_book:
            return None
        return self._books(market)[index]

    def books_bytes(self, token_ids: list[str]) -> list[tuple[str, bytes]]:
        """Books of known, book-bearing tokens, deduplicated, in the server's own (hash) order."""
        found: dict[str, bytes] = {}
        for token in token_ids:
            if token in found:
                continue
            book = self.book_bytes(token)
            if book is not None:
                found[token] = book
        return sorted(found.items(), key=lambda item: self._token_order[item[0]])

    # -- lifecycle control -----------------------------------------------------------------------

    def market(self, market_id: str) -> SimMarket:
        """A market by Gamma id; SimError 404 if unknown."""
        found = self.universe.market_by_id.get(market_id)
        if found is None:
            raise SimError(f"unknown market {market_id!r}", status=404)
        return found

    def _stale_top(self, m: SimMarket) -> tuple[float, float, float] | None:
        if not m.has_book:
            return None
        q = self.quotes(m)[0]
        return (float(q.best_bid), float(q.best_ask), float(q.last_trade))

    def _close_event_if_done(self, m: SimMarket) -> None:
        event = self.universe.event_by_id[m.event_id]
        if not event.closed and all(child.closed for child in event.markets):
            event.closed = True
            event.closed_time = self.now().replace(microsecond=0)

    def propose(self, market_id: str) -> SimMarket:
        """Move an open market to umaResolutionStatus "proposed": no more orders, book vanishes."""
        m = self.market(market_id)
        if m.uma_resolution_status is not None or m.closed:
            raise SimError(
                f"market {market_id} is already {m.uma_resolution_status or 'closed'}", 409
            )
        if m.has_book:
            m.stale_quote = self._stale_top(m)
            frozen = self._display_prices(m)
        else:
            frozen = m.frozen_prices or tuple("0" for _ in m.outcomes)
        m.mark_proposed(frozen, self.now().replace(microsecond=0))
        self._pins.pop(m.id, None)
        self.books_changed()
        return m

    def resolve(self, market_id: str, outcome: Outcome) -> SimMarket:
        """Resolve a market: "yes" = outcome 0 wins, "no" = outcome 1 wins, "50-50" = both pay 0.5.

        The 50-50 shape (outcomePrices ["0.5","0.5"], CLOB is_50_50_outcome true, winner false on
        both) was never recorded live: it is this simulator's assumption.
        """
        if outcome not in ("yes", "no", "50-50"):
            raise SimError("outcome must be yes, no or 50-50")
        m = self.market(market_id)
        if m.resolved:
            raise SimError(f"market {market_id} is already resolved", status=409)
        winner = {"yes": 0, "no": 1, "50-50": None}[outcome]
        m.mark_resolved(winner, self.now().replace(microsecond=0), self._stale_top(m))
        self._close_event_if_done(m)
        self._pins.pop(m.id, None)
        self.books_changed()
        return m

    def _display_prices(self, m: SimMarket) -> tuple[str, ...]:
        quotes = self.quotes(m)
        if m.is_binary:
            yes = quotes[0].display
            return (_plain(yes), _plain(1 - yes))
        return tuple(q.display_text() for q in quotes)

    def run_due_resolutions(self) -> None:
        """Demo auto-resolution: each interval resolves the last batch of proposals, proposes anew.

        The winner is drawn with P(yes) = the YES display price at proposal time, from a generator
        seeded by (universe seed, interval index), so a run is reproducible for a given clock.
        """
        if self.resolve_interval_s is None:
            return
        due = math.floor((self.clock() - self._resolve_origin_s) / self.resolve_interval_s)
        # A long clock jump would otherwise resolve the whole universe at once.
        start = max(self._resolve_intervals_done, due - 100)
        for interval in range(start + 1, due + 1):
            self._auto_resolve_interval(interval)
        self._resolve_intervals_done = max(self._resolve_intervals_done, due)

    def _auto_resolve_interval(self, interval: int) -> None:
        rng = random.Random(f"prescientd-sim-resolve:{self.universe.seed}:{interval}")
        for market_id, p_yes in self._auto_proposed:
            m = self.universe.market_by_id[market_id]
            if m.uma_resolution_status == "proposed":
                self.resolve(market_id, "yes" if rng.random() < p_yes else "no")
        candidates = [m for m in self.universe.markets if m.tradable]
        picked = rng.sample(candidates, min(self.resolve_batch, len(candidates)))
        self._auto_proposed = []
        for m in picked:
            p_yes = float(self.quotes(m)[0].display)
            self.propose(m.id)
            self._auto_proposed.append((m.id, p_yes))

    # -- price control and change listeners -------------------------------------------------------

    def move(self, market_id: str, yes_price: Decimal | None) -> SimMarket:
        """Pin a binary market's YES fair price from now on (None releases it); books change now.

        The book keeps its usual shape around the pinned price (spread, depth, sizes per step), so
        the YES display price lands within a tick or so of `yes_price`.
        """
        m = self.market(market_id)
        if not (m.is_binary and m.has_book):
            raise SimError(f"market {market_id} has no live binary book to move", status=409)
        if yes_price is None:
            self._pins.pop(m.id, None)
        else:
            if not (yes_price.is_finite() and 0 < yes_price < 1):
                raise SimError("yes_price must be a number strictly between 0 and 1")
            pinned = dataclasses.replace(
                m.prices[0], base=float(yes_price), amplitude=0.0, noise=0.0, moves=True
            )
            self._pins[m.id] = _Pin(pinned, math.floor(self.clock() * 1000))
        for cache in (self._cache.quotes, self._cache.books, self._static, self._static_quotes):
            cache.pop(m.id, None)
        self.books_changed()
        return m

    def books_changed(self) -> None:
        """Tell the WebSocket channel that books changed other than by the clock."""
        self.book_version += 1
        self.notify_listeners()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call callback (no arguments, must not block) after books or faults change."""
        self._listeners.add(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling callback."""
        self._listeners.discard(callback)

    def notify_listeners(self) -> None:
        """Wake every listener (the `/ws/market` connections)."""
        for callback in list(self._listeners):
            callback()

    # -- faults and request log ------------------------------------------------------------------

    def set_faults(self, spec: Mapping[str, Any]) -> None:
        """Set (null/false: clear) switches from JSON; `slow_body_s: x` = slow_body x s, once."""
        parsed: dict[str, FaultSwitch | None] = {}
        for name, value in spec.items():
            if name == "slow_body_s":
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise SimError("slow_body_s must be a number")
                parsed["slow_body"] = FaultSwitch(count=1, delay_s=float(value)) if value else None
                continue
            if name not in FAULT_NAMES:
                raise SimError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
            parsed[name] = parse_fault_switch(name, value)
        for name, switch in parsed.items():
            setattr(self.faults, name, switch)
        self.notify_listeners()

    def clear_faults(self) -> None:
        """Turn every fault off."""
        self.faults = Faults()
        self.notify_listeners()

    def log_request(self, method: str, path: str, query: str) -> RequestRecord:
        """Append a request to the log and return its record (the caller fills in the status)."""
        record = RequestRecord(method=method, path=path, query=query, t_monotonic=time.monotonic())
        self.requests.append(record)
        return record

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.requests.clear()

    # -- ground truth ----------------------------------------------------------------------------

    def market_truth(self, m: SimMarket) -> dict[str, Any]:
        """Ground truth of one market (prices as decimal strings; YES = outcome 0)."""
        truth: dict[str, Any] = {
            "id": m.id,
            "event_id": m.event_id,
            "kind": str(m.kind),
            "tradable": m.tradable,
            "has_book": m.has_book,
            "active": m.active,
            "closed": m.closed,
            "accepting_orders": m.accepting_orders,
            "enable_order_book": m.enable_order_book,
            "uma_resolution_status": m.uma_resolution_status,
            "event_closed": self.universe.event_by_id[m.event_id].closed,
            "question": m.question,
            "outcomes": list(m.outcomes),
            "token_ids": list(m.token_ids),
            "condition_id": m.condition_id,
            "neg_risk": m.neg_risk,
            "neg_risk_other": m.neg_risk_other,
            "liquidity": m.liquidity,
            "volume": m.volume,
            "volume_24h": m.volume_24h,
            "end_date": rfc3339(m.end_date),
            "tags": [t.slug for t in m.tags],
            "tick_size": m.tick_size,
            "fees_enabled": m.fees_enabled,
            "fee_rate": m.fee_schedule.rate if m.fee_schedule else None,
            "fee_exponent": m.fee_schedule.exponent if m.fee_schedule else None,
            "resolved": m.resolved,
            "winner": _winner_label(m),
            "outcome_prices": list(m.frozen_prices) if not m.has_book and m.frozen_prices else None,
            "yes_best_bid": None,
            "yes_best_ask": None,
            "yes_mid": None,
            "yes_last_trade": None,
            "yes_display": None,
            "price_moves": any(p.moves for p in self.price_params(m)),
        }
        if m.has_book:
            q = self.quotes(m)[0]
            truth.update(
                yes_best_bid=PRICE_STR[q.bid_units],
                yes_best_ask=PRICE_STR[q.ask_units],
                yes_mid=q.mid_text(),
                yes_last_trade=PRICE_STR[q.last_units],
                yes_display=q.display_text(),
            )
        return truth

    def ground_truth(self) -> list[dict[str, Any]]:
        """Ground truth of every market, in id order."""
        return [self.market_truth(m) for m in self.universe.markets]


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _winner_label(m: SimMarket) -> str | None:
    if not m.resolved:
        return None
    if m.winner_index is None:
        return "50-50"
    return "yes" if m.winner_index == 0 else "no"
