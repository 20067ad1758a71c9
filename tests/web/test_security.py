"""Security rules: bearer token, Host check (DNS rebinding), body cap, token never in URLs/logs."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from prescientd.config import HttpConfig
from prescientd.web.security import TokenFileError, host_names, load_token, split_host

from .fakes import TOKEN, serve


@pytest.mark.parametrize("path", ["/api/v1/cycle", "/api/v1/reload", "/trading/run-full-cycle"])
@pytest.mark.parametrize(
    ("token", "authorization", "status"),
    [
        (None, f"Bearer {TOKEN}", 403),  # no token configured: refused whatever is sent
        (None, None, 403),
        (TOKEN, None, 401),
        (TOKEN, "Basic dXNlcjpwYXNz", 401),
        (TOKEN, "Bearer", 401),
        (TOKEN, "Bearer a b", 401),
        (TOKEN, "Bearer wrong-token-0123456789", 403),
        (TOKEN, f"Bearer {TOKEN}x", 403),
        (TOKEN, f"Bearer {TOKEN[:-1]}", 403),
        (TOKEN, f"Bearer {TOKEN}", 202),
        (TOKEN, f"bearer   {TOKEN}", 202),
    ],
)
async def test_token_rules(
    path: str, token: str | None, authorization: str | None, status: int
) -> None:
    """POST routes need the configured token; without one they refuse and do nothing."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with serve(token=token) as s:
        response = await s.client.post(path, headers=headers)
        body = await response.json()
    assert response.status == status
    called = s.control.cycles + s.control.reloads
    if status == 202:
        assert called == 1
        assert body["status"] == "accepted"
        assert body["action"] == ("reload" if path.endswith("reload") else "cycle")
    else:
        assert called == 0
        assert body["status"] == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_cycle_result_is_passed_through() -> None:
    """The 202 body carries what Control answered."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with serve() as s:
        await s.client.post("/api/v1/cycle", headers=headers)
        body = await (await s.client.post("/api/v1/cycle", headers=headers)).json()
    assert body == {"queued": True, "position": 2, "status": "accepted", "action": "cycle"}


async def test_control_rejected_is_409() -> None:
    """A control request the daemon refuses answers 409 with its reason."""
    async with serve() as s:
        s.control.stopping = True
        response = await s.client.post(
            "/api/v1/reload", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        body = await response.json()
    assert response.status == 409
    assert body["error"] == "the daemon is stopping"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST:{port}", 200),
        ("[::1]:{port}", 200),
        ("127.0.0.1", 200),
        ("evil.example:{port}", 421),
        ("evil.example", 421),
        ("127.0.0.1.evil.example:{port}", 421),
        ("localhost.:{port}", 421),
        ("127.0.0.1:1", 421),
        ("127.0.0.1:{port}x", 421),
        ("[::1", 421),
        ("", 421),
    ],
)
async def test_host_header_check(host: str, status: int) -> None:
    """Only the server's own names (with its port) are answered: DNS rebinding gets 421."""
    async with serve() as s:
        port = s.port
        response = await s.client.get("/api/v1/status", headers={"Host": host.format(port=port)})
        body = await response.json()
    assert response.status == status
    if status == 421:
        assert body["status"] == 421
        assert s.reads.calls == []


async def test_host_check_covers_every_route() -> None:
    """The dashboard, metrics, stream and POST routes refuse a foreign Host too."""
    async with serve() as s:
        headers = {"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"}
        statuses = [
            (await s.client.get(path, headers=headers)).status
            for path in ("/", "/metrics", "/api/v1/stream", "/static/app.js")
        ]
        statuses.append((await s.client.post("/api/v1/cycle", headers=headers)).status)
    assert statuses == [421] * 5
    assert s.control.cycles == 0


