"""aiohttp application serving the Gamma and CLOB endpoints prescientd uses, plus `/_sim/` controls.

`/ws/market` (the WebSocket market channel) lives in sim/stream.py.

One app answers both hosts (gamma_url = clob_url = the simulator URL). `GET /markets/{id}` is Gamma
when the id is numeric and CLOB when it starts with `0x` (a condition id).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextvars
import email.utils
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from prescientd.sim.state import RequestRecord, SimError, SimState
from prescientd.sim.stream import serve_market_channel
from prescientd.sim.universe import (
    EVENT_SCHEMA,
    EVENTS_KEYSET_SCHEMA,
    MARKET_SCHEMA,
    MARKETS_KEYSET_SCHEMA,
    JsonDict,
    SimEvent,
    SimMarket,
    render_clob_market,
    render_event,
    render_market,
)

STATE_KEY = web.AppKey("prescientd_sim_state", SimState)
MAX_BOOKS_PER_REQUEST = 500
KEYSET_MAX_LIMIT = 100
KEYSET_DEFAULT_LIMIT = 20
MALFORMED_EVENT_COUNT = 9
"""Bad events `malformed_items` adds to an events keyset page (8 without `include_huge`)."""
MALFORMED_BOOK_COUNT = 3
"""Books `malformed_books` corrupts in a POST /books response (fewer if fewer are returned)."""

_RAW_1E400 = "__prescientd_sim_raw_1e400__"
_current_record: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "prescientd_sim_record", default=None
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ValidationError(Exception):
    """A Gamma 422."""


def _encode(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return text.replace(f'"{_RAW_1E400}"', "1e400").encode()


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(obj), status=status, headers=headers, content_type="application/json"
    )


def _raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


def _gamma_422(message: str) -> web.Response:
    return _json({"type": "validation error", "error": message}, status=422)


def _state(request: web.Request) -> SimState:
    return request.app[STATE_KEY]


def route_group(path: str) -> str:
    """'clob' for CLOB routes, 'gamma' for the rest (control routes are never faulted)."""
    if path in ("/book", "/books") or path.startswith(("/markets/0x", "/clob-markets/")):
        return "clob"
    return "gamma"


# ------------------------------------------------------------------------------------------------
# Middleware: request log and faults


async def _reset_connection(request: web.Request, record: RequestRecord) -> web.Response:
    record.status = 0
    if request.transport is not None:
        request.transport.close()
    # Nothing reaches the client: the transport is already closed.
    return web.Response(status=204)


def _pre_handler_fault(
    state: SimState, request: web.Request, record: RequestRecord
) -> web.Response | None:
    path, group = request.path, route_group(request.path)
    faults = state.faults
    if group == "clob" and faults.take("books_down", path, group):
        record.fault = "books_down"
        return _error(503, "Service Unavailable")
    switch = faults.take("rate_limit", path, group)
    if switch is not None:
        record.fault = "rate_limit"
        if switch.http_date:
            when = datetime.fromtimestamp(math.ceil(state.clock() + switch.retry_after_s), UTC)
            retry_after = email.utils.format_datetime(when, usegmt=True)
        else:
            retry_after = str(switch.retry_after_s)
        return _json(
            {"error": "Too Many Requests"}, status=429, headers={"Retry-After": retry_after}
        )
    switch = faults.take("server_error", path, group)
    if switch is not None:
        record.fault = "server_error"
        status = switch.statuses[(switch.fired - 1) % len(switch.statuses)]
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return _error(status, reasons.get(status, "Server Error"))
    if faults.take("error_body", path, group):
        record.fault = "error_body"
        return _json({"error": "Too Many Requests"})
    return None


async def _slow_stream(
    request: web.Request, response: web.Response, delay_s: float, chunk_bytes: int
) -> web.StreamResponse:
    body = response.body if isinstance(response.body, bytes) else b""
    # At most ~100 chunks, so one slowed response stays bounded in time.
    chunk = max(chunk_bytes, math.ceil(len(body) / 100), 1)
    stream = web.StreamResponse(status=response.status)
    stream.content_type = response.content_type
    stream.content_length = len(body)
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            stream.headers[name] = value
    try:
        await stream.prepare(request)
        for start in range(0, len(body), chunk):
            await stream.write(body[start : start + chunk])
            await asyncio.sleep(delay_s)
        await stream.write_eof()
    except ConnectionError:
        pass  # the client gave up (its sock_read timeout fired): that is the point
    return stream


@web.middleware
async def _sim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    path = request.path
    if path.startswith("/_sim/"):
        return await handler(request)
    state.run_due_resolutions()
    record = state.log_request(request.method, path, request.query_string)
    group = route_group(path)
    if state.faults.take("reset", path, group):
        record.fault = "reset"
        return await _reset_connection(request, record)
    faulted = _pre_handler_fault(state, request, record)
    if faulted is not None:
        record.status = faulted.status
        return faulted
    token = _current_record.set(record)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        record.status = exc.status
        raise
    finally:
        _current_record.reset(token)
    record.status = response.status
    if isinstance(response, web.WebSocketResponse):
        return response  # the channel has its own faults (sim/stream.py)
    slow = state.faults.take("slow_body", path, group)
    if slow is not None and isinstance(response, web.Response):
        record.fault = record.fault or "slow_body"
        return await _slow_stream(request, response, slow.delay_s, slow.chunk_bytes)
    return response


# ------------------------------------------------------------------------------------------------
# Gamma keyset


def _parse_bool(name: str, value: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise _ValidationError(f"invalid boolean for {name}")


def _parse_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _ValidationError(f"invalid number for {name}") from None
    if not math.isfinite(number):
        raise _ValidationError(f"invalid number for {name}")
    return number


def _parse_date(name: str, value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _ValidationError(f"invalid date for {name}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_limit(query: Any) -> int:
    raw = query.get("limit")
    if raw is None:
        return KEYSET_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _ValidationError("invalid limit") from None
    if limit < 1:
        raise _ValidationError("limit must be >= 1")
    return min(limit, KEYSET_MAX_LIMIT)


CursorKey = tuple[Any, ...]


def _encode_cursor(key: CursorKey) -> str:
    raw = json.dumps([list(part) if isinstance(part, tuple) else part for part in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, n_fields: int) -> CursorKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _ValidationError("invalid after_cursor") from None
    if not isinstance(parts, list) or len(parts) != n_fields + 1:
        raise _ValidationError("invalid after_cursor")
    key: list[Any] = []
    for part in parts[:-1]:
        if not (
            isinstance(part, list)
            and len(part) == 2
            and part[0] in (0, 1)
            and isinstance(part[1], int | float)
        ):
            raise _ValidationError("invalid after_cursor")
        key.append((part[0], part[1]))
    if not isinstance(parts[-1], int):
        raise _ValidationError("invalid after_cursor")
    key.append(parts[-1])
    return tuple(key)


Getter = Callable[[Any], float | None]

_EVENT_ORDER: dict[str, Getter] = {
    "id": lambda e: float(e.id),
    "volume": lambda e: e.volume,
    "volume24hr": lambda e: e.volume_24h,
    "liquidity": lambda e: e.liquidity,
    "endDate": lambda e: e.end_date.timestamp(),
    "startDate": lambda e: e.start_date.timestamp(),
}
_MARKET_ORDER: dict[str, Getter] = {
    "id": lambda m: float(m.id),
    "volumeNum": lambda m: m.volume,
    "volume24hr": lambda m: m.volume_24h,
    "liquidityNum": lambda m: m.liquidity,
    "endDate": lambda m: m.end_date.timestamp(),
    "startDate": lambda m: m.start_date.timestamp(),
}


def _sort_getters(query: Any, table: dict[str, Getter]) -> tuple[list[Getter], bool]:
    order = query.get("order")
    ascending = _parse_bool("ascending", query.get("ascending", "true"))
    if not order:
        return [], True
    names = [name.strip() for name in order.split(",") if name.strip()]
    if not names or any(name not in table for name in names):
        raise _ValidationError("order fields are not valid")
    return [table[name] for name in names], ascending


def _row_key(row: Any, getters: Sequence[Getter], ascending: bool) -> CursorKey:
    sign = 1 if ascending else -1
    parts: list[Any] = []
    for get in getters:
        value = get(row)
        # Missing values sort last in either direction, like SQL NULLS LAST.
        parts.append((1, 0) if value is None else (0, sign * value))
    parts.append(sign * int(row.id))
    return tuple(parts)


class _KeysetCache:
    """Matching rows in cursor order per (route, filters and order, lifecycle version).

    Paging a listing asks for the same filtered, sorted list once per page; building it each time
    made paging the full universe quadratic (53,000 events: ~530 pages x 53,000 rows). Rows only
    change with lifecycle changes (propose, resolve, move), which bump `SimState.book_version`.
    """

    MAX_ENTRIES = 8

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], tuple[list[CursorKey], list[Any]]] = {}

    def ordered(
        self,
        request: web.Request,
        rows_of: Callable[[], list[Any]],
        table: dict[str, Getter],
    ) -> tuple[list[CursorKey], list[Any]]:
        """(cursor keys, rows) of the request's listing, sorted; built once per version."""
        query = request.query
        filters = sorted((k, v) for k, v in query.items() if k not in ("after_cursor", "limit"))
        key = (request.path, tuple(filters), _state(request).book_version)
        found = self._entries.get(key)
        if found is None:
            rows = rows_of()
            getters, ascending = _sort_getters(query, table)
            keyed = sorted((_row_key(r, getters, ascending), i) for i, r in enumerate(rows))
            found = ([k for k, _ in keyed], [rows[i] for _, i in keyed])
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = found
        return found


