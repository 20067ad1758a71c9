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
            "equity_series": await browser.evaluate(
                "document.querySelector('#equity-chart').dataset.series"
            ),
            "canvases": await browser.evaluate("document.querySelectorAll('canvas').length"),
            "health": await browser.evaluate("document.querySelector('#health').textContent"),
            "position_strategies": await _column(browser, "positions", "strategy"),
            "strategy_cells_shown": await browser.evaluate(
                "[...document.querySelectorAll('#trades td[data-col=strategy]')]"
                ".every(td => td.offsetParent !== null)"
            ),
        }
    print(f"dashboard screenshot: {shot}")
    for field in TILES:
        expected = status[field]
        shown = tiles[field]
        assert (float(shown) if shown else None) == expected, field
    by_pnl = sorted(positions, key=lambda p: p["unrealized_pnl_usd"])
    assert [float(v) for v in dom["unrealized"]] == [p["unrealized_pnl_usd"] for p in by_pnl]
    assert len(dom["unrealized"]) == len(positions) > status["open_positions"]  # every strategy's
    assert dom["position_strategies"] == [p["strategy"] for p in by_pnl]
    assert dom["strategy_cells_shown"] is True
    assert "Will <b>BTC</b> close above $100k?" in dom["position_questions"]
    assert dom["injected"] == 0  # outside text is shown as text, never parsed as HTML
    expected_ids = [f"{t['kind']}-{t.get('trade_id', t.get('settlement_id'))}" for t in trades]
    assert dom["trade_ids"] == expected_ids
    assert sorted(r for r in dom["skip_reasons"] if r) == sorted(
        s["skip_reason"] for s in signals if s["skip_reason"]
    )
    assert dom["job_outcomes"] == [status["jobs"][job]["outcome"] for job in status["jobs"]]
    # "all": one equity line per strategy; the daily P&L is the default account's
    assert dom["equity_points"] == str(len(s.reads.equity_rows))
    assert dom["equity_series"] == "default,contrarian60"
    default_days = [r for r in s.reads.performance_rows if r["strategy"] == "default"]
    assert dom["pnl_points"] == str(len(default_days))
    assert dom["canvases"] >= 2
    assert dom["health"] == "ok"
    assert shot.stat().st_size > 10_000
    assert not [line for line in browser.console if "exception" in line]


