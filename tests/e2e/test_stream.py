"""`prescientd run` against `prescientd sim` with the market stream on and off (subprocesses).

A market moved in the simulator (`POST /_sim/move`) is bought within a second with the stream on,
and with it off not before the next poll (the poll interval is an hour; the test asks for one).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "e2e-stream-token-0123456789abcdef"
# a moved market is bought whatever the shape of its simulated book (spread, depth)
LENIENT = {"max_spread": 1.0, "min_depth_ratio": 0}
STREAM_ON = {"enabled": True, "watch_band": 0.1, "ping_interval_s": 2, "silence_limit_s": 6}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return json.loads(response.read())


def _start(
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
    stream: dict[str, Any],
) -> tuple[DaemonProcess, str]:
    """A daemon with an hour between polls, after its first poll: (process, its URL)."""
    setup = setup_factory(
        sim.url,
        schedule={"poll_interval_s": 3600},
        strategy=LENIENT,
        stream=stream,
        http={"port": 0, "token_file": "http.token"},
    )
    token_file = setup.root / "http.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    daemon = daemon_factory(setup)
    url = str(daemon.wait_for("http_listening", 30)["url"])
    daemon.wait_for("job_finished", 60, job="poll")
    return daemon, url


def _unheld_below(url: str) -> str:
    """An eligible market a little below the threshold (inside the watch band) not held."""
    held = {p["market_id"] for p in _get(url + "api/v1/positions?limit=1000")["items"]}
    rows = _get(url + "api/v1/markets/current?limit=1000")["items"]
    below = sorted(
        (0.5 - r["display_price"], r["market_id"])
        for r in rows
        if r["market_id"] not in held
        and r["display_price"] is not None
        and 0.43 <= r["display_price"] <= 0.47
    )
    assert below, "the simulator universe should have markets just below the threshold"
    return str(below[0][1])


def _trades_of(daemon: DaemonProcess, market_id: str) -> list[dict[str, Any]]:
    return daemon.events("paper_trade", market_id=market_id)


def _ts(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["ts"])).timestamp()


def test_with_the_stream_a_moved_market_is_traded_within_a_second(
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """With [stream] on, the simulator's move is bought from the stream within a second of the
    move, with no poll in between; SIGTERM still exits 0."""
    daemon, url = _start(sim, setup_factory, daemon_factory, STREAM_ON)
    daemon.wait_for("stream_connected", 30)
    time.sleep(1.0)  # the first snapshots are evaluated (a poll's second best may be bought)
    market_id = _unheld_below(url)
    moved_at = time.time()
    sim.call("POST", "/_sim/move", {"market_id": market_id, "yes_price": "0.80"})
    (trade,) = wait_until(lambda: _trades_of(daemon, market_id), 10, "the stream's trade")
    assert trade["source"] == "stream"
    assert _ts(trade) - moved_at < 1.0, f"traded {_ts(trade) - moved_at:.3f} s after the move"
    assert len(daemon.events("job_finished", job="poll")) == 1
    code, _ = daemon.terminate_and_wait()
    assert code == 0


def test_without_the_stream_a_moved_market_waits_for_the_next_poll(
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """With [stream] off nothing trades between polls: the moved market is bought by the next
    poll (asked for over HTTP), not before."""
    daemon, url = _start(sim, setup_factory, daemon_factory, {"enabled": False})
    market_id = _unheld_below(url)
    trades_before = len(daemon.events("paper_trade"))
    sim.call("POST", "/_sim/move", {"market_id": market_id, "yes_price": "0.80"})
    time.sleep(3.0)  # three times the stream's bound: long enough to see it would not trade
    assert len(daemon.events("paper_trade")) == trades_before
    assert daemon.events("stream_connected") == []
    request = urllib.request.Request(
        url + "api/v1/cycle", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # 127.0.0.1 only
        assert response.status == 202
    poll = daemon.wait_for("job_finished", 60, count=2, job="poll")
    (trade,) = _trades_of(daemon, market_id)
    assert trade["source"] == "poll" and trade["run_id"] == poll["run_id"]
    code, _ = daemon.terminate_and_wait()
    assert code == 0
