"""Who may talk to the web layer: Host check, body cap, bearer token, response headers.

- A request whose `Host` names anything but the configured host, localhost, 127.0.0.1, [::1] or an
  `allowed_hosts` entry (with the listening port, when it names one) is refused with 421: a page on
  evil.example that re-points its DNS at 127.0.0.1 (DNS rebinding) reaches nothing.
- POST routes need `Authorization: Bearer <token>`, the token read once at start from
  `http.token_file` and compared in constant time. Without a configured token they answer 403 and
  do nothing. A token in the query string is refused (it would land in access logs).
- No CORS headers are ever sent, so browsers keep other origins from reading any answer, and a
  cross-origin page cannot attach the Authorization header.
- Request bodies above `max_body_bytes` are refused with 413 before they are read.
"""

from __future__ import annotations

import hmac
import ipaddress
import stat
from collections.abc import Collection, Iterable
from pathlib import Path

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from prescientd.web.errors import ApiError, error_response

log = structlog.get_logger(__name__)

MIN_TOKEN_CHARS = 16
TOKEN_QUERY_KEYS = frozenset({"token", "access_token", "auth", "authorization", "bearer"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

# The dashboard has no inline script and loads nothing from elsewhere.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class TokenFileError(Exception):
    """The configured token file cannot be used (the daemon should refuse to start)."""


def load_token(path: Path | None) -> str | None:
    """The bearer token from path (one line, at least 16 characters), or None when unset."""
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"http.token_file {path}: cannot read: {exc}") from exc
    token = text.strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenFileError(
            f"http.token_file {path}: the token must be at least {MIN_TOKEN_CHARS} characters"
        )
    if any(not ch.isprintable() or ch.isspace() for ch in token) or not token.isascii():
        raise TokenFileError(f"http.token_file {path}: the token must be one word of ASCII")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token_file_permissions", path=str(path), advice="chmod 600")
    return token


def host_names(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names accepted in the Host header (lower case, IPv6 in brackets)."""
    names = set(LOOPBACK_NAMES) | {name.lower() for name in extra}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        names.add(host.lower())
    else:
        if not address.is_unspecified:  # 0.0.0.0 is no name a client can use
            names.add(f"[{address}]" if address.version == 6 else str(address))
    return frozenset(names)


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a Host header value; None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
    if not name:
        return None
    if not rest:
        return name, None
    port_text = rest[1:]
    if rest[0] != ":" or not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        return None
    return name, int(port_text)


def host_guard(names: frozenset[str], ports: Collection[int]) -> Middleware:
    """Middleware refusing a Host outside names (or with a port outside ports, when known)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        parsed = split_host(request.headers.get(hdrs.HOST, ""))
        if parsed is None or parsed[0] not in names:
            return error_response(421, "unknown Host header: this server answers only its own name")
        if parsed[1] is not None and ports and parsed[1] not in ports:
            return error_response(421, "unknown Host header: wrong port")
        return await handler(request)

    return guard


def body_cap(max_body_bytes: int) -> Middleware:
    """Middleware refusing declared bodies above the cap and tokens in the query string."""

    @web.middleware
    async def cap(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return error_response(413, f"request body larger than {max_body_bytes} bytes")
        if TOKEN_QUERY_KEYS & {key.lower() for key in request.query}:
            return error_response(
                400, "never put a token in the URL; send it as Authorization: Bearer <token>"
            )
        return await handler(request)

    return cap


def check_bearer(request: web.Request, token: str | None) -> None:
    """Raise ApiError unless the request carries the configured bearer token."""
    if token is None:
        raise ApiError(403, "control routes are disabled: set http.token_file to enable them")
    header = request.headers.get(hdrs.AUTHORIZATION)
    challenge = {"WWW-Authenticate": 'Bearer realm="prescientd"'}
    if header is None:
        raise ApiError(401, "missing Authorization: Bearer <token>", challenge)
    scheme, _, presented = header.strip().partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented or " " in presented:
        raise ApiError(401, "malformed Authorization header: expected Bearer <token>", challenge)
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise ApiError(403, "wrong token")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: no sniffing, no framing, no caching of API data (static assets are
    revalidated), a strict CSP."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path == "/" or request.path.endswith(".html"):
        headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
    # static assets may be cached but are revalidated (a 304 is cheap), so an upgraded daemon's
    # dashboard never runs yesterday's script
    static = request.path.startswith("/static/")
    headers.setdefault("Cache-Control", "no-cache" if static else "no-store")
