"""The dashboard in a real (headless) browser: the DOM shows the API's figures, and follows live.

Served over the fake read model here; the next wave points the same checks at `prescientd demo`.
Needs Debian's chromium: under CI (env CI set) a missing browser fails the test, elsewhere skips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web.fakes import T0, FakeReads, Served, iso, serve

from .cdp import Browser

pytestmark = pytest.mark.browser

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
READY = "document.body && document.body.dataset.ready === '1'"


async def _api(s: Served, path: str) -> Any:
    async with s.client.get(path) as response:
        assert response.status == 200, path
        return await response.json()


async def _tiles(browser: Browser) -> dict[str, str]:
    result: dict[str, str] = await browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.tile [data-field]')]"
        ".map(e => [e.dataset.field, e.dataset.value]))"
    )
    return result


async def _column(browser: Browser, table: str, col: str) -> list[str]:
    cells: list[str] = await browser.evaluate(
        f"[...document.querySelectorAll('#{table} tbody td[data-col={col}]')]"
        ".map(td => td.dataset.value)"
    )
    return cells


async def test_dashboard_shows_the_api_figures(tmp_path: Path) -> None:
    """Tiles, positions, trades, signals, jobs and charts match /api/v1; a screenshot is saved."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/")
        await browser.wait_for(READY)
        await browser.wait_for("document.body.dataset.mode === 'live'")
        status = await _api(s, "/api/v1/status")
        positions = (await _api(s, "/api/v1/positions?limit=1000"))["items"]
        trades = (await _api(s, "/api/v1/trades?limit=25"))["items"]
        signals = (await _api(s, "/api/v1/signals/current"))["items"]
        tiles = await _tiles(browser)
        shot = await browser.screenshot(tmp_path / "dashboard.png")
        dom = {
            "unrealized": await _column(browser, "positions", "unrealized_pnl_usd"),
            "position_questions": await browser.evaluate(
                "[...document.querySelectorAll('#positions td[data-col=question]')]"
                ".map(td => td.textContent)"
            ),
            "injected": await browser.evaluate("document.querySelectorAll('#positions b').length"),
            "trade_ids": await browser.evaluate(
                "[...document.querySelectorAll('#trades tbody tr')].map(tr => tr.dataset.id)"
            ),
            "skip_reasons": await _column(browser, "signals", "skip_reason"),
            "job_outcomes": await _column(browser, "jobs", "outcome"),
            "equity_points": await browser.evaluate(
                "document.querySelector('#equity-chart').dataset.points"
            ),
            "pnl_points": await browser.evaluate(
                "document.querySelector('#pnl-chart').dataset.points"
            ),
            "canvases": await browser.evaluate("document.querySelectorAll('canvas').length"),
            "health": await browser.evaluate("document.querySelector('#health').textContent"),
        }
    print(f"dashboard screenshot: {shot}")
    for field in TILES:
        expected = status[field]
        shown = tiles[field]
        assert (float(shown) if shown else None) == expected, field
    by_pnl = sorted(positions, key=lambda p: p["unrealized_pnl_usd"])
    assert [float(v) for v in dom["unrealized"]] == [p["unrealized_pnl_usd"] for p in by_pnl]
    assert len(dom["unrealized"]) == status["open_positions"]
    assert "Will <b>BTC</b> close above $100k?" in dom["position_questions"]
    assert dom["injected"] == 0  # outside text is shown as text, never parsed as HTML
    expected_ids = [f"{t['kind']}-{t.get('trade_id', t.get('settlement_id'))}" for t in trades]
    assert dom["trade_ids"] == expected_ids
    assert sorted(r for r in dom["skip_reasons"] if r) == sorted(
        s["skip_reason"] for s in signals if s["skip_reason"]
    )
    assert dom["job_outcomes"] == [status["jobs"][job]["outcome"] for job in status["jobs"]]
    assert (dom["equity_points"], dom["pnl_points"]) == ("48", "7")
    assert dom["canvases"] >= 2
    assert dom["health"] == "ok"
    assert shot.stat().st_size > 10_000
    assert not [line for line in browser.console if "exception" in line]


async def test_live_event_updates_the_page(tmp_path: Path) -> None:
    """A paper_trade event makes the page re-read: the new trade appears without a reload."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/")
        await browser.wait_for(READY)
        await browser.wait_for("document.body.dataset.mode === 'live'")
        _add_trade(s.reads, trade_id=99)
        s.hub.publish("paper_trade", {"trade_id": 99, "side": "buy", "question": "A new market?"})
        await browser.wait_for(
            "document.querySelector('[data-field=trade_count]').dataset.value === '5'"
        )
        await browser.wait_for(
            "document.querySelector('#trades tbody tr').dataset.id === 'trade-99'"
        )
        feed = await browser.evaluate(
            "[...document.querySelectorAll('#events li')].map(li => li.dataset.kind)"
        )
    assert feed[0] == "paper_trade"


async def test_polling_takes_over_when_the_stream_is_gone(tmp_path: Path) -> None:
    """With the event stream closed the page says so and keeps itself current by polling."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/")
        await browser.wait_for(READY)
        s.hub.close()  # every stream ends; reconnects end at once
        await browser.wait_for("document.body.dataset.mode === 'polling'", timeout_s=15)
        _add_trade(s.reads, trade_id=77)
        await browser.wait_for(
            "document.querySelector('[data-field=trade_count]').dataset.value === '5'",
            timeout_s=25,
        )


def _add_trade(reads: FakeReads, trade_id: int) -> None:
    reads.ledger_rows.append(
        {
            "seq": 100 + trade_id,
            "kind": "trade",
            "trade_id": trade_id,
            "time": iso(T0),
            "market_id": "700",
            "question": "A new market?",
            "outcome": "No",
            "side": "buy",
            "shares": 200.0,
            "avg_price": 0.5,
            "notional_usd": 100.0,
            "fees_usd": 0.5,
            "cash_delta_usd": -100.5,
        }
    )
