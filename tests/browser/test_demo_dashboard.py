"""The dashboard of a real `prescientd demo` in headless Chromium shows the daemon's figures.

The demo trades against its simulator and polls every few seconds, so the page and the API are
compared at a moment when the API stood still: read /api/v1/status, let the page catch up (it
follows the event stream), read the DOM, read the API again, and compare only when nothing moved.
Needs Debian's chromium: under CI (env CI set) a missing browser fails the test, elsewhere skips.
"""

from __future__ import annotations

import asyncio
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


async def _api(demo: DemoProcess, path: str) -> Any:
    return await asyncio.to_thread(demo.json, path)


def _still(before: dict[str, Any], after: dict[str, Any]) -> bool:
    keys = ("equity_usd", "cash_usd", "trade_count", "open_positions", "last_poll_at")
    return all(before.get(k) == after.get(k) for k in keys)


async def _dom(browser: Browser) -> dict[str, Any]:
    found: dict[str, Any] = await browser.evaluate(
        """({
          tiles: Object.fromEntries([...document.querySelectorAll('.tile [data-field]')]
              .map(e => [e.dataset.field, e.dataset.value ?? null])),
          unrealized: [...document.querySelectorAll('#positions td[data-col=unrealized_pnl_usd]')]
              .map(td => Number(td.dataset.value)),
          values: [...document.querySelectorAll('#positions td[data-col=value_usd]')]
              .map(td => Number(td.dataset.value)),
          trade_ids: [...document.querySelectorAll('#trades tbody tr')].map(tr => tr.dataset.id),
          equity_points: Number(document.querySelector('#equity-chart').dataset.points),
          mode: document.body.dataset.mode,
        })"""
    )
    return found


async def _settled_view(demo: DemoProcess, browser: Browser) -> tuple[dict[str, Any], ...]:
    """(status, DOM, trades page, equity total) from one moment when the API stood still."""
    for _ in range(15):
        status = await _api(demo, "/api/v1/status")
        try:
            await browser.wait_for(
                "document.querySelector('[data-field=equity_usd]').dataset.value === "
                f"'{status['equity_usd']}' && document.querySelector('[data-field=trade_count]')"
                f".dataset.value === '{status['trade_count']}'",
                timeout_s=8,
            )
        except TimeoutError:
            continue  # a poll moved the figures meanwhile: try again
        await asyncio.sleep(0.5)  # the tables render in the same debounced pass; let it finish
        dom = await _dom(browser)
        trades = await _api(demo, "/api/v1/trades?limit=25")
        equity = await _api(demo, "/api/v1/equity?limit=1")
        if _still(status, await _api(demo, "/api/v1/status")):
            return status, dom, trades, equity
    raise AssertionError("the demo never stood still long enough to compare the page")


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
            status, dom, trades, equity = await _settled_view(demo, browser)
            shot = await browser.screenshot(tmp_path / "dashboard.png")
            console = list(browser.console)
        code, _ = await asyncio.to_thread(demo.terminate)
    print(f"dashboard screenshot: {shot}")
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