async def test_selecting_a_strategy_filters_the_tables_and_switches_the_account(
    tmp_path: Path,
) -> None:
    """The strategies panel shows /api/v1/strategies; choosing contrarian60 in the selector shows
    only its positions, trades and signals (no strategy column), its tiles, its curve and its
    daily P&L, and puts it in the address; "all" brings every strategy back."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/")
        await browser.wait_for(READY)
        rows = (await _api(s, "/api/v1/strategies"))["items"]
        panel = await _panel(browser)
        await browser.evaluate(
            "(() => { const el = document.querySelector('#strategy-select');"
            " el.value = 'contrarian60'; el.dispatchEvent(new Event('change')); })()"
        )
        await browser.wait_for(
            "[...document.querySelectorAll('#trades tbody tr')].every("
            "tr => tr.dataset.strategy === 'contrarian60') && "
            "document.querySelector('#equity-chart').dataset.series === 'contrarian60'"
        )
        await browser.wait_for("document.querySelector('#pnl-chart').dataset.points === '3'")
        trades = (await _api(s, "/api/v1/trades?limit=25&strategy=contrarian60"))["items"]
        positions = (await _api(s, "/api/v1/positions?strategy=contrarian60"))["items"]
        signals = (await _api(s, "/api/v1/signals/current?strategy=contrarian60"))["items"]
        picked = {
            "trade_ids": await browser.evaluate(
                "[...document.querySelectorAll('#trades tbody tr')].map(tr => tr.dataset.id)"
            ),
            "position_rows": await browser.evaluate(
                "[...document.querySelectorAll('#positions tbody tr')]"
                ".map(tr => [tr.dataset.strategy, tr.dataset.id])"
            ),
            "signal_rows": await browser.evaluate(
                "[...document.querySelectorAll('#signals tbody tr')].map(tr => tr.dataset.strategy)"
            ),
            "strategy_cells_hidden": await browser.evaluate(
                "[...document.querySelectorAll('#trades td[data-col=strategy]')]"
                ".every(td => td.offsetParent === null)"
            ),
            "tiles": await _tiles(browser),
            "scope": await browser.evaluate("document.querySelector('#tiles-scope').textContent"),
            "hash": await browser.evaluate("location.hash"),
            "selected_row": await browser.evaluate(
                "document.querySelector('#strategies tr.selected').dataset.id"
            ),
        }
        await browser.screenshot(tmp_path / "dashboard-contrarian60.png")
        await browser.evaluate(
            "(() => { const el = document.querySelector('#strategy-select');"
            " el.value = ''; el.dispatchEvent(new Event('change')); })()"
        )
        await browser.wait_for(
            "document.querySelector('#equity-chart').dataset.series === 'default,contrarian60'"
        )
        await browser.wait_for(
            "document.querySelectorAll('#trades tbody tr').length === "
            f"{len((await _api(s, '/api/v1/trades?limit=25'))['items'])}"
        )
    assert panel == [
        {col: row[col] for col in PANEL_COLUMNS} for row in rows
    ]  # every figure of the comparison, as the API gives it
    assert picked["trade_ids"] == [f"trade-{t['trade_id']}" for t in trades]
    assert picked["position_rows"] == [["contrarian60", p["token_id"]] for p in positions]
    assert picked["signal_rows"] == ["contrarian60"] * len(signals)
    assert picked["strategy_cells_hidden"] is True
    variant = next(r for r in rows if r["strategy"] == "contrarian60")
    shown = {k: (float(v) if v else None) for k, v in picked["tiles"].items()}
    for tile, column in (
        ("equity_usd", "equity_usd"),
        ("cash_usd", "cash_usd"),
        ("total_return", "cumulative_return"),
        ("fees_usd", "fees_usd"),
        ("max_drawdown", "max_drawdown"),
        ("trade_count", "trade_count"),
        ("open_positions", "open_positions"),
        ("win_rate", "win_rate"),
    ):
        assert shown[tile] == variant[column], tile
    # today's P&L: equity now less the equity of its last evening before today (the fake's
    # newest performance row is today's, so the base is the day before's)
    days = [r for r in s.reads.performance_rows if r["strategy"] == "contrarian60"]
    assert shown["daily_pnl_usd"] == pytest.approx(variant["equity_usd"] - days[-2]["equity_usd"])
    assert (picked["scope"], picked["hash"], picked["selected_row"]) == (
        "contrarian60",
        "#strategy=contrarian60",
        "contrarian60",
    )


async def test_the_address_selects_a_strategy_and_an_unknown_one_falls_back_to_all(
    tmp_path: Path,
) -> None:
    """/#strategy=contrarian60 opens on that strategy; /#strategy=gone shows every strategy."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/#strategy=contrarian60")
        await browser.wait_for(READY)
        await browser.wait_for(
            "document.body.dataset.strategy === 'contrarian60' && "
            "document.querySelector('#strategy-select').value === 'contrarian60' && "
            "[...document.querySelectorAll('#trades tbody tr')].length === 2"
        )
        await browser.goto(f"{s.base_url}/#strategy=gone")
        await browser.wait_for(
            "document.body.dataset.strategy === 'all' && "
            "document.querySelector('#strategy-select').value === ''",
            timeout_s=15,
        )
        # a fragment change, not a reload: the page re-reads the strategy's panels by itself
        await browser.wait_for(
            "[...document.querySelectorAll('#trades tbody tr')].length === "
            f"{len(s.reads.ledger_rows)}"
        )
        strategies = await browser.evaluate(
            "[...new Set([...document.querySelectorAll('#trades tbody tr')]"
            ".map(tr => tr.dataset.strategy))]"
        )
    assert strategies == ["contrarian60", "default"]


PANEL_COLUMNS = (
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


async def _panel(browser: Browser) -> list[dict[str, Any]]:
    """The strategies panel's rows, each cell's raw value as the type the API uses."""
    cells: list[dict[str, str]] = await browser.evaluate(
        "[...document.querySelectorAll('#strategies tbody tr')].map(tr => Object.fromEntries("
        "[...tr.querySelectorAll('td')].map(td => [td.dataset.col, td.dataset.value])))"
    )
    out = []
    for row in cells:
        typed: dict[str, Any] = {}
        for col, value in row.items():
            if col in ("strategy", "status"):
                typed[col] = value
            elif value == "":
                typed[col] = None
            else:
                number = float(value)
                typed[col] = int(number) if number.is_integer() and "." not in value else number
        out.append(typed)
    return out


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
            "strategy": "default",
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
