"""Every error the web layer answers is JSON: `{"error": "<one clear line>", "status": N}`."""

from __future__ import annotations

import json
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from prescientd.web.contract import ControlRejected, ReadUnavailable

log = structlog.get_logger(__name__)

_REASONS = {
    404: "no such route",
    405: "method not allowed on this route",
    413: "request body too large",
}


class ApiError(Exception):
    """An expected refusal with its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response; NaN or infinity in data is a bug and raises ValueError."""
    body = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return web.Response(
        text=body, status=status, content_type="application/json", headers=headers or {}
    )


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The JSON error document."""
    return json_response({"error": message, "status": status}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals, aiohttp's HTTP errors and crashes into JSON error documents."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.headers)
    except ReadUnavailable as exc:
        return error_response(503, f"data temporarily unavailable: {exc}")
    except ControlRejected as exc:
        return error_response(409, str(exc))
    except TimeoutError:
        return error_response(503, "the read took too long; try again")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, _REASONS.get(exc.status, exc.reason), headers)
    except Exception as exc:  # noqa: BLE001 - answered 500 and logged, never crashes the server
        # the message may carry internals; the client gets a generic line, the log the details
        log.error(
            "http_handler_failed",
            method=request.method,
            path=request.path,
            error=f"{type(exc).__name__}: {exc}",
        )
        return error_response(500, "internal error")
