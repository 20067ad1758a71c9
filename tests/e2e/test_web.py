"""The operator's window of real `prescientd demo` and `prescientd run` subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import DaemonProcess, Setup, SimProcess
from e2e.demo import DemoProcess, listening_addresses, running_demo

DESIGN_METRICS = (
    "prescientd_equity_usd",
    "prescientd_cash_usd",
    "prescientd_open_positions",
    "prescientd_realized_pnl_usd",
    "prescientd_unrealized_pnl_usd",
    "prescientd_fees_usd_total",
    "prescientd_trades_total",
    "prescientd_settlements_total",
    "prescientd_job_runs_total",
    "prescientd_job_duration_seconds_bucket",
    "prescientd_job_last_success_timestamp_seconds",
    "prescientd_prices_age_seconds",
    "prescientd_http_requests_total",
    "prescientd_http_retries_total",
    "prescientd_config_version",
    "prescientd_config_reloads_total",
)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _consistent_scrape(demo: DemoProcess) -> tuple[Samples, dict[str, Any], int]:
    """/metrics with the status and ledger size of the same moment (retried across a poll)."""
    for _ in range(20):
        before = demo.json("/api/v1/status")
        status, body = demo.get("/metrics")
        assert status == 200
        trades = demo.json("/api/v1/trades?kind=trade&limit=1")["total"]
        after = demo.json("/api/v1/status")
        if (before["equity_usd"], before["trade_count"]) == (
            after["equity_usd"],
            after["trade_count"],
        ):
            return _samples(body.decode()), after, trades
    raise AssertionError("the demo never stood still between two status reads")


@pytest.mark.e2e
def test_demo_metrics_on_loopback_only(tmp_path: Path) -> None:
    """During the demo, a curl of /metrics shows every DESIGN §8 metric with sane values and the
    listener is bound to 127.0.0.1 only."""
    with running_demo(tmp_path, speed=600.0) as demo:
        samples, status, trades = _consistent_scrape(demo)
        addresses = listening_addresses(demo.port)
        code, _ = demo.terminate()
    assert code == 0
    names = {name for name, _ in samples}
    assert not [m for m in DESIGN_METRICS if m not in names]
    default = (("strategy", "default"),)
    equity = samples[("prescientd_equity_usd", default)]
    assert equity == pytest.approx(status["equity_usd"], abs=1e-6)
    assert equity == pytest.approx(
        samples[("prescientd_cash_usd", default)] + status["positions_value_usd"], abs=1e-5
    )
    assert samples[("prescientd_trades_total", default)] == status["trade_count"] > 0
    # the ledger (and /api/v1/trades) holds every strategy's trades, each counted under its label
    per_strategy = {s["strategy"]: s["trade_count"] for s in status["strategies"]}
    for name, count in per_strategy.items():
        assert samples[("prescientd_trades_total", (("strategy", name),))] == count
    assert sum(per_strategy.values()) == trades
    assert samples[("prescientd_open_positions", default)] == status["open_positions"]
    assert samples[("prescientd_job_runs_total", (("job", "poll"), ("outcome", "ok")))] >= 1
    assert 0 <= samples[("prescientd_prices_age_seconds", ())] < 15  # the demo's max price age
    assert samples[("prescientd_http_requests_total", (("api", "clob"), ("status_class", "2xx")))]
    assert samples[("prescientd_config_version", ())] == 1
    assert addresses == ["127.0.0.1"]


@pytest.mark.e2e
async def test_demo_stops_promptly_with_dashboards_following_the_stream(tmp_path: Path) -> None:
    """SIGTERM while three clients follow /api/v1/stream: their streams end and the demo exits 0
    within 10 s."""
    with running_demo(tmp_path) as demo:
        async with aiohttp.ClientSession(base_url=demo.url) as client:
            streams = [await client.get("/api/v1/stream") for _ in range(3)]
            for response in streams:
                assert response.status == 200
                assert (await response.content.readline()).startswith(b"retry:")
            code, elapsed_s = await asyncio.to_thread(demo.terminate)
            async with asyncio.timeout(5):
                for response in streams:
                    await _read_to_the_end(response)  # times out if a stream stays open
    assert code == 0 and elapsed_s < 10


async def _read_to_the_end(response: aiohttp.ClientResponse) -> None:
    # a connection cut at shutdown has ended all the same
    with contextlib.suppress(aiohttp.ClientPayloadError):
        await response.content.read()
    response.close()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ("short\n", "at least 16 characters")],
)
def test_an_unusable_token_file_stops_start_up_with_exit_2(
    setup_factory: Callable[..., Setup],
    sim: SimProcess,
    content: str | None,
    expected: str,
) -> None:
    """A token file that is missing or too short: one line naming it, exit 2, nothing started."""
    setup = setup_factory(sim.url, http={"token_file": "http.token"})  # relative to the cwd
    if content is not None:
        (setup.root / "http.token").write_text(content, encoding="utf-8")
    done = setup.cli("run", timeout_s=30)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "http.token_file" in lines[0] and expected in lines[0], lines
    assert not setup.db_path.exists()


@pytest.mark.e2e
def test_run_without_http_opens_no_listener(
    setup_factory: Callable[..., Setup],
    sim: SimProcess,
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """[http] enabled = false: the daemon trades as before and listens nowhere."""
    setup = setup_factory(sim.url, http={"enabled": False, "port": 8686})
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 60, job="poll")
    disabled = daemon.events("http_disabled")
    listening = daemon.events("http_listening")
    code, _ = daemon.terminate_and_wait()
    assert code == 0 and len(disabled) == 1 and listening == []


@pytest.mark.e2e
def test_run_listens_where_its_log_says(
    setup_factory: Callable[..., Setup],
    sim: SimProcess,
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """`prescientd run` logs http_listening with the port the OS chose; /api/v1/status there is
    the document `prescientd status --json` prints (same fields, same account)."""
    import urllib.request

    setup = setup_factory(sim.url)
    daemon = daemon_factory(setup)
    line = daemon.wait_for("http_listening", 30)
    daemon.wait_for("job_finished", 60, job="poll")
    with urllib.request.urlopen(line["url"] + "api/v1/status", timeout=10) as response:
        served = json.loads(response.read())
    printed = json.loads(setup.cli("status", "--json").stdout)
    code, _ = daemon.terminate_and_wait()
    assert code == 0 and line["host"] == "127.0.0.1" and line["port"] > 0
    assert sorted(served) == sorted(printed)
    for key in ("database", "config_version", "starting_balance_usd"):
        assert served[key] == printed[key], key


@pytest.mark.e2e
def test_a_taken_port_stops_start_up_in_one_line(
    setup_factory: Callable[..., Setup], sim: SimProcess
) -> None:
    """[http] port already taken (no fallback): one line naming host and port, exit 1, and no
    job ran (the listener opens before the daemon reports ready)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        setup = setup_factory(sim.url, http={"port": port})
        done = setup.cli("run", timeout_s=30)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], lines
    assert '"job_finished"' not in done.stdout
