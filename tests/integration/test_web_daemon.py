"""The web layer inside the real daemon, against the simulator over loopback HTTP and real SQLite.

Every route is compared with the mirror files and the database the same daemon wrote; the stream
is read during real polls; /metrics is checked against the ledger; the control routes are driven
with and without the token.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prescientd.clock import SystemClock
from prescientd.status import collect_status
from web.live import TOKEN, LiveDaemon, live_daemon, polls_done, read_events, wait_for

# every metric of DESIGN.md §8 (counters and histograms by their sample names)
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
CLOCK_FIELDS = {"generated_at", "age_s", "checked_at", "prices_age_s"}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


async def _all_items(live: LiveDaemon, path: str) -> list[Any]:
    items: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        sep = "&" if "?" in path else "?"
        page = await live.json(f"{path}{sep}limit=7&offset={offset}")
        items += page["items"]
        offset = page["next_offset"]
    return items


async def _metrics(live: LiveDaemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with live.client.get("/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _ledger_counts(live: LiveDaemon) -> tuple[int, int]:
    db = live.config.paths.db_path
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        trades = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        settlements = conn.execute("SELECT COUNT(*) FROM settlements").fetchone()[0]
    return int(trades), int(settlements)


async def test_every_route_answers_what_the_mirrors_and_status_show(tmp_path: Path) -> None:
    """Portfolio, positions, trades, signals, markets, CSV, status, equity, performance and config
    versions equal the files and the database the same daemon wrote."""
    async with live_daemon(tmp_path) as live:
        await live.daemon.run_job_now("evening")  # a snapshot: performance and an evening point
        await live.mirrors_written()
        trades_dir, exports = live.data_dir / "trades", live.data_dir / "exports"

        portfolio = await live.json("/api/v1/portfolio")
        assert _without_clock(portfolio) == _without_clock(
            _read_json(trades_dir / "portfolio.json")
        )
        assert portfolio["trade_count"] > 0 and portfolio["open_positions"] > 0

        ledger = _read_json(trades_dir / "paper_trades.json")
        assert await _all_items(live, "/api/v1/trades?order=asc") == ledger
        newest = await live.json("/api/v1/trades?limit=3")
        assert newest["items"] == ledger[::-1][:3] and newest["total"] == len(ledger)
        only_trades = await live.json("/api/v1/trades?kind=trade&limit=1")
        assert only_trades["total"] == sum(e["kind"] == "trade" for e in ledger)
        first = ledger[0]
        assert await live.json(f"/api/v1/trades/{first['trade_id']}") == first
        await live.json("/api/v1/trades/999999", status=404)

        positions = await _all_items(live, "/api/v1/positions")
        by_opened = sorted(
            portfolio["positions"], key=lambda p: (p["opened_at"], p["market_id"], p["token_id"])
        )
        assert _without_clock(positions) == _without_clock(by_opened)

        signals_file = _read_json(trades_dir / "current_signals.json")
        signals = await live.json("/api/v1/signals/current?limit=1000")
        assert signals["items"] == signals_file["signals"]
        for key in ("evaluated_at", "config_version", "markets_considered", "actionable"):
            assert signals[key] == signals_file[key], key

        csv_markets = {r["market_id"]: r for r in _csv_rows(exports / "markets_current.csv")}
        markets = await _all_items(live, "/api/v1/markets/current")
        assert sorted(m["market_id"] for m in markets) == sorted(csv_markets)
        for row in markets:
            for col in ("yes_bid", "yes_ask", "no_bid", "no_ask", "display_price"):
                shown = csv_markets[row["market_id"]][col]
                assert row[col] == (float(shown) if shown else None), (row["market_id"], col)
        one = markets[0]
        assert _without_clock(await live.json(f"/api/v1/markets/{one['market_id']}")) == (
            _without_clock(one)
        )
        await live.json("/api/v1/markets/0", status=404)

        async with live.client.get("/api/v1/exports/trades_summary.csv") as response:
            assert response.status == 200
            assert await response.read() == (exports / "trades_summary.csv").read_bytes()

        status = await live.json("/api/v1/status")
        expected = await collect_status(live.config, SystemClock().now())
        assert _without_clock(status) == _without_clock(json.loads(json.dumps(expected)))
        assert status["equity_usd"] == portfolio["equity_usd"]

        perf_csv = _csv_rows(exports / "performance_daily.csv")
        perf = await _all_items(live, "/api/v1/performance")
        assert [r["date"] for r in perf] == [r["date"] for r in perf_csv] and len(perf) == 1
        assert perf[0]["equity_usd"] == float(perf_csv[0]["equity_usd"])
        assert perf[0]["daily_pnl_usd"] == pytest.approx(perf[0]["equity_usd"] - 10000, abs=1e-6)

        equity = await _all_items(live, "/api/v1/equity")
        assert [p["source"] for p in equity] == ["poll", "evening"]
        assert equity[1]["equity_usd"] == perf[0]["equity_usd"]
        assert equity[0]["equity_usd"] == portfolio["equity_usd"]  # no poll since the first
        peak = max(10000, equity[0]["equity_usd"])
        assert equity[0]["drawdown"] == pytest.approx(equity[0]["equity_usd"] / peak - 1, abs=1e-6)

        versions = await live.json("/api/v1/config/versions")
        assert [(v["version"], v["source"]) for v in versions["items"]] == [(1, "start")]
        health = await live.json("/api/v1/health")
        assert health["status"] == "ok" and health["jobs"]["poll"]["outcome"] == "ok"


async def test_the_stream_delivers_trades_settlements_and_job_ends_of_a_real_poll(
    tmp_path: Path,
) -> None:
    """A cycle requested over HTTP trades a market the simulator pushed over the threshold and
    settles one it resolved; the stream carries each as the ledger records it."""
    async with live_daemon(tmp_path) as live:
        positions = await live.json("/api/v1/positions?limit=1000")
        held = positions["items"][0]
        held_ids = {p["market_id"] for p in positions["items"]}
        below = [
            m["market_id"]
            for m in (await live.json("/api/v1/markets/current?limit=1000"))["items"]
            if m["display_price"] is not None
            and m["display_price"] < 0.4
            and m["market_id"] not in held_ids
        ]
        assert below, "the simulator universe should have markets below the threshold"
        pushed = below[0]
        live.sim.state.move(pushed, Decimal("0.80"))
        live.sim.state.resolve(held["market_id"], "yes" if held["outcome"] == "No" else "no")
        async with live.client.get("/api/v1/stream") as response:
            status, body = await live.post("/api/v1/cycle")
            assert status == 202 and body["jobs"] == ["morning", "poll"], body
            events = await read_events(
                response,
                lambda evs: any(
                    e["event"] == "job_finished" and json.loads(e["data"])["job"] == "poll"
                    for e in evs
                ),
            )
        kinds = [e["event"] for e in events]
        data = [json.loads(e["data"]) for e in events]
        assert kinds[0] == "job_finished" and data[0]["job"] == "morning"
        assert {"prices", "paper_trade", "position_settled"} <= set(kinds)
        trades = [d for k, d in zip(kinds, data, strict=True) if k == "paper_trade"]
        assert pushed in {t["market_id"] for t in trades}
        for trade in trades:
            entry = await live.json(f"/api/v1/trades/{trade['trade_id']}")
            assert trade == {k: v for k, v in entry.items() if k != "levels"}
        settled = [d for k, d in zip(kinds, data, strict=True) if k == "position_settled"]
        assert [s["market_id"] for s in settled] == [held["market_id"]]
        assert settled[0]["question"] == held["question"]
        ledger = await live.json("/api/v1/trades?kind=settlement")
        assert settled[0]["settlement_id"] == ledger["items"][0]["settlement_id"]
        prices = data[kinds.index("prices")]
        assert prices["tokens"] > 0 and prices["books"] + prices["missing"] <= prices["tokens"]
        assert data[-1]["outcome"] == "ok" and data[-1]["counts"]["trades"] == len(trades)


async def test_metrics_show_every_design_metric_with_the_ledgers_figures(tmp_path: Path) -> None:
    """After polls /metrics has every DESIGN §8 metric; the account figures are the ledger's and
    status's, and a retried /books request is counted as a 5xx and a retry of the clob API."""
    async with live_daemon(tmp_path) as live:
        live.sim.state.set_faults(
            {"server_error": {"count": 1, "route": "clob", "path_prefix": "/books"}}
        )
        before = await polls_done(live)
        assert (await live.post("/api/v1/cycle"))[0] == 202
        await wait_for(lambda: _more(live, before), "the cycle's poll")
        status = await live.json("/api/v1/status")
        metrics = await _metrics(live)
        trades, settlements = _ledger_counts(live)
    names = {name for name, _ in metrics}
    assert not [m for m in DESIGN_METRICS if m not in names]
    default = (("strategy", "default"),)
    usd = {k: pytest.approx(status[k], abs=1e-6) for k in ("equity_usd", "cash_usd", "fees_usd")}
    assert metrics[("prescientd_equity_usd", default)] == usd["equity_usd"]
    assert metrics[("prescientd_cash_usd", default)] == usd["cash_usd"]
    assert metrics[("prescientd_equity_usd", default)] == pytest.approx(
        metrics[("prescientd_cash_usd", default)] + status["positions_value_usd"], abs=1e-5
    )
    assert metrics[("prescientd_open_positions", default)] == status["open_positions"]
    assert metrics[("prescientd_fees_usd_total", default)] == usd["fees_usd"]
    assert metrics[("prescientd_trades_total", default)] == trades > 0
    assert metrics[("prescientd_settlements_total", default)] == settlements
    poll_ok = (("job", "poll"), ("outcome", "ok"))
    assert metrics[("prescientd_job_runs_total", poll_ok)] == 2  # the first poll, the cycle's
    assert metrics[("prescientd_job_duration_seconds_count", (("job", "poll"),))] == 2
    morning_ok = (("job", "morning"), ("outcome", "ok"))
    assert metrics[("prescientd_job_runs_total", morning_ok)] == 2
    assert metrics[("prescientd_job_runs_total", (("job", "poll"), ("outcome", "failed")))] == 0
    for job in ("morning", "poll"):
        stamp = metrics[("prescientd_job_last_success_timestamp_seconds", (("job", job),))]
        assert abs(stamp - SystemClock().now().timestamp()) < 120
    assert 0 <= metrics[("prescientd_prices_age_seconds", ())] < 60
    clob_5xx = (("api", "clob"), ("status_class", "5xx"))
    assert metrics[("prescientd_http_requests_total", clob_5xx)] == 1
    assert metrics[("prescientd_http_retries_total", (("api", "clob"),))] == 1
    gamma_2xx = (("api", "gamma"), ("status_class", "2xx"))
    assert metrics[("prescientd_http_requests_total", gamma_2xx)] > 0
    assert metrics[("prescientd_config_version", ())] == 1


