"""The web layer with two strategies inside the real daemon, against the simulator: every
per-strategy route equals the mirror files and the ledger the same daemon wrote."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from web.live import LiveDaemon, live_daemon, polls_done, wait_for

VARIANT = "contrarian60"
VARIANTS = {f"strategies.{VARIANT}": {"threshold": 0.6, "stake_usd": 50}}
CLOCK_FIELDS = {"generated_at", "age_s", "checked_at", "prices_age_s"}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _same_cell(api: Any, cell: str) -> bool:
    """An API value and the CSV cell of the same quantity: numbers as numbers, null as empty."""
    if api is None:
        return cell == ""
    if isinstance(api, bool):
        return cell.lower() == str(api).lower()
    if isinstance(api, int | float):
        return cell != "" and float(cell) == pytest.approx(api, abs=1e-6)
    return cell == str(api)


async def _all_items(live: LiveDaemon, path: str) -> list[Any]:
    items: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        sep = "&" if "?" in path else "?"
        page = await live.json(f"{path}{sep}limit=5&offset={offset}")
        items += page["items"]
        offset = page["next_offset"]
    return items


async def _second_poll(live: LiveDaemon) -> None:
    """One more cycle (morning + poll), requested over HTTP, and its mirrors written."""
    before = await polls_done(live)
    assert (await live.post("/api/v1/cycle"))[0] == 202

    async def more() -> bool:
        return await polls_done(live) > before

    await wait_for(more, "the cycle's poll")
    await live.mirrors_written()


async def test_two_strategies_through_the_api_equal_the_files_and_the_ledger(
    tmp_path: Path,
) -> None:
    """/api/v1/strategies is strategies.csv and agrees with each strategy's ledger; each list
    route with ?strategy= holds exactly that strategy's rows of the mirrors; each strategy has
    its own equity curve from the poll counts and evening snapshots."""
    async with live_daemon(tmp_path, extra=VARIANTS) as live:
        await live.daemon.run_job_now("evening")
        await _second_poll(live)
        exports, trades_dir = live.data_dir / "exports", live.data_dir / "trades"

        strategies = await live.json("/api/v1/strategies")
        csv_rows = _csv_rows(exports / "strategies.csv")
        assert [r["strategy"] for r in strategies["items"]] == ["default", VARIANT]
        assert [r["strategy"] for r in csv_rows] == ["default", VARIANT]
        for row, file_row in zip(strategies["items"], csv_rows, strict=True):
            assert set(file_row) <= set(row), set(file_row) - set(row)
            for column, cell in file_row.items():
                assert _same_cell(row[column], cell), (row["strategy"], column, cell)

        ledger = _read_json(trades_dir / "paper_trades.json")
        for row in strategies["items"]:
            own = [e for e in ledger if e["strategy"] == row["strategy"]]
            bought = [e for e in own if e["kind"] == "trade"]
            assert row["trade_count"] == len(bought) > 0
            assert row["fees_usd"] == pytest.approx(sum(e["fees_usd"] for e in bought), abs=1e-6)
            cash = row["starting_balance_usd"] + sum(e["cash_delta_usd"] for e in own)
            assert row["cash_usd"] == pytest.approx(cash, abs=1e-5)
            assert row["status"] == "active"

        variant_trades = await _all_items(live, f"/api/v1/trades?strategy={VARIANT}&order=asc")
        assert variant_trades == [e for e in ledger if e["strategy"] == VARIANT]
        default_trades = await live.json("/api/v1/trades?strategy=default&limit=1")
        assert default_trades["total"] == sum(e["strategy"] == "default" for e in ledger)
        assert default_trades["total"] > len(variant_trades)  # 0.50 trades more than 0.60
        everyone = await live.json("/api/v1/trades?limit=1")
        assert everyone["total"] == len(ledger)
        await _positions_and_portfolio_match(live, trades_dir)
        await _signals_match(live, trades_dir)
        await _equity_and_performance_match(live, exports, trades_dir)

        missing = await live.json("/api/v1/trades?strategy=nobody", status=404)
        assert missing["error"] == "no strategy named 'nobody' (strategies: default, contrarian60)"


async def _positions_and_portfolio_match(live: LiveDaemon, trades_dir: Path) -> None:
    """?strategy= on positions and portfolio equals that account in portfolio.json."""
    document = _read_json(trades_dir / "portfolio.json")
    accounts = {a["strategy"]: a for a in document["strategies"]}
    for name in ("default", VARIANT):
        positions = await _all_items(live, f"/api/v1/positions?strategy={name}")
        expected = sorted(
            accounts[name]["positions"],
            key=lambda p: (p["opened_at"], p["market_id"], p["token_id"]),
        )
        assert _without_clock(positions) == _without_clock(expected)
        assert positions and {p["strategy"] for p in positions} == {name}
        portfolio = await live.json(f"/api/v1/portfolio?strategy={name}")
        assert [a["strategy"] for a in portfolio["strategies"]] == [name]
        assert _without_clock(portfolio["strategies"][0]) == _without_clock(accounts[name])
        assert portfolio["equity_usd"] == accounts[name]["equity_usd"]
    every = await _all_items(live, "/api/v1/positions")
    assert len(every) == sum(len(a["positions"]) for a in accounts.values())
    whole = await live.json("/api/v1/portfolio")
    assert _without_clock(whole) == _without_clock(document)


async def _signals_match(live: LiveDaemon, trades_dir: Path) -> None:
    """?strategy= on signals is that strategy's part of current_signals.json."""
    document = _read_json(trades_dir / "current_signals.json")
    every = await live.json("/api/v1/signals/current?limit=1000")
    assert every["items"] == document["signals"]
    assert every["strategies"] == document["strategies"]
    for key in ("evaluation_id", "evaluated_at", "markets_considered", "actionable", "skipped"):
        assert every[key] == document[key], key
    for part in document["strategies"]:
        name = part["strategy"]
        own = await live.json(f"/api/v1/signals/current?strategy={name}&limit=1000")
        assert own["items"] == [s for s in document["signals"] if s["strategy"] == name]
        assert own["strategies"] == [part]
        assert (own["evaluation_id"], own["actionable"]) == (
            part["evaluation_id"],
            part["actionable"],
        )