KEYSET_CACHE_KEY = web.AppKey("prescientd_sim_keyset_cache", _KeysetCache)


def _by_ids(rows: Sequence[Any], by_id: Mapping[str, Any], query: Any) -> Iterable[Any]:
    """The rows an `id` filter names, else all rows (the listing sorts them): a batched look-up
    of 100 ids must not scan 80,000 markets."""
    ids = query.getall("id", [])
    if not ids:
        return rows
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]


def _keyset_page(
    request: web.Request, rows_of: Callable[[], list[Any]], table: dict[str, Getter]
) -> tuple[list[Any], str | None]:
    query = request.query
    limit = _parse_limit(query)
    getters, _ = _sort_getters(query, table)
    keys, ordered = request.app[KEYSET_CACHE_KEY].ordered(request, rows_of, table)
    after = query.get("after_cursor")
    start = 0
    if after is not None and after != "":
        start = bisect.bisect_right(keys, _decode_cursor(after, len(getters)))
    page = ordered[start : start + limit]
    next_cursor = None
    if len(page) == limit and start + limit < len(keys):
        next_cursor = _encode_cursor(keys[start + limit - 1])
    if after:
        state = _state(request)
        if state.faults.take("stuck_cursor", request.path, "gamma"):
            _mark_fault("stuck_cursor")
            next_cursor = after
    return page, next_cursor


