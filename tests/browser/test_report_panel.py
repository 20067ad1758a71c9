"""The dashboard's report panel in a real (headless) browser, over the fake read model: the
calibration chart and tables show /api/v1/report, and follow the strategy selector.

Needs Debian's chromium: under CI (env CI set) a missing browser fails the test, elsewhere skips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web.fakes import Served, serve

from .cdp import Browser

pytestmark = pytest.mark.browser
READY = "document.body && document.body.dataset.ready === '1'"


async def _api(s: Served, path: str) -> Any:
    async with s.client.get(path) as response:
        assert response.status == 200, path
        return await response.json()


async def _values(browser: Browser, table: str, col: str) -> list[str]:
    found: list[str] = await browser.evaluate(
        f"[...document.querySelectorAll('#{table} tbody td[data-col={col}]')]"
        ".map(td => td.dataset.value)"
    )
    return found


def _num(text: str) -> float | None:
    return float(text) if text else None


async def test_the_report_panel_shows_the_reports_figures(tmp_path: Path) -> None:
    """The calibration chart plots each bucket of the chosen kind, the tables hold the report's
    buckets (misfits flagged), capital, events, versions and depth bars; a screenshot is saved."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/")
        await browser.wait_for(READY)
        report = await _api(s, "/api/v1/report")
        evening = [b for b in report["calibration"]["buckets"] if b["kind"] == "evening"]
        first = [b for b in report["calibration"]["buckets"] if b["kind"] == "first_sighting"]
        shown = {
            "points": await browser.evaluate(
                "document.querySelector('#calibration-chart').dataset.points"
            ),
            "implied": await _values(browser, "calibration", "implied_probability"),
            "flagged": await browser.evaluate(
                "document.querySelectorAll('#calibration td.flag').length"
            ),
            "per_day": await _values(browser, "capital", "return_per_dollar_day"),
            "capital": await _values(browser, "capital", "strategy"),
            "losses": await _values(browser, "report-events", "worst_loss_usd"),
            "versions": await _values(browser, "report-versions", "config_version"),
            "bars": await browser.evaluate(
                "[...document.querySelectorAll('#depth .bar')].map(b => b.style.width)"
            ),
            "meta": await browser.evaluate("document.querySelector('#report-meta').textContent"),
        }
        await browser.evaluate("document.querySelector('#report').scrollIntoView()")
        shot = await browser.screenshot(tmp_path / "report.png")
        await browser.evaluate(
            "(() => { const el = document.querySelector('#calibration-kind');"
            " el.value = 'first_sighting'; el.dispatchEvent(new Event('change')); })()"
        )
        first_points = await browser.evaluate(
            "document.querySelector('#calibration-chart').dataset.points"
        )
        first_implied = await _values(browser, "calibration", "implied_probability")
    print(f"report panel screenshot: {shot}")
    assert shown["points"] == str(len(evening))
    assert [_num(v) for v in shown["implied"]] == [b["implied_probability"] for b in evening]
    outside = [
        b for b in evening if not b["wilson_low"] <= b["implied_probability"] <= b["wilson_high"]
    ]
    assert shown["flagged"] == len(outside) > 0
    assert [_num(v) for v in shown["per_day"]] == [
        c["return_per_dollar_day"] for c in report["capital"]
    ]
    assert shown["capital"] == [c["strategy"] for c in report["capital"]]
    assert [_num(v) for v in shown["losses"]] == [e["worst_loss_usd"] for e in report["events"]]
    assert shown["versions"] == [str(v["config_version"]) for v in report["versions"]]
    top = max(b["fill_count"] for b in report["depth"]["histogram"])
    assert shown["bars"] == [
        f"{round(b['fill_count'] / top * 160)}px" for b in report["depth"]["histogram"]
    ]
    assert f"{report['resolutions']['evening']} by the evening" in shown["meta"]
    assert first_points == str(len(first))
    assert [_num(v) for v in first_implied] == [b["implied_probability"] for b in first]
    assert shot.stat().st_size > 10_000


async def test_the_report_follows_the_strategy_selector(tmp_path: Path) -> None:
    """Choosing contrarian60 reads /api/v1/report?strategy=contrarian60: its capital, events and
    versions only."""
    async with serve() as s, Browser(tmp_path / "profile") as browser:
        await browser.goto(f"{s.base_url}/#strategy=contrarian60")
        await browser.wait_for(READY)
        await browser.wait_for(
            "[...document.querySelectorAll('#capital tbody td[data-col=strategy]')]"
            ".map(td => td.dataset.value).join() === 'contrarian60'"
        )
        report = await _api(s, "/api/v1/report?strategy=contrarian60")
        events = await _values(browser, "report-events", "event_id")
        titles = await browser.evaluate(
            "[...document.querySelectorAll('#report-events tbody tr')].map(tr => tr.dataset.id)"
        )
    assert events == []  # no event_id column: rows are identified by strategy and event
    assert titles == [f"{e['strategy']}-{e['event_id']}" for e in report["events"]]
    assert {e["strategy"] for e in report["events"]} == {"contrarian60"}