async def _equity_and_performance_match(live: LiveDaemon, exports: Path, trades_dir: Path) -> None:
    """Each strategy's curve: a point per poll (from the poll's counts) and per evening, the
    newest poll point equal to the account's equity now, the evening point to its performance
    row; the unfiltered curve is both, merged by time."""
    accounts = {a["strategy"]: a for a in _read_json(trades_dir / "portfolio.json")["strategies"]}
    performance_csv = _csv_rows(exports / "performance_daily.csv")
    curves = {}
    for name in ("default", VARIANT):
        curve = await _all_items(live, f"/api/v1/equity?strategy={name}")
        assert [p["source"] for p in curve] == ["poll", "evening", "poll"], name
        assert {p["strategy"] for p in curve} == {name}
        assert curve[-1]["equity_usd"] == accounts[name]["equity_usd"]  # no poll since
        perf = await _all_items(live, f"/api/v1/performance?strategy={name}")
        file_rows = [r for r in performance_csv if r["strategy"] == name]
        assert [r["date"] for r in perf] == [r["date"] for r in file_rows] and len(perf) == 1
        assert _same_cell(perf[0]["equity_usd"], file_rows[0]["equity_usd"])
        assert curve[1]["equity_usd"] == perf[0]["equity_usd"]
        curves[name] = curve
    assert curves["default"][0]["equity_usd"] != curves[VARIANT][0]["equity_usd"]
    merged = await _all_items(live, "/api/v1/equity")
    assert sorted(merged, key=lambda p: (p["time"], p["strategy"] != "default")) == merged
    assert sorted(map(json.dumps, merged)) == sorted(
        json.dumps(p) for curve in curves.values() for p in curve
    )
    newest = await live.json("/api/v1/equity?order=desc&limit=2")
    assert newest["items"] == merged[::-1][:2] and newest["total"] == 6


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value