def _mark_fault(name: str) -> None:
    record = _current_record.get()
    if record is not None:
        record.fault = name


def _reject_offset(query: Any) -> None:
    if "offset" in query:
        raise _ValidationError("offset is not allowed on keyset endpoints")


def _range_filter(
    query: Any, name: str, value: float | None, parse: Callable[[str, str], Any] = _parse_float
) -> bool:
    lo, hi = query.get(f"{name}_min"), query.get(f"{name}_max")
    if lo is None and hi is None:
        return True
    if value is None:
        return False
    if lo is not None and value < parse(f"{name}_min", lo):
        return False
    return not (hi is not None and value > parse(f"{name}_max", hi))


def _date_filter(query: Any, name: str, value: datetime) -> bool:
    lo, hi = query.get(f"{name}_min"), query.get(f"{name}_max")
    if lo is not None and value < _parse_date(f"{name}_min", lo):
        return False
    return not (hi is not None and value > _parse_date(f"{name}_max", hi))


def _validate_filters(query: Any, numeric: Sequence[str], dates: Sequence[str]) -> None:
    for name in numeric:
        for suffix in ("_min", "_max"):
            if (raw := query.get(name + suffix)) is not None:
                _parse_float(name + suffix, raw)
    for name in dates:
        for suffix in ("_min", "_max"):
            if (raw := query.get(name + suffix)) is not None:
                _parse_date(name + suffix, raw)
    if (raw := query.get("closed")) is not None:
        _parse_bool("closed", raw)