async def _more(live: LiveDaemon, before: int) -> bool:
    return await polls_done(live) > before


async def test_control_routes_refuse_without_the_token_and_do_nothing(tmp_path: Path) -> None:
    """No header: 401; a wrong token: 403; neither queues a cycle or a reload."""
    async with live_daemon(tmp_path) as live:
        before = await polls_done(live)
        for token, expected in ((None, 401), ("wrong-token-0123456789", 403)):
            for path in ("/api/v1/cycle", "/api/v1/reload", "/trading/run-full-cycle"):
                status, body = await live.post(path, token=token)
                assert status == expected and "error" in body, (path, token, body)
        await asyncio.sleep(0.5)
        assert await polls_done(live) == before
        assert not live.daemon.reload_requested.is_set()
        assert live.daemon.config_version == 1


async def test_without_a_token_file_control_routes_answer_403(tmp_path: Path) -> None:
    """With no http.token_file every POST route is refused with 403, even with a token."""
    async with live_daemon(tmp_path, token=False) as live:
        for path in ("/api/v1/cycle", "/api/v1/reload"):
            status, body = await live.post(path, token=TOKEN)
            assert status == 403 and "token_file" in body["error"]
        assert not live.daemon.reload_requested.is_set()


async def test_a_cycle_waits_for_the_running_job_and_the_answer_does_not(tmp_path: Path) -> None:
    """While a job holds the lock the cycle is accepted at once (202, naming what it waits for)
    and runs morning then poll only after the job ends."""
    async with live_daemon(tmp_path) as live:
        before = await polls_done(live)
        await live.daemon.job_lock.acquire()
        live.daemon._running_job = "evening"  # what run_job_now records for a running job
        try:
            async with asyncio.timeout(2):
                status, body = await live.post("/api/v1/cycle")
            assert status == 202 and body["status"] == "accepted", body
            assert body["queued"] is True and body["waiting_for"] == "evening"
            again = await live.post("/api/v1/cycle")
            assert again[1]["already_queued"] is True
            await asyncio.sleep(0.5)
            assert await polls_done(live) == before
        finally:
            live.daemon._running_job = None
            live.daemon.job_lock.release()
        await wait_for(lambda: _more(live, before), "the queued cycle's poll")
        store = live.daemon._store
        assert store is not None
        rows = await store.db.read("SELECT job FROM job_runs ORDER BY id DESC LIMIT 2")
        assert [r[0] for r in rows] == ["poll", "morning"]
        await asyncio.sleep(0.5)
        assert await polls_done(live) == before + 1  # two requests, one cycle


