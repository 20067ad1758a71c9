"""`prescientd once|status|export` as subprocesses: one trading day by hand, and outages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from e2e.conftest import (
    EVENT_MIRRORS,
    EXPORT_CSVS,
    REPORT_CSVS,
    Setup,
    SimProcess,
    mirror_contents,
    read_csv,
    read_json,
    temp_files,
    today_local,
)

SetupFactory = Callable[..., Setup]
STAKE_USD = 100
EPS = Decimal("0.000001")


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _one_error_line(result: subprocess.CompletedProcess[str], job: str) -> str:
    """The failed command's stderr: exactly one line, naming the job, no traceback."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("prescientd: ") and job in line, line
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return line


@pytest.mark.e2e
def test_once_cycle_and_status_export(sim: SimProcess, setup_factory: SetupFactory) -> None:
    """morning, poll x3 with a resolution, evening x2, status and export, each one command."""
    setup = setup_factory(
        sim.url, schedule={"max_price_age_s": 600}, strategy={"stake_usd": STAKE_USD}
    )
    data = setup.data_dir
    trades_path = data / "trades/paper_trades.json"
    portfolio_path = data / "trades/portfolio.json"
    truth = {m["id"]: m for m in sim.markets()}

    _ok(setup.cli("once", "morning"))
    assert read_json(data / "events/filtered_events.json")

    # first poll: buys of NO tokens, about stake_usd each
    _ok(setup.cli("once", "poll"))
    v1 = read_json(trades_path)
    assert v1, "no trade at threshold 0.5 in the simulator"
    for t in v1:
        # "NO" is the second outcome token ("No", or e.g. the second team of a match)
        market = truth[t["market_id"]]
        assert (t["kind"], t["side"]) == ("trade", "buy")
        assert (t["token_id"], t["outcome"]) == (market["token_ids"][1], market["outcomes"][1])
        # a fill walks whole 0.01-share steps, so it may stop a fraction of a cent short
        assert STAKE_USD - 10 < t["notional_usd"] <= STAKE_USD, t
        levels = t["levels"]
        assert levels and _dec(t["shares"]) == sum((_dec(x["shares"]) for x in levels), Decimal(0))
        walked = sum((_dec(x["price"]) * _dec(x["shares"]) for x in levels), Decimal(0))
        assert abs(walked - _dec(t["notional_usd"])) <= EPS, t
        assert abs(sum(_dec(x["fees_usd"]) for x in levels) - _dec(t["fees_usd"])) <= EPS, t
    p1 = read_json(portfolio_path)
    spent = sum((_dec(t["notional_usd"]) + _dec(t["fees_usd"]) for t in v1), Decimal(0))
    assert abs(_dec(p1["cash_usd"]) - (_dec(p1["starting_balance_usd"]) - spent)) <= EPS
    held = {p["market_id"] for p in p1["positions"]}
    assert held == {t["market_id"] for t in v1}

    # second poll: nothing already held is bought again
    _ok(setup.cli("once", "poll"))
    v2 = read_json(trades_path)
    assert v2[: len(v1)] == v1
    assert not {t["market_id"] for t in v2[len(v1) :]} & held

    # resolve two held markets: NO wins in one (pays 1 a share), YES in the other (pays 0)
    p2 = read_json(portfolio_path)
    winner, loser = sorted(p2["positions"], key=lambda p: p["market_id"])[:2]
    sim.resolve(winner["market_id"], "no")
    sim.resolve(loser["market_id"], "yes")
    _ok(setup.cli("once", "poll"))
    v3 = read_json(trades_path)
    assert v3[: len(v2)] == v2
    new = v3[len(v2) :]
    settled = {e["market_id"]: e for e in new if e["kind"] == "settlement"}
    assert set(settled) == {winner["market_id"], loser["market_id"]}
    for position, per_share in ((winner, 1), (loser, 0)):
        s = settled[position["market_id"]]
        assert _dec(s["shares"]) == _dec(position["shares"])
        assert _dec(s["payout_per_share"]) == per_share
        assert _dec(s["payout_usd"]) == _dec(position["shares"]) * per_share
    p3 = read_json(portfolio_path)
    new_trades = sum((_dec(e["cash_delta_usd"]) for e in new if e["kind"] == "trade"), Decimal(0))
    payout = _dec(winner["shares"])
    assert abs(_dec(p3["cash_usd"]) - (_dec(p2["cash_usd"]) + payout + new_trades)) <= EPS
    assert {winner["market_id"], loser["market_id"]}.isdisjoint(
        p["market_id"] for p in p3["positions"]
    )

    # evening: one history entry for today; a second evening changes nothing
    today = today_local()
    _ok(setup.cli("once", "evening"))
    history = read_json(data / "history/portfolio_history.json")
    assert [h["date"] for h in history] == [today]
    assert abs(_dec(history[0]["cash_usd"]) - _dec(p3["cash_usd"])) <= EPS
    _, perf = read_csv(data / "exports/performance_daily.csv")
    assert [row["date"] for row in perf] == [today]
    assert read_json(data / f"markets/daily_prices_{today}.json")["tokens"]
    history_files = [
        data / "history/portfolio_history.json",
        data / "exports/portfolio_history.csv",
        data / "exports/performance_daily.csv",
    ]
    before = [p.read_bytes() for p in history_files]
    _ok(setup.cli("once", "evening"))
    assert [p.read_bytes() for p in history_files] == before
    assert read_json(trades_path) == v3

    # status: human and JSON, the same cash as portfolio.json
    p4 = read_json(portfolio_path)
    text = _ok(setup.cli("status")).stdout
    match = re.search(r"equity\s+([\d,]+\.\d\d) USD", text)
    assert match, text
    assert abs(_dec(match.group(1).replace(",", "")) - _dec(p4["equity_usd"])) <= Decimal("0.01")
    report = json.loads(_ok(setup.cli("status", "--json")).stdout)
    assert abs(_dec(report["cash_usd"]) - _dec(p4["cash_usd"])) <= Decimal("0.005")
    assert report["trade_count"] == p4["trade_count"]
    assert report["jobs"]["evening"]["outcome"] == "ok"

    # export: the deleted exports come back with the same content
    mirrors = mirror_contents(data)
    shutil.rmtree(data / "exports")
    _ok(setup.cli("export"))
    assert sorted(p.name for p in (data / "exports").iterdir()) == sorted(
        [*EXPORT_CSVS, *REPORT_CSVS, "prescientd.xlsx"]
    )
    rebuilt = mirror_contents(data)
    assert rebuilt.keys() == mirrors.keys()
    for name, content in mirrors.items():
        if name.removeprefix("exports/") in REPORT_CSVS:  # figures as of the rebuild
            assert rebuilt[name][0] == content[0], f"{name}'s header differs after export"
            continue
        assert rebuilt[name] == content, f"{name} differs after export"
    assert read_json(trades_path) == v3
    assert temp_files(setup.root) == []