async def test_allowed_hosts_extend_the_names() -> None:
    """A name in http.allowed_hosts is accepted."""
    settings = HttpConfig(port=0, allowed_hosts=("trader.lan",))
    async with serve(settings=settings) as s:
        response = await s.client.get("/api/v1/status", headers={"Host": f"trader.lan:{s.port}"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("127.0.0.1", (), {"localhost", "127.0.0.1", "[::1]"}),
        ("0.0.0.0", (), {"localhost", "127.0.0.1", "[::1]"}),
        ("::1", (), {"localhost", "127.0.0.1", "[::1]"}),
        (
            "192.168.1.5",
            ("Trader.LAN",),
            {"localhost", "127.0.0.1", "[::1]", "192.168.1.5", "trader.lan"},
        ),
        ("fd00::5", (), {"localhost", "127.0.0.1", "[::1]", "[fd00::5]"}),
    ],
)
def test_host_names(host: str, extra: tuple[str, ...], expected: set[str]) -> None:
    """The accepted names are loopback, the bound address (not a wildcard) and extras."""
    assert host_names(host, extra) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:8686", ("localhost", 8686)),
        ("LocalHost", ("localhost", None)),
        ("[::1]:8686", ("[::1]", 8686)),
        ("[::1]", ("[::1]", None)),
        ("127.0.0.1:", None),
        ("127.0.0.1:86a", None),
        ("127.0.0.1:1234567", None),
        ("[::1]8686", None),
        (":8686", None),
        ("", None),
    ],
)
def test_split_host(value: str, expected: tuple[str, int | None] | None) -> None:
    """Host header values split into name and port; malformed ones are None."""
    assert split_host(value) == expected


async def test_body_cap() -> None:
    """A declared body above max_body_bytes is refused with 413 before anything runs."""
    settings = HttpConfig(port=0, max_body_bytes=1024)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with serve(settings=settings) as s:
        big = await s.client.post("/api/v1/cycle", data=b"x" * 2000, headers=headers)
        small = await s.client.post("/api/v1/cycle", data=b"x" * 500, headers=headers)
        get_big = await s.client.get("/api/v1/status", data=b"x" * 2000)
        big_body = await big.json()
    assert (big.status, small.status, get_big.status) == (413, 202, 413)
    assert big_body["status"] == 413
    assert s.control.cycles == 1


async def test_chunked_body_over_cap() -> None:
    """A chunked body (no Content-Length) above the cap is refused too."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    settings = HttpConfig(port=0, max_body_bytes=1024)
    async with serve(settings=settings) as s:
        response = await s.client.post(
            "/api/v1/cycle", data=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status == 413
    assert s.control.cycles == 0


@pytest.mark.parametrize("key", ["token", "access_token", "TOKEN"])
async def test_token_in_query_string_is_refused(key: str) -> None:
    """A token in the URL is refused (it would end up in logs), even if it is right."""
    async with serve() as s:
        response = await s.client.post(f"/api/v1/cycle?{key}={TOKEN}")
        body = await response.json()
    assert response.status == 400
    assert "never put a token in the URL" in body["error"]
    assert TOKEN not in body["error"]
    assert s.control.cycles == 0


async def test_token_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Requests carrying the token (right or wrong) leave no trace of it in any log line."""
    captured: list[str] = []

    def capture(_logger: object, _method: str, event: MutableMapping[str, Any]) -> str:
        captured.append(repr(event))
        return ""

    structlog.configure(
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    try:
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="aiohttp")
        async with serve() as s:
            for value in (TOKEN, "wrong-token-0123456789abc"):
                headers = {"Authorization": f"Bearer {value}"}
                await s.client.post("/api/v1/cycle", headers=headers)
                await s.client.post(f"/api/v1/cycle?token={value}", headers=headers)
                await s.client.get("/api/v1/nothing", headers=headers)
    finally:
        structlog.reset_defaults()
    text = caplog.text + "\n".join(captured)
    assert sum("http_request" in line for line in captured) == 6  # the access log did run
    assert "wrong-token" not in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    ("content", "mode", "error"),
    [
        (TOKEN + "\n", 0o600, None),
        ("  " + TOKEN + "  \n", 0o600, None),
        ("", 0o600, "at least 16 characters"),
        ("short\n", 0o600, "at least 16 characters"),
        ("two words of token text", 0o600, "one word of ASCII"),
        ("tökentökentökentöken", 0o600, "one word of ASCII"),
    ],
)
def test_load_token(tmp_path: Path, content: str, mode: int, error: str | None) -> None:
    """The token file holds one word of at least 16 ASCII characters."""
    path = tmp_path / "token"
    path.write_text(content, encoding="utf-8")
    os.chmod(path, mode)
    if error is None:
        assert load_token(path) == TOKEN
    else:
        with pytest.raises(TokenFileError, match=error):
            load_token(path)


def test_load_token_unset_and_missing(tmp_path: Path) -> None:
    """No path means no token; a missing file is an error naming the key."""
    assert load_token(None) is None
    with pytest.raises(TokenFileError, match=r"http\.token_file"):
        load_token(tmp_path / "absent")
