"""The [http] config section: defaults, validation, shipped files, restart-only on reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from prescientd.config import ConfigError, load_config, parse_config
from prescientd.reload import merge_reload

ROOT = Path(__file__).parents[2]


def test_defaults_are_loopback_8686_without_token() -> None:
    """No [http] section: enabled on 127.0.0.1:8686, POST routes disabled."""
    http = parse_config("").http
    assert (http.enabled, http.host, http.port, http.token_path) == (True, "127.0.0.1", 8686, None)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[http]\nhost = "example.com"', "http.host"),
        ('[http]\nhost = "127.0.0.1:80"', "http.host"),
        ("[http]\nport = 70000", "http.port"),
        ("[http]\nport = -1", "http.port"),
        ("[http]\nmax_body_bytes = 10", "http.max_body_bytes"),
        ("[http]\nsse_queue_size = 0", "http.sse_queue_size"),
        ('[http]\nallowed_hosts = ["evil.example:80"]', "http.allowed_hosts"),
        ("[http]\ncors = true", "http.cors"),
    ],
)
def test_bad_values_name_the_key(text: str, key: str) -> None:
    """A bad [http] value is an error naming its key."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("host", "normal"), [("::1", "::1"), ("0.0.0.0", "0.0.0.0"), ("localhost", "localhost")]
)
def test_hosts_accepted(host: str, normal: str) -> None:
    """IP literals and localhost are accepted."""
    assert parse_config(f'[http]\nhost = "{host}"').http.host == normal


def test_shipped_configs() -> None:
    """The default config listens on 8686 strictly; the demo falls back to a free port."""
    default = load_config(ROOT / "config" / "prescientd.toml").http
    demo = load_config(ROOT / "config" / "demo.toml").http
    assert (default.port, default.port_fallback, default.token_file) == (8686, False, "")
    assert (demo.port, demo.port_fallback) == (8686, True)


def test_the_systemd_unit_lets_the_daemon_bind_only_its_listener() -> None:
    """prescientd.service allows binding exactly the shipped config's port and nothing else."""
    unit = (ROOT / "prescientd.service").read_text(encoding="utf-8").splitlines()
    binds = [line for line in unit if line.startswith("SocketBind")]
    port = load_config(ROOT / "config" / "prescientd.toml").http.port
    assert binds == ["SocketBindDeny=any", f"SocketBindAllow=tcp:{port}"]


def test_http_is_restart_only() -> None:
    """A reload never changes [http]; the change is reported as ignored."""
    old = parse_config("")
    new = parse_config("[http]\nport = 9000\n[strategy]\nthreshold = 0.6")
    reload = merge_reload(old, new)
    assert reload.config.http.port == 8686
    assert "http.port" in reload.ignored
    assert "strategy.threshold" in reload.applied