def _event_matches(e: SimEvent, query: Any) -> bool:
    if not e.active:
        return False
    if (closed := query.get("closed")) is not None and e.closed != _parse_bool("closed", closed):
        return False
    ids = query.getall("id", [])
    if ids and e.id not in ids:
        return False
    slugs = query.getall("slug", [])
    if slugs and e.slug not in slugs:
        return False
    tag_ids = {t.id for t in e.tags}
    wanted = query.getall("tag_id", [])
    if wanted and not tag_ids.intersection(wanted):
        return False
    if tag_ids.intersection(query.getall("exclude_tag_id", [])):
        return False
    if (tag_slug := query.get("tag_slug")) is not None and tag_slug not in e.tag_slugs:
        return False
    return (
        _date_filter(query, "end_date", e.end_date)
        and _date_filter(query, "start_date", e.start_date)
        and _range_filter(query, "liquidity", e.liquidity)
        and _range_filter(query, "volume", e.volume)
    )


def _market_matches(m: SimMarket, query: Any) -> bool:
    if not m.active:
        return False
    # like GET /markets: closed markets are listed only when asked for
    if m.closed != _parse_bool("closed", query.get("closed", "false")):
        return False
    for param, value in (
        ("id", m.id),
        ("slug", m.slug),
        ("condition_ids", m.condition_id),
    ):
        wanted = query.getall(param, [])
        if wanted and value not in wanted:
            return False
    tokens = query.getall("clob_token_ids", [])
    if tokens and not set(tokens).intersection(m.token_ids):
        return False
    return (
        _date_filter(query, "end_date", m.end_date)
        and _date_filter(query, "start_date", m.start_date)
        and _range_filter(query, "liquidity_num", m.liquidity)
        and _range_filter(query, "volume_num", m.volume)
    )


async def events_keyset(request: web.Request) -> web.Response:
    """GET /events/keyset: active events (all child markets embedded), id order, cursor paging."""
    state = _state(request)
    query = request.query
    try:
        _reject_offset(query)
        _validate_filters(query, ("liquidity", "volume"), ("end_date", "start_date"))
        universe = state.universe
        page, next_cursor = _keyset_page(
            request,
            lambda: [
                e
                for e in _by_ids(universe.events, universe.event_by_id, query)
                if _event_matches(e, query)
            ],
            _EVENT_ORDER,
        )
    except _ValidationError as exc:
        return _gamma_422(str(exc))
    events = [render_event(e, state.live_quotes) for e in page]
    switch = state.faults.take("malformed_items", request.path, "gamma")
    if switch is not None:
        _mark_fault("malformed_items")
        bad = malformed_events(events[0] if events else None, include_huge=switch.include_huge)
        for n, item in enumerate(bad):
            events.insert(min(len(events), n * 2), item)
    body: JsonDict = {"$schema": EVENTS_KEYSET_SCHEMA, "events": events}
    if next_cursor is not None:
        body["next_cursor"] = next_cursor
    return _json(body, headers={"Cache-Control": "public, max-age=300"})


