"""The [stream] config section: DESIGN §9 defaults, the shipped files, validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from prescientd.config import ConfigError, load_config, parse_config
from prescientd.demo import write_demo_config
from prescientd.reload import merge_reload

ROOT = Path(__file__).parents[2]


def test_design_defaults_and_the_shipped_file() -> None:
    """The defaults are DESIGN §9's, and config/prescientd.toml states them."""
    for stream in (parse_config("").stream, load_config(ROOT / "config/prescientd.toml").stream):
        assert stream.enabled is True
        assert stream.ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
        assert stream.watch_band == Decimal("0.05")
        assert (stream.max_assets, stream.assets_per_connection) == (2000, 200)
        assert stream.ping_interval_s == 10


def test_the_demo_config_points_the_stream_at_the_demo_simulator(tmp_path: Path) -> None:
    """`prescientd demo` rewrites the WebSocket URL along with the HTTP ones."""
    path = write_demo_config(tmp_path, "http://127.0.0.1:4321")
    config = load_config(path)
    assert config.stream.ws_url == "ws://127.0.0.1:4321/ws/market"
    assert config.polymarket.clob_url == "http://127.0.0.1:4321"


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ('ws_url = "https://x"', "stream.ws_url", "ws:// or wss://"),
        ("watch_band = 1.5", "stream.watch_band", "less than or equal to 1"),
        ("assets_per_connection = 1", "stream.assets_per_connection", "greater than or equal"),
        ("assets_per_connection = 501", "stream.assets_per_connection", "less than or equal"),
        ("ping_interval_s = 10\nsilence_limit_s = 10", "stream", "silence_limit_s must exceed"),
        ("backoff_base_s = 9\nbackoff_max_s = 2", "stream", "backoff_base_s must not exceed"),
        ("max_assets = -1", "stream.max_assets", "greater than or equal"),
        ("circuit_failures = 0", "stream.circuit_failures", "greater than or equal"),
        ("ping = 3", "stream.ping", "unknown key"),
    ],
)
def test_bad_stream_settings_name_the_key(body: str, key: str, fragment: str) -> None:
    """Each invalid [stream] value is refused with the dotted key named."""
    with pytest.raises(ConfigError) as caught:
        parse_config(f"[stream]\n{body}\n")
    assert caught.value.key == key
    assert fragment in caught.value.message


def test_reload_applies_the_watch_keys_and_keeps_the_connection_keys() -> None:
    """watch_band, max_assets and the timers apply on SIGHUP; enabled, ws_url and
    assets_per_connection keep their running values and are reported as restart-only."""
    old = parse_config("")
    new = parse_config(
        "[stream]\nenabled = false\nws_url = 'ws://127.0.0.1:1/ws/market'\n"
        "assets_per_connection = 50\nwatch_band = 0.1\nmax_assets = 10\ndebounce_ms = 5\n"
    )
    reload = merge_reload(old, new)
    stream = reload.config.stream
    assert (stream.enabled, stream.ws_url, stream.assets_per_connection) == (
        old.stream.enabled,
        old.stream.ws_url,
        old.stream.assets_per_connection,
    )
    assert (stream.watch_band, stream.max_assets, stream.debounce_ms) == (Decimal("0.1"), 10, 5)
    assert sorted(reload.ignored) == [
        "stream.assets_per_connection",
        "stream.enabled",
        "stream.ws_url",
    ]
    applied = ["stream.debounce_ms", "stream.max_assets", "stream.watch_band"]
    assert sorted(reload.applied) == applied
