"""`prescientd demo` on its accelerated clock leaves days of history, as a 2-minute demo does."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import PYTHON, read_csv, read_json

# 20,000 x: a simulated day every 4.3 s, so 30 s cover the week that 2 minutes cover at the
# default 5,000 x (the schedule is in simulated time: the same jobs, closer together)
SPEED = "20000"
DURATION_S = 30
MIN_DAYS = 5


def run_demo(root: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the demo to its end; its result and the JSON log lines it printed."""
    args = ["demo", "--dir", str(root), "--duration", str(DURATION_S), "--speed", SPEED]
    done = subprocess.run(
        [PYTHON, "-m", "prescientd", *args],
        capture_output=True,
        text=True,
        timeout=DURATION_S + 60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = []
    for text in done.stdout.splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return done, lines


@pytest.mark.e2e
def test_the_demo_leaves_a_week_of_daily_history(tmp_path: Path) -> None:
    """One evening per simulated day: >= 5 consecutive dates in portfolio_history.json, a daily
    price file and a performance_daily.csv row for each, status on the demo's clock after it."""
    root = tmp_path / "demo"
    done, logs = run_demo(root)
    assert done.returncode == 0, done.stderr[-2000:]
    data = root / "data"

    history = read_json(data / "history/portfolio_history.json")
    dates = [entry["date"] for entry in history if entry["strategy"] == "default"]
    assert len(dates) >= MIN_DAYS, dates
    # every strategy of the demo (default and its variant) gets one snapshot per evening
    strategies = {entry["strategy"] for entry in history}
    assert len(strategies) >= 2
    for name in strategies:
        assert [e["date"] for e in history if e["strategy"] == name] == dates
    first = date.fromisoformat(dates[0])
    assert dates == [(first + timedelta(days=i)).isoformat() for i in range(len(dates))]
    evenings = [e for e in logs if e["event"] == "job_finished" and e["job"] == "evening"]
    assert [e["date"] for e in evenings if e["outcome"] == "ok"] == dates
    assert all(e["snapshot_added"] is True for e in evenings)

    daily = sorted(p.name for p in (data / "markets").glob("daily_prices_*.json"))
    assert daily == [f"daily_prices_{d}.json" for d in dates]
    assert all(read_json(data / "markets" / name)["tokens"] for name in daily)
    _, performance = read_csv(data / "exports/performance_daily.csv")
    assert [row["date"] for row in performance if row["strategy"] == "default"] == dates

    # morning at 09:00 and evening at 18:00 simulated local time, a poll every simulated hour
    mornings = [e for e in logs if e["event"] == "job_finished" and e["job"] == "morning"]
    polls = [e for e in logs if e["event"] == "job_finished" and e["job"] == "poll"]
    assert len(mornings) >= MIN_DAYS - 1 and len(polls) >= 24 * (MIN_DAYS - 1)
    assert re.search(r"one simulated day every 4\.3 s", done.stdout)

    # stopped cleanly: no lock file left; status reads the demo's (stopped) clock
    assert not (data / "prescientd.lock").exists()
    assert not (data / "prescient.db.lock").exists()
    status = subprocess.run(
        [PYTHON, "-m", "prescientd", "status", "--json", "--config", str(root / "demo.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    doc = json.loads(status.stdout)
    assert doc["daemon"]["running"] is False and doc["daemon"]["stale_lock_pid"] is None
    assert [point["date"] for point in doc["equity_series"]] == dates
    assert doc["generated_at"][:10] > dates[-1]  # after the last evening, on the demo's clock
    # ages on the demo's clock: a read on the real clock would be a week negative; between the
    # last poll and the stop at most a few real seconds (x speed) pass, well under a day
    assert 0 <= doc["prices_age_s"] < 86_400