async def test_reload_over_http_is_the_sighup_path(tmp_path: Path) -> None:
    """POST /api/v1/reload and SIGHUP each apply a changed file and publish the same
    config_reloaded event; /metrics counts both and shows the new version."""
    async with live_daemon(tmp_path) as live:
        path = live.config_path
        async with live.client.get("/api/v1/stream") as response:
            path.write_text(path.read_text().replace("threshold = 0.5", "threshold = 0.6"))
            assert (await live.post("/api/v1/reload"))[0] == 202
            by_http = await read_events(response, lambda evs: _reloaded(evs) >= 1)
            path.write_text(path.read_text().replace("threshold = 0.6", "threshold = 0.7"))
            os.kill(os.getpid(), signal.SIGHUP)
            by_signal = await read_events(response, lambda evs: _reloaded(evs) >= 1)
        first = json.loads(next(e for e in by_http if e["event"] == "config_reloaded")["data"])
        second = json.loads(next(e for e in by_signal if e["event"] == "config_reloaded")["data"])
        assert first == {
            "outcome": "applied",
            "version": 2,
            "previous_version": 1,
            "changed_keys": ["strategy.threshold"],
        }
        assert second == {**first, "version": 3, "previous_version": 2}
        assert str(live.daemon.config.strategy.threshold) == "0.7"
        metrics = await _metrics(live)
        versions = await live.json("/api/v1/config/versions")
    assert metrics[("prescientd_config_reloads_total", (("outcome", "applied"),))] == 2
    assert metrics[("prescientd_config_version", ())] == 3
    assert [v["version"] for v in versions["items"]] == [3, 2, 1]