@pytest.mark.e2e
def test_export_reproduces_event_mirrors_after_settlement(
    sim: SimProcess, setup_factory: SetupFactory
) -> None:
    """After a poll settles a resolved market, `export` rebuilds the event mirrors unchanged."""
    setup = setup_factory(sim.url, schedule={"max_price_age_s": 600})
    data = setup.data_dir
    _ok(setup.cli("once", "morning"))
    _ok(setup.cli("once", "poll"))
    held = read_json(data / "trades/portfolio.json")["positions"][0]
    sim.resolve(held["market_id"], "no")
    _ok(setup.cli("once", "poll"))
    assert [e for e in read_json(data / "trades/paper_trades.json") if e["kind"] == "settlement"], (
        "the resolved market was not settled"
    )
    before = {name: c for name, c in mirror_contents(data).items() if name in EVENT_MIRRORS}
    _ok(setup.cli("export"))
    after = {name: c for name, c in mirror_contents(data).items() if name in EVENT_MIRRORS}
    assert len(before) == len(EVENT_MIRRORS)
    assert after == before


@pytest.mark.e2e
def test_outage_fails_poll_without_touching_good_files(
    sim: SimProcess, setup_factory: SetupFactory
) -> None:
    """CLOB down: poll fails with one line, files untouched; Gamma failing: morning likewise."""
    setup = setup_factory(sim.url)
    data = setup.data_dir
    _ok(setup.cli("once", "cycle"))
    assert read_json(data / "trades/paper_trades.json"), "the good poll made no trade"

    price_files = [
        data / "markets/market_cache.json",
        data / "trades/portfolio.json",
        data / "trades/paper_trades.json",
        data / "trades/current_signals.json",
        data / "exports/markets_current.csv",
        data / "exports/positions_current.csv",
    ]
    prices_before = {p: p.read_bytes() for p in price_files}
    sim.set_faults({"books_down": True})
    _one_error_line(setup.cli("once", "poll"), "poll")
    assert {p: p.read_bytes() for p in price_files} == prices_before

    sim.clear_faults()
    event_files = [
        data / "events/filtered_events.json",
        data / "events/filtered_markets.json",
        data / "events/raw_events_backup.json",
        data / "exports/events_filtered.csv",
        data / "exports/markets_extracted.csv",
    ]
    events_before = {p: p.read_bytes() for p in event_files}
    sim.set_faults({"server_error": {"count": 1000, "route": "gamma"}})
    _one_error_line(setup.cli("once", "morning"), "morning")
    assert {p: p.read_bytes() for p in event_files} == events_before
    assert {p: p.read_bytes() for p in price_files} == prices_before
    assert temp_files(setup.root) == []

    sim.clear_faults()
    report = json.loads(_ok(setup.cli("status", "--json")).stdout)
    assert report["jobs"]["poll"]["outcome"] == "failed"
    assert report["jobs"]["morning"]["outcome"] == "failed"
