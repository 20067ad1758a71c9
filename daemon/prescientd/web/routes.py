"""The route handlers: thin adapters from HTTP to the ReadModel, Control and EventHub.

Handlers never do blocking I/O: every read is an awaited ReadModel call under `read_timeout_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from prescientd.web.contract import Control, ReadModel, TradeKind
from prescientd.web.errors import ApiError, json_response
from prescientd.web.events import EventHub, StreamClosed
from prescientd.web.paging import (
    MAX_LIMIT,
    check_params,
    choice_param,
    page_document,
    page_request,
    strategy_param,
)
from prescientd.web.security import check_bearer

T = TypeVar("T")
EQUITY_MAX_LIMIT = 10_000
SSE_RETRY_MS = 3000


@dataclass(frozen=True, slots=True)
class Api:
    """The handlers' shared state."""

    reads: ReadModel
    control: Control
    hub: EventHub
    token: str | None
    read_timeout_s: float
    keepalive_s: float
    max_clients: int

    async def _read(self, awaitable: Awaitable[T]) -> T:
        async with asyncio.timeout(self.read_timeout_s):
            return await awaitable

    # -- documents -------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        """200 when healthy, 503 with the problems when degraded."""
        check_params(request, ())
        doc = await self._read(self.reads.health())
        return json_response(doc, status=200 if doc.get("status") == "ok" else 503)

    async def status(self, request: web.Request) -> web.Response:
        """The `status --json` document."""
        check_params(request, ())
        return json_response(await self._read(self.reads.status()))

    async def portfolio(self, request: web.Request) -> web.Response:
        """Cash, equity, P&L and positions (every account, or one: strategy=NAME)."""
        check_params(request, ("strategy",))
        strategy = await self._strategy(request)
        return json_response(await self._read(self.reads.portfolio(strategy)))

    async def report(self, request: web.Request) -> web.Response:
        """The analytics report, as `prescientd report --json` (every strategy, or one)."""
        check_params(request, ("strategy",))
        strategy = await self._strategy(request)
        return json_response(await self._read(self.reads.report(strategy)))

    async def trade(self, request: web.Request) -> web.Response:
        """One trade by id, 404 when unknown."""
        check_params(request, ())
        trade_id = int(request.match_info["trade_id"])
        doc = await self._read(self.reads.trade(trade_id))
        if doc is None:
            raise ApiError(404, f"no trade with id {trade_id}")
        return json_response(doc)

    async def market(self, request: web.Request) -> web.Response:
        """One tracked market's current prices, 404 when not tracked."""
        check_params(request, ())
        market_id = request.match_info["market_id"]
        doc = await self._read(self.reads.market(market_id))
        if doc is None:
            raise ApiError(404, f"market {market_id} is not tracked")
        return json_response(doc)

    async def trades_csv(self, request: web.Request) -> web.Response:
        """trades_summary.csv as a download."""
        check_params(request, ())
        body = await self._read(self.reads.trades_csv())
        return web.Response(
            body=body,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="trades_summary.csv"'},
        )

    async def _strategy(self, request: web.Request) -> str | None:
        """The `strategy` parameter: None for every strategy, else a known name (404 if not)."""
        strategy = strategy_param(request)
        if strategy is None:
            return None
        known = await self._read(self.reads.strategy_names())
        if strategy not in known:
            names = ", ".join(known) or "none"
            raise ApiError(404, f"no strategy named {strategy!r} (strategies: {names})")
        return strategy

    # -- lists -----------------------------------------------------------------------------------
    async def strategies(self, request: web.Request) -> web.Response:
        """Every account side by side, as strategies.csv (paged)."""
        page = page_request(request, default_order="asc")
        return json_response(page_document(page, await self._read(self.reads.strategies(page))))

    async def positions(self, request: web.Request) -> web.Response:
        """Open positions (paged; strategy=NAME)."""
        page = page_request(request, default_order="asc", extra=("strategy",))
        strategy = await self._strategy(request)
        listing = await self._read(self.reads.positions(page, strategy))
        return json_response(page_document(page, listing))

    async def trades(self, request: web.Request) -> web.Response:
        """Trades and settlements, newest first (paged; kind=trade|settlement, strategy=NAME)."""
        page = page_request(request, default_order="desc", extra=("kind", "strategy"))
        kind = choice_param(request, "kind", ("trade", "settlement"))
        strategy = await self._strategy(request)
        listing = await self._read(self.reads.trades(page, _trade_kind(kind), strategy))
        return json_response(page_document(page, listing))

    async def signals(self, request: web.Request) -> web.Response:
        """The latest poll's signals (paged; strategy=NAME)."""
        page = page_request(request, default_order="asc", extra=("strategy",))
        strategy = await self._strategy(request)
        listing = await self._read(self.reads.signals(page, strategy))
        return json_response(page_document(page, listing))

    async def markets(self, request: web.Request) -> web.Response:
        """Current prices of tracked markets (paged)."""
        page = page_request(request, default_order="asc")
        return json_response(page_document(page, await self._read(self.reads.markets(page))))

    async def equity(self, request: web.Request) -> web.Response:
        """Equity points for the curve (paged, up to 10,000 a page; strategy=NAME)."""
        page = page_request(
            request, default_order="asc", max_limit=EQUITY_MAX_LIMIT, extra=("strategy",)
        )
        strategy = await self._strategy(request)
        listing = await self._read(self.reads.equity(page, strategy))
        return json_response(page_document(page, listing))

    async def performance(self, request: web.Request) -> web.Response:
        """Daily performance rows (paged; strategy=NAME)."""
        page = page_request(request, default_order="asc", max_limit=MAX_LIMIT, extra=("strategy",))
        strategy = await self._strategy(request)
        listing = await self._read(self.reads.performance(page, strategy))
        return json_response(page_document(page, listing))

    async def config_versions(self, request: web.Request) -> web.Response:
        """Config version history, newest first (paged)."""
        page = page_request(request, default_order="desc")
        listing = await self._read(self.reads.config_versions(page))
        return json_response(page_document(page, listing))

    # -- control ---------------------------------------------------------------------------------
    async def cycle(self, request: web.Request) -> web.Response:
        """Queue morning + poll (bearer token); 202 at once."""
        await self._authorise(request)
        result = await self.control.request_cycle()
        return json_response({**result, "status": "accepted", "action": "cycle"}, status=202)

    async def reload(self, request: web.Request) -> web.Response:
        """Reload the config as SIGHUP does (bearer token); 202 at once."""
        await self._authorise(request)
        result = await self.control.request_reload()
        return json_response({**result, "status": "accepted", "action": "reload"}, status=202)

    async def _authorise(self, request: web.Request) -> None:
        check_params(request, ())
        check_bearer(request, self.token)
        # read (and discard) the body so a chunked upload is held to client_max_size too
        await request.read()

    # -- live events -----------------------------------------------------------------------------
    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events until the client leaves, falls behind, or the daemon stops."""
        check_params(request, ())
        last_event_id = _last_event_id(request)
        if self.hub.closed:
            raise ApiError(503, "the daemon is stopping; no more events")
        if self.hub.clients >= self.max_clients:
            raise ApiError(503, "too many stream clients; poll the JSON routes instead")
        sub = self.hub.subscribe(last_event_id)
        transport = request.transport
        if transport is not None:
            # a client that falls behind is cut off at once, whatever is still buffered for it
            sub.on_drop(transport.abort)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(f"retry: {SSE_RETRY_MS}\n: prescientd events\n\n".encode())
            while True:
                event = await sub.next(self.keepalive_s)
                await response.write(event.encode() if event else b": keepalive\n\n")
        except (StreamClosed, ConnectionError):
            pass
        finally:
            self.hub.unsubscribe(sub)
        return response  # aiohttp ends the chunked body (or notes the connection is gone)


def _trade_kind(kind: str | None) -> TradeKind | None:
    if kind is None:
        return None
    return "trade" if kind == "trade" else "settlement"


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID", "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ApiError(400, f"Last-Event-ID must be an event id from this stream, got {text!r}")
    return int(text)
