"""Serving inside the daemon's loop: port choice, fallback, bound address, Host check port."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from prescientd.config import HttpConfig
from prescientd.web.app import make_app
from prescientd.web.events import EventHub
from prescientd.web.metrics import Metrics
from prescientd.web.server import Listening, serving

from .fakes import FakeControl, FakeReads


def _app(port: int = 0) -> aiohttp.web.Application:
    settings = HttpConfig(port=port)
    return make_app(FakeReads(), FakeControl(), EventHub(), Metrics(), settings, token=None)


def _taken_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_port_zero_is_resolved_and_accepted_by_the_host_check() -> None:
    """Port 0 lets the OS choose; the chosen port is reported and accepted in Host."""
    async with serving(_app(), "127.0.0.1", 0) as listening, aiohttp.ClientSession() as client:
        assert listening.port > 0
        assert listening.url == f"http://127.0.0.1:{listening.port}/"
        ok = await client.get(f"{listening.url}api/v1/health")
        wrong_port = await client.get(
            f"{listening.url}api/v1/health", headers={"Host": "127.0.0.1:8686"}
        )
    assert (ok.status, wrong_port.status) == (200, 421)


async def test_taken_port_fails_without_fallback() -> None:
    """A taken port is an error unless port_fallback is set (scrape configs expect the port)."""
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            async with serving(_app(port), "127.0.0.1", port):
                pass


async def test_taken_port_falls_back_to_a_free_one() -> None:
    """With port_fallback a taken port gives way to a free one, which the Host check accepts."""
    with _taken_port() as taken:
        port = taken.getsockname()[1]
        app = _app(port)
        async with serving(app, "127.0.0.1", port, port_fallback=True) as listening:
            assert listening.port not in (0, port)
            async with aiohttp.ClientSession() as client:
                response = await client.get(f"{listening.url}api/v1/status")
    assert response.status == 200


async def test_listens_on_loopback_only() -> None:
    """Bound to 127.0.0.1, the listener is not reachable on another local address."""
    async with serving(_app(), "127.0.0.1", 0) as listening:
        other = _outward_address()
        assert _connects(other, listening.port) is False
        assert _connects("127.0.0.1", listening.port) is True


def _connects(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def _outward_address() -> str:
    """This machine's non-loopback IPv4 address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, no packet
        except OSError:
            pytest.skip("no IPv4 route on this machine")
        address: str = udp.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    return address


def test_ipv6_url() -> None:
    """An IPv6 host is bracketed in the URL."""
    assert Listening("::1", 8686).url == "http://[::1]:8686/"