def _reloaded(events: list[dict[str, str]]) -> int:
    return sum(e["event"] == "config_reloaded" for e in events)


async def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    """A DNS-rebinding Host gets 421 from every route; localhost with the bound port is served."""
    async with live_daemon(tmp_path) as live:
        port = live.url.rstrip("/").rsplit(":", 1)[1]
        for path in ("/api/v1/status", "/metrics", "/"):
            async with live.client.get(path, headers={"Host": f"evil.example:{port}"}) as resp:
                assert resp.status == 421, path
        async with live.client.get("/api/v1/health", headers={"Host": f"localhost:{port}"}) as r:
            assert r.status == 200


async def test_stop_with_open_streams_is_prompt(tmp_path: Path) -> None:
    """SIGTERM with three dashboards following the stream: every stream ends, exit 0 in 10 s."""
    async with live_daemon(tmp_path) as live:
        responses = [await live.client.get("/api/v1/stream") for _ in range(3)]
        await wait_for(lambda: live.daemon.window.hub.clients == 3, "three stream clients")
        started = asyncio.get_running_loop().time()
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await asyncio.shield(live.task)
            for response in responses:
                await _read_to_the_end(response)  # hangs (and times out) if a stream stays open
        elapsed = asyncio.get_running_loop().time() - started
    assert code == 0 and elapsed < 10


async def _read_to_the_end(response: aiohttp.ClientResponse) -> None:
    try:
        while await response.content.readline():
            pass
    except aiohttp.ClientPayloadError:
        pass
    response.close()
