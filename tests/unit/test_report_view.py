"""`prescientd report`'s screen: every section, within the width, figures never cut."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from prescientd.report_view import render_report
from web.fake_report import fake_report

TZ = ZoneInfo("America/New_York")


@pytest.mark.parametrize("width", [80, 100, 140])
def test_every_section_fits_the_width(width: int) -> None:
    """Calibration (both kinds, Brier, tags), capital, events, versions and depth, each line
    within the width."""
    text = render_report(fake_report(None), width=width, tz=TZ, database="/var/lib/p.db")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, [ln for ln in lines if len(ln) > width]
    for heading in (
        "Calibration of the market's own price",
        "at first sighting",
        "at each evening",
        "Brier score",
        "by tag, evenings: politics",
        "Return per dollar-day of capital locked",
        "Worst case per event held",
        "P&L by config version",
        "Depth headroom",
    ):
        assert heading in text, heading
    assert lines[0].startswith("prescientd report · 2026-10-06 10:00 EDT · every strategy")


def test_figures_are_whole_and_misfits_flagged() -> None:
    """Money, rates and counts appear whole; a bucket whose implied probability is outside its
    interval carries '!'; the negRisk event names its worst candidate."""
    doc = fake_report(None)
    text = render_report(doc, width=80, tz=TZ)
    assert "+234.56" in text and "+0.0412%" in text and "568,843" in text
    flagged = [
        line
        for line in text.splitlines()
        if line.rstrip().endswith("!") and line.lstrip()[:1].isdigit()
    ]
    misfits = [
        b
        for b in doc["calibration"]["buckets"]
        if not b["wilson_low"] <= b["implied_probability"] <= b["wilson_high"]
    ]
    assert len(flagged) == len(misfits) > 0
    assert "Will X win Ohio?" in text and "210.00" in text
    assert "strategy.threshold, strategy.stake_usd" in text or "strategy.threshold," in text
    assert "30 fills with a recorded book, 3 without one" in text


def test_one_strategy_and_an_empty_report() -> None:
    """A strategy's report names it; a report with nothing yet says so section by section."""
    one = render_report(fake_report("contrarian60"), width=80, tz=TZ)
    assert "· contrarian60" in one.splitlines()[0] and "default " not in one
    empty = fake_report(None)
    empty["calibration"]["buckets"], empty["calibration"]["brier"] = [], []
    empty.update(capital=[], events=[], versions=[])
    empty["depth"].update(fill_count=0, fills_without_book=0)
    text = render_report(empty, width=80, tz=TZ)
    for said in (
        "no resolved tracked market has a price yet",
        "no strategy has an account yet",
        "no open position",
        "no trade yet",
        "0 fills with a recorded book, 0 without one",
    ):
        assert said in text, said