async def markets_keyset(request: web.Request) -> web.Response:
    """GET /markets/keyset: active markets (each with parent `events`), id order, cursor paging."""
    state = _state(request)
    query = request.query
    try:
        _reject_offset(query)
        _validate_filters(query, ("liquidity_num", "volume_num"), ("end_date", "start_date"))
        universe = state.universe
        page, next_cursor = _keyset_page(
            request,
            lambda: [
                m
                for m in _by_ids(universe.markets, universe.market_by_id, query)
                if _market_matches(m, query)
            ],
            _MARKET_ORDER,
        )
    except _ValidationError as exc:
        return _gamma_422(str(exc))
    events = state.universe.event_by_id
    markets = [
        render_market(m, events[m.event_id], state.live_quotes(m), include_events=True)
        for m in page
    ]
    body: JsonDict = {"$schema": MARKETS_KEYSET_SCHEMA, "markets": markets}
    if next_cursor is not None:
        body["next_cursor"] = next_cursor
    return _json(body, headers={"Cache-Control": "public, max-age=300"})


def malformed_events(template: JsonDict | None, *, include_huge: bool = True) -> list[JsonDict]:
    """Copies of a valid event, each broken in one way (ids never collide with real ones)."""
    if template is None:
        return []
    base = json.loads(json.dumps(template))
    base["markets"] = base["markets"][:1]
    out: list[JsonDict] = []

    def variant(n: int) -> tuple[JsonDict, JsonDict]:
        e = json.loads(json.dumps(base))
        e["id"] = str(990_000_000 + n)
        e["slug"] = e["ticker"] = f"malformed-{n}"
        m = e["markets"][0]
        m["id"] = str(991_000_000 + n)
        m["slug"] = f"malformed-market-{n}"
        m["conditionId"] = f"0x{n:064x}"
        m["clobTokenIds"] = json.dumps([str(10**76 + 2 * n), str(10**76 + 2 * n + 1)])
        out.append(e)
        return e, m

    e, _ = variant(1)
    e["volume24hr"] = float("nan")
    e, _ = variant(2)
    e["liquidity"] = float("inf")
    e, _ = variant(3)
    e["volume"] = _RAW_1E400
    _, m = variant(4)
    m["outcomePrices"] = '["NaN", "NaN"]'
    _, m = variant(5)
    del m["clobTokenIds"]
    _, m = variant(6)
    m["outcomes"] = '["Yes", "No"'
    e, _ = variant(7)
    e["id"] = {"$oid": "990000007"}
    _, m = variant(8)
    m["outcomePrices"] = '["-0.2", "1.2"]'
    m["bestBid"] = -0.2
    if include_huge:
        e, _ = variant(9)
        e["description"] = "x" * (10 * 1024 * 1024)
    return out


# ------------------------------------------------------------------------------------------------
# Gamma single objects


async def gamma_or_clob_market(request: web.Request) -> web.Response:
    """GET /markets/{id}: Gamma market for a numeric id, CLOB market for a 0x condition id."""
    state = _state(request)
    key = request.match_info["id"]
    if key.startswith("0x"):
        found = state.universe.market_by_condition_id.get(key)
        if found is None:
            return _error(404, "market not found")
        return _json(render_clob_market(found, state.live_quotes(found)))
    market = state.universe.market_by_id.get(key)
    if market is None:
        return _json({"type": "not found error", "error": "market not found"}, status=404)
    return _gamma_market_response(state, market)


def _gamma_market_response(state: SimState, market: SimMarket) -> web.Response:
    event = state.universe.event_by_id[market.event_id]
    rendered = render_market(market, event, state.live_quotes(market), include_events=True)
    return _json({"$schema": MARKET_SCHEMA, **rendered})


def _gamma_event_response(state: SimState, event: SimEvent) -> web.Response:
    return _json({"$schema": EVENT_SCHEMA, **render_event(event, state.live_quotes)})


