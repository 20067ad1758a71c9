"""Query-string validation for list routes: `limit`, `offset`, `order`, `strategy`, and nothing
unexpected."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiohttp import web

from prescientd.config import STRATEGY_NAME
from prescientd.web.contract import Listing, Order, PageRequest
from prescientd.web.errors import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**9
PAGE_PARAMS = ("limit", "offset", "order")


def check_params(request: web.Request, allowed: Collection[str]) -> None:
    """Raise 400 for a parameter the route does not know or one given twice (typos fail loudly)."""
    for key in request.query:
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, f"unknown parameter {key!r} (this route takes: {known})")
        if len(request.query.getall(key)) > 1:
            raise ApiError(400, f"parameter {key!r} given more than once")


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}, got {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high}, got {value}")
    return value


def page_request(
    request: web.Request,
    *,
    default_order: Order,
    max_limit: int = MAX_LIMIT,
    extra: Collection[str] = (),
) -> PageRequest:
    """The validated page a list request asks for (400 on a bad value)."""
    check_params(request, (*PAGE_PARAMS, *extra))
    limit = _int_param(request, "limit", min(DEFAULT_LIMIT, max_limit), 1, max_limit)
    offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    order = request.query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise ApiError(400, f"order must be asc or desc, got {order!r}")
    return PageRequest(limit=limit, offset=offset, order="asc" if order == "asc" else "desc")


def choice_param(request: web.Request, name: str, choices: Collection[str]) -> str | None:
    """An optional parameter restricted to choices (400 otherwise)."""
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def strategy_param(request: web.Request) -> str | None:
    """The optional `strategy` parameter: None (every strategy) or a well-formed strategy name
    (400 otherwise; whether such a strategy exists is the route's question, answered 404)."""
    value = request.query.get("strategy")
    if value is not None and not STRATEGY_NAME.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ApiError(
            400,
            "strategy must be a strategy name (1-32 characters of a-z, 0-9, _ and -, starting"
            f" with a letter), got {shown!r}",
        )
    return value


def page_document(page: PageRequest, listing: Listing) -> dict[str, Any]:
    """The JSON body of a list response: the listing's header fields, items and paging."""
    end = page.offset + len(listing.items)
    return {
        **listing.meta,
        "items": listing.items,
        "total": listing.total,
        "limit": page.limit,
        "offset": page.offset,
        "order": page.order,
        "next_offset": end if end < listing.total else None,
    }
