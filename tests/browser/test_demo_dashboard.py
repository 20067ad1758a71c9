"""The dashboard of a real `prescientd demo` in headless Chromium shows the daemon's figures.

The demo trades against its simulator and polls every few seconds, so the page and the API are
compared at a moment when the API stood still: read /api/v1/status, let the page catch up (it
follows the event stream), read the DOM, read the API again, and compare only when nothing moved.
The demo runs two strategies ("default" and "contrarian60"): the strategies panel must show
/api/v1/strategies, and choosing a strategy must filter the trades table to it.
Needs Debian's chromium: under CI (env CI set) a missing browser fails the test, elsewhere skips.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from e2e.demo import DemoProcess, running_demo

from .cdp import Browser, find_chromium

SLOW_SPEED = 600.0  # the demo's clock: an hourly poll every 6 s

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TILES = (
    "equity_usd",
    "cash_usd",
    "total_return",
    "total_pnl_usd",
    "daily_pnl_usd",
    "realized_pnl_usd",
    "unrealized_pnl_usd",
    "win_rate",
    "fees_usd",
    "max_drawdown",
    "open_positions",
    "trade_count",
)
# what the status document has carried since the first version; the others show when it has them
CORE_TILES = (
    "equity_usd",
    "cash_usd",
    "total_pnl_usd",
    "fees_usd",
    "open_positions",
    "trade_count",
)
READY = "document.body && document.body.dataset.ready === '1'"
VARIANT = "contrarian60"
PANEL = (
    "strategy",
    "status",
    "equity_usd",
    "cumulative_return",
    "total_pnl_usd",
    "max_drawdown",
    "win_rate",
    "trade_count",
    "fees_usd",
    "capital_locked_usd",
    "open_positions",
)


async def _api(demo: DemoProcess, path: str) -> Any:
    return await asyncio.to_thread(demo.json, path)


def _still(before: dict[str, Any], after: dict[str, Any]) -> bool:
    keys = ("equity_usd", "cash_usd", "trade_count", "open_positions", "last_poll_at", "strategies")
    return all(before.get(k) == after.get(k) for k in keys)


async def _dom(browser: Browser) -> dict[str, Any]:
    found: dict[str, Any] = await browser.evaluate(
        """({
          tiles: Object.fromEntries([...document.querySelectorAll('.tile [data-field]')]
              .map(e => [e.dataset.field, e.dataset.value ?? null])),
          unrealized: [...document.querySelectorAll('#positions tbody tr[data-strategy=default]')]
              .map(tr => Number(tr.querySelector('td[data-col=unrealized_pnl_usd]').dataset.value)),
          values: [...document.querySelectorAll('#positions tbody tr[data-strategy=default]')]
              .map(tr => Number(tr.querySelector('td[data-col=value_usd]').dataset.value)),
          position_strategies: [...document.querySelectorAll('#positions td[data-col=strategy]')]
              .map(td => td.dataset.value),
          panel: [...document.querySelectorAll('#strategies tbody tr')].map(tr =>
              Object.fromEntries([...tr.querySelectorAll('td')]
                  .map(td => [td.dataset.col, td.dataset.value]))),
          trade_ids: [...document.querySelectorAll('#trades tbody tr')].map(tr => tr.dataset.id),
          trade_strategies: [...document.querySelectorAll('#trades td[data-col=strategy]')]
              .map(td => td.dataset.value),
          equity_points: Number(document.querySelector('#equity-chart').dataset.points),
          mode: document.body.dataset.mode,
        })"""
    )
    return found


async def _settled_view(demo: DemoProcess, browser: Browser) -> tuple[dict[str, Any], ...]:
    """(status, DOM, trades page, equity total, strategies) from one moment when the API stood
    still."""
    for _ in range(15):
        status = await _api(demo, "/api/v1/status")
        variant = next(s for s in status["strategies"] if s["strategy"] == VARIANT)
        try:
            await browser.wait_for(
                "document.querySelector('[data-field=equity_usd]').dataset.value === "
                f"'{status['equity_usd']}' && document.querySelector('[data-field=trade_count]')"
                f".dataset.value === '{status['trade_count']}' && document.querySelector("
                f"'#strategies tr[data-id={VARIANT}] td[data-col=equity_usd]').dataset.value"
                f" === '{variant['equity_usd']}'",
                timeout_s=8,
            )
        except TimeoutError:
            continue  # a poll moved the figures meanwhile: try again
        await asyncio.sleep(0.5)  # the tables render in the same debounced pass; let it finish
        dom = await _dom(browser)
        trades = await _api(demo, "/api/v1/trades?limit=25")
        equity = await _api(demo, "/api/v1/equity?limit=1")
        strategies = await _api(demo, "/api/v1/strategies")
        if _still(status, await _api(demo, "/api/v1/status")):
            return status, dom, trades, equity, strategies
    raise AssertionError("the demo never stood still long enough to compare the page")


async def _variant_trades(demo: DemoProcess, browser: Browser) -> tuple[list[str], list[str]]:
    """After choosing the variant: (the trades table's row ids, the API's) at a still moment."""
    for _ in range(15):
        page = await _api(demo, f"/api/v1/trades?limit=25&strategy={VARIANT}")
        expected = [
            f"{t['kind']}-{t.get('trade_id', t.get('settlement_id'))}" for t in page["items"]
        ]
        try:
            await browser.wait_for(
                "JSON.stringify([...document.querySelectorAll('#trades tbody tr')]"
                f".map(tr => tr.dataset.id)) === '{json.dumps(expected, separators=(',', ':'))}'",
                timeout_s=8,
            )
        except TimeoutError:
            continue  # a poll traded meanwhile: try again
        shown: list[str] = await browser.evaluate(
            "[...document.querySelectorAll('#trades tbody tr')].map(tr => tr.dataset.strategy)"
        )
        again = await _api(demo, f"/api/v1/trades?limit=25&strategy={VARIANT}")
        if again["items"] == page["items"]:
            return shown, expected
    raise AssertionError("the variant's trades never stood still long enough to compare")


def _typed(cells: dict[str, str]) -> dict[str, Any]:
    """A strategies panel row's raw values as the API's types (text, null, int or float)."""
    out: dict[str, Any] = {}
    for col, value in cells.items():
        if col in ("strategy", "status"):
            out[col] = value
        elif value == "":
            out[col] = None
        else:
            out[col] = int(value) if value.lstrip("-").isdigit() else float(value)
    return out


async def test_the_demo_dashboard_shows_the_status_figures(tmp_path: Path) -> None:
    """Equity and the other tiles, the positions table and the trades table of the live page
    equal /api/v1/status (and the ledger routes); a screenshot is saved in the test's tmp dir."""
    find_chromium()  # skip (or fail under CI) before starting the demo
    # slow enough (a poll every 6 real seconds) that the page and the API can be compared at a
    # moment when neither moves
    with running_demo(tmp_path / "run", speed=SLOW_SPEED) as demo:
        async with Browser(tmp_path / "profile") as browser:
            await browser.goto(demo.url)
            await browser.wait_for(READY, timeout_s=30)
            await browser.wait_for("document.body.dataset.mode === 'live'")
            await browser.wait_for(
                "Number(document.querySelector('[data-field=trade_count]').dataset.value) > 0",
                timeout_s=30,
            )
            status, dom, trades, equity, strategies = await _settled_view(demo, browser)
            shot = await browser.screenshot(tmp_path / "dashboard.png")
            await browser.evaluate(
                "(() => { const el = document.querySelector('#strategy-select');"
                f" el.value = '{VARIANT}'; el.dispatchEvent(new Event('change')); }})()"
            )
            variant_strategies, variant_ids = await _variant_trades(demo, browser)
            variant_shot = await browser.screenshot(tmp_path / "dashboard-contrarian60.png")
            console = list(browser.console)
        code, _ = await asyncio.to_thread(demo.terminate)
    print(f"dashboard screenshots: {shot} {variant_shot}")
    assert code == 0
    assert dom["mode"] == "live"
    shown = {k: v for k, v in dom["tiles"].items() if k in TILES}
    for field in TILES:
        if field in status:
            value = shown[field]
            assert (float(value) if value else None) == status[field], field
        else:  # not in this status document yet: the tile shows nothing rather than a guess
            assert not shown.get(field), field
    assert not [f for f in CORE_TILES if f not in status]
    by_pnl = sorted(status["positions"], key=lambda p: p["unrealized_pnl_usd"])
    assert dom["unrealized"] == [p["unrealized_pnl_usd"] for p in by_pnl]
    assert sorted(dom["values"]) == sorted(p["value_usd"] for p in status["positions"])
    assert len(dom["unrealized"]) == status["open_positions"] > 0
    # "all": every strategy's positions and trades, each row naming its strategy
    assert len(dom["position_strategies"]) == sum(s["open_positions"] for s in strategies["items"])
    assert set(dom["trade_strategies"]) <= {"default", VARIANT}
    assert dom["trade_strategies"] == [t["strategy"] for t in trades["items"]]
    # the strategies panel: every figure of /api/v1/strategies that it shows
    assert [_typed(row) for row in dom["panel"]] == [
        {col: row[col] for col in PANEL} for row in strategies["items"]
    ]
    assert [row["strategy"] for row in strategies["items"]] == ["default", VARIANT]
    # choosing the variant: its trades only, those of /api/v1/trades?strategy=contrarian60
    assert variant_ids and set(variant_strategies) == {VARIANT}
    expected_ids = [
        f"{t['kind']}-{t.get('trade_id', t.get('settlement_id'))}" for t in trades["items"]
    ]
    assert dom["trade_ids"] == expected_ids
    # the trades table lists every strategy's ledger (each row names its strategy); a fresh
    # ledger numbers trades 1, 2, 3 ... across strategies
    newest_trade = max(t["trade_id"] for t in trades["items"] if t["kind"] == "trade")
    assert newest_trade == sum(s["trade_count"] for s in status["strategies"])
    assert dom["equity_points"] == min(equity["total"], 5000) > 0
    assert shot.stat().st_size > 20_000
    assert not [line for line in console if "exception" in line]