async def gamma_market_by_slug(request: web.Request) -> web.Response:
    """GET /markets/slug/{slug}."""
    state = _state(request)
    market = state.universe.market_by_slug.get(request.match_info["slug"])
    if market is None:
        return _json({"type": "not found error", "error": "market not found"}, status=404)
    return _gamma_market_response(state, market)


async def gamma_event(request: web.Request) -> web.Response:
    """GET /events/{id}."""
    state = _state(request)
    event = state.universe.event_by_id.get(request.match_info["id"])
    if event is None:
        return _json({"type": "not found error", "error": "event not found"}, status=404)
    return _gamma_event_response(state, event)


async def gamma_event_by_slug(request: web.Request) -> web.Response:
    """GET /events/slug/{slug}."""
    state = _state(request)
    event = state.universe.event_by_slug.get(request.match_info["slug"])
    if event is None:
        return _json({"type": "not found error", "error": "event not found"}, status=404)
    return _gamma_event_response(state, event)


# ------------------------------------------------------------------------------------------------
# CLOB books


def _corrupt_books(books: list[tuple[str, bytes]]) -> tuple[list[bytes], list[str]]:
    """Break the best level of up to 3 books: bid "NaN", ask "-0.05", ask "1.5"."""
    out = [body for _, body in books]
    corrupted: list[str] = []
    for i, (asset_id, body) in enumerate(books[:MALFORMED_BOOK_COUNT]):
        book = json.loads(body)
        side, price = (("bids", "NaN"), ("asks", "-0.05"), ("asks", "1.5"))[i]
        if book[side]:
            book[side][-1]["price"] = price
        else:
            book[side].append({"price": price, "size": "10"})
        out[i] = _encode(book)
        corrupted.append(asset_id)
    return out, corrupted


async def post_books(request: web.Request) -> web.Response:
    """POST /books: up to 500 `{"token_id"}` items -> books of known live tokens, server order."""
    state = _state(request)
    record = _current_record.get()
    try:
        payload = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Invalid payload")
    if not isinstance(payload, list):
        return _error(400, "Invalid payload")
    if record is not None:
        record.n_token_ids = len(payload)
    if len(payload) > MAX_BOOKS_PER_REQUEST:
        return _error(400, "Payload exceeds the limit")
    tokens: list[str] = []
    for item in payload:
        token = item.get("token_id") if isinstance(item, dict) else None
        if not isinstance(token, str) or not token:
            return _error(400, "Invalid payload")
        tokens.append(token)
    books = state.books_bytes(tokens)
    bodies = [body for _, body in books]
    if books and state.faults.take("malformed_books", request.path, "clob"):
        bodies, corrupted = _corrupt_books(books)
        if record is not None:
            record.fault = "malformed_books"
            record.malformed_asset_ids = corrupted
    return _raw_json(b"[" + b",".join(bodies) + b"]")


async def get_book(request: web.Request) -> web.Response:
    """GET /book?token_id=: one book; 400 without a token id, 404 unknown or book-less token."""
    token = request.query.get("token_id")
    if not token:
        return _error(400, "Invalid token id")
    body = _state(request).book_bytes(token)
    if body is None:
        return _error(404, "No orderbook exists for the requested token id")
    return _raw_json(body)


async def ws_market(request: web.Request) -> web.StreamResponse:
    """GET /ws/market: the WebSocket market channel (sim/stream.py)."""
    return await serve_market_channel(request, _state(request))


# ------------------------------------------------------------------------------------------------
# Control routes


