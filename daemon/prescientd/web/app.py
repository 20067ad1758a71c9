"""The aiohttp application: routes of DESIGN.md §8, the brief's endpoint names, the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Handler

from prescientd.config import HttpConfig
from prescientd.web.contract import Control, ReadModel
from prescientd.web.errors import json_errors, json_response
from prescientd.web.events import EventHub
from prescientd.web.metrics import Metrics
from prescientd.web.paging import check_params
from prescientd.web.routes import Api
from prescientd.web.security import body_cap, host_guard, host_names, security_headers

STATIC_DIR = Path(__file__).parent / "static"
BOUND_PORTS = web.AppKey("bound_ports", set[int])
API_KEY = web.AppKey("api", Api)


@dataclass(frozen=True, slots=True)
class Route:
    """One route: method, path, the handler's name on Api, and what it answers."""

    method: str
    path: str
    handler: str
    summary: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/health", "health", "200 ok / 503 degraded with problems"),
    Route("GET", "/api/v1/status", "status", "the `prescientd status --json` document"),
    Route("GET", "/api/v1/strategies", "strategies", "every strategy's account compared (paged)"),
    Route("GET", "/api/v1/portfolio", "portfolio", "cash, equity, P&L, positions (strategy=)"),
    Route("GET", "/api/v1/positions", "positions", "open positions (paged; strategy=)"),
    Route(
        "GET",
        "/api/v1/trades",
        "trades",
        "trades and settlements, newest first (paged; kind=, strategy=)",
    ),
    Route("GET", r"/api/v1/trades/{trade_id:\d{1,18}}", "trade", "one trade; 404 when unknown"),
    Route("GET", "/api/v1/signals/current", "signals", "the latest signals (paged; strategy=)"),
    Route("GET", "/api/v1/markets/current", "markets", "current prices of tracked markets (paged)"),
    Route("GET", r"/api/v1/markets/{market_id:[0-9A-Za-z_-]{1,100}}", "market", "one market"),
    Route("GET", "/api/v1/equity", "equity", "equity points for the curve (paged; strategy=)"),
    Route("GET", "/api/v1/performance", "performance", "daily performance rows (paged; strategy=)"),
    Route("GET", "/api/v1/config/versions", "config_versions", "config history (paged)"),
    Route(
        "GET",
        "/api/v1/report",
        "report",
        "calibration, return per dollar-day, worst case per event, P&L by version, depth"
        " (strategy=)",
    ),
    Route("GET", "/api/v1/exports/trades_summary.csv", "trades_csv", "trades_summary.csv"),
    Route("GET", "/api/v1/stream", "stream", "server-sent events"),
    Route("POST", "/api/v1/cycle", "cycle", "run morning + poll now (bearer token), 202"),
    Route("POST", "/api/v1/reload", "reload", "reload the config as SIGHUP (bearer token), 202"),
)

# The product brief's endpoint names, each served by the same handler as its /api/v1 route.
BRIEF_ALIASES: tuple[tuple[str, str], ...] = (
    ("/markets/current", "/api/v1/markets/current"),
    ("/strategy/current-signals", "/api/v1/signals/current"),
    ("/trading/status", "/api/v1/status"),
    ("/trading/run-full-cycle", "/api/v1/cycle"),
    ("/paper-trading/export-trades-csv", "/api/v1/exports/trades_summary.csv"),
    ("/paper-trading/portfolio", "/api/v1/portfolio"),
    ("/paper-trading/positions", "/api/v1/positions"),
    ("/paper-trading/trades", "/api/v1/trades"),
    ("/paper-trading/performance", "/api/v1/performance"),
    ("/health", "/api/v1/health"),
)


def make_app(
    reads: ReadModel,
    control: Control,
    hub: EventHub,
    metrics: Metrics,
    settings: HttpConfig,
    *,
    token: str | None,
) -> web.Application:
    """The web application; serve it with `web.server.serving` (or a test server).

    token is the bearer token from `security.load_token(settings.token_path)`, or None to refuse
    every POST route.
    """
    bound_ports: set[int] = set()
    if settings.port:
        bound_ports.add(settings.port)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            json_errors,
            host_guard(host_names(settings.host, settings.allowed_hosts), bound_ports),
            body_cap(settings.max_body_bytes),
        ],
    )
    api = Api(
        reads=reads,
        control=control,
        hub=hub,
        token=token,
        read_timeout_s=settings.read_timeout_s,
        keepalive_s=settings.sse_keepalive_s,
        max_clients=settings.sse_max_clients,
    )
    app[API_KEY] = api
    app[BOUND_PORTS] = bound_ports
    handlers = {route.path: _bind(api, route) for route in ROUTES}
    for route in ROUTES:
        app.router.add_route(route.method, route.path, handlers[route.path])
    for alias, target in BRIEF_ALIASES:
        method = next(r.method for r in ROUTES if r.path == target)
        app.router.add_route(method, alias, handlers[target])
    app.router.add_get("/", _dashboard)
    app.router.add_get("/api/v1", _index)
    app.router.add_get("/metrics", metrics.handler())
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    metrics.add_stats("sse", hub.stats)
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(_close_streams)
    return app


def _bind(api: Api, route: Route) -> Handler:
    return cast(Handler, getattr(api, route.handler))


async def _dashboard(request: web.Request) -> web.FileResponse:
    """The one-page dashboard."""
    check_params(request, ())
    return web.FileResponse(STATIC_DIR / "index.html")


async def _index(request: web.Request) -> web.Response:
    """The route table, for people exploring the API with curl."""
    check_params(request, ())
    return json_response(
        {
            "routes": [{"method": r.method, "path": r.path, "what": r.summary} for r in ROUTES],
            "aliases": [{"path": alias, "same_as": target} for alias, target in BRIEF_ALIASES],
            "metrics": "/metrics",
            "dashboard": "/",
        }
    )


async def _close_streams(app: web.Application) -> None:
    """End every event stream so shutdown does not wait for clients."""
    app[API_KEY].hub.close()