async def _json_body(request: web.Request) -> JsonDict:
    try:
        payload = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise SimError("body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise SimError("body must be a JSON object")
    return payload


def _control(
    fn: Callable[[web.Request, SimState], Awaitable[Any]],
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            result = await fn(request, _state(request))
        except SimError as exc:
            return _error(exc.status, str(exc))
        return _json(result)

    return handler


async def _ctl_resolve(request: web.Request, state: SimState) -> Any:
    body = await _json_body(request)
    market = state.resolve(str(body.get("market_id", "")), body.get("outcome", ""))
    return {"ok": True, "market": state.market_truth(market)}


async def _ctl_propose(request: web.Request, state: SimState) -> Any:
    body = await _json_body(request)
    market = state.propose(str(body.get("market_id", "")))
    return {"ok": True, "market": state.market_truth(market)}


async def _ctl_move(request: web.Request, state: SimState) -> Any:
    body = await _json_body(request)
    raw = body.get("yes_price")
    if raw is None:
        price = None
    elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
        try:
            price = Decimal(str(raw))
        except InvalidOperation:
            raise SimError("yes_price must be a number") from None
    else:
        raise SimError("yes_price must be a number or null")
    market = state.move(str(body.get("market_id", "")), price)
    return {"ok": True, "market": state.market_truth(market)}


async def _ctl_ws(request: web.Request, state: SimState) -> Any:
    return {"ws": state.ws_stats.to_json()}


async def _ctl_set_faults(request: web.Request, state: SimState) -> Any:
    state.set_faults(await _json_body(request))
    return {"ok": True, "faults": state.faults.to_json()}


async def _ctl_get_faults(request: web.Request, state: SimState) -> Any:
    return {"faults": state.faults.to_json()}


async def _ctl_clear_faults(request: web.Request, state: SimState) -> Any:
    state.clear_faults()
    return {"ok": True, "faults": {}}


async def _ctl_requests(request: web.Request, state: SimState) -> Any:
    return {"requests": [r.to_json() for r in state.requests]}


async def _ctl_clear_requests(request: web.Request, state: SimState) -> Any:
    state.clear_requests()
    return {"ok": True}


async def _ctl_markets(request: web.Request, state: SimState) -> Any:
    state.run_due_resolutions()
    return {"step": state.step(), "time_s": state.clock(), "markets": state.ground_truth()}


async def _ctl_info(request: web.Request, state: SimState) -> Any:
    u = state.universe
    return {
        "seed": u.seed,
        "now": u.now.isoformat(),
        "n_events": len(u.events),
        "n_markets": len(u.markets),
        "step": state.step(),
        "price_step_s": state.price_step_s,
        "resolve_interval_s": state.resolve_interval_s,
    }


def build_app(state: SimState) -> web.Application:
    """The simulator's aiohttp application (Gamma + CLOB + /_sim/ control routes)."""
    app = web.Application(middlewares=[_sim_middleware])
    app[STATE_KEY] = state
    app[KEYSET_CACHE_KEY] = _KeysetCache()
    r = app.router
    # Fixed paths first: /markets/{id} would otherwise swallow /markets/keyset.
    r.add_get("/events/keyset", events_keyset)
    r.add_get("/markets/keyset", markets_keyset)
    r.add_get("/events/slug/{slug}", gamma_event_by_slug)
    r.add_get("/markets/slug/{slug}", gamma_market_by_slug)
    r.add_get("/events/{id}", gamma_event)
    r.add_get("/markets/{id}", gamma_or_clob_market)
    r.add_post("/books", post_books)
    r.add_get("/book", get_book)
    r.add_get("/ws/market", ws_market)
    r.add_post("/_sim/resolve", _control(_ctl_resolve))
    r.add_post("/_sim/propose", _control(_ctl_propose))
    r.add_post("/_sim/move", _control(_ctl_move))
    r.add_get("/_sim/ws", _control(_ctl_ws))
    r.add_get("/_sim/faults", _control(_ctl_get_faults))
    r.add_post("/_sim/faults", _control(_ctl_set_faults))
    r.add_delete("/_sim/faults", _control(_ctl_clear_faults))
    r.add_get("/_sim/requests", _control(_ctl_requests))
    r.add_post("/_sim/requests/clear", _control(_ctl_clear_requests))
    r.add_get("/_sim/markets", _control(_ctl_markets))
    r.add_get("/_sim/info", _control(_ctl_info))
    return app
