"""`prescientd demo` on its accelerated clock, then `prescientd report` on its data: the report a
user sees after a demo has calibration, return per dollar-day and event exposure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from e2e.conftest import PYTHON, read_csv

# 20,000 x: a simulated day every 4.3 s, so 30 s leave about a week, as 2 minutes at 5,000 x
SPEED = "20000"
DURATION_S = 30


def _prescientd(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "prescientd", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.e2e
def test_the_demo_leaves_a_report_with_every_section(tmp_path: Path) -> None:
    """After a week of demo: resolutions learned by the evenings (and at settlement), a
    calibration table of both kinds, each strategy's return per dollar-day, worst cases per
    event; the evening wrote the report's CSVs; the screen fits 80 columns."""
    root = tmp_path / "demo"
    demo = _prescientd(
        "demo",
        "--dir",
        str(root),
        "--duration",
        str(DURATION_S),
        "--speed",
        SPEED,
        timeout_s=DURATION_S + 60,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    config = str(root / "demo.toml")
    done = _prescientd("report", "--json", "--config", config, timeout_s=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)

    assert doc["resolutions"]["evening"] > 0 and doc["resolutions"]["settlement"] > 0
    calibration = doc["calibration"]
    kinds = {b["kind"] for b in calibration["buckets"]}
    assert kinds == {"first_sighting", "evening"}, calibration
    for kind in kinds:
        assert sum(b["observation_count"] for b in calibration["buckets"] if b["kind"] == kind)
    assert calibration["resolved_markets"] > 0
    assert {row["strategy"] for row in doc["capital"]} == {"default", "contrarian60"}
    for row in doc["capital"]:
        assert row["dollar_days"] > 0 and row["return_per_dollar_day"] is not None, row
        assert row["annualized_return"] == pytest.approx(
            row["return_per_dollar_day"] * 365, rel=1e-5
        )
    assert doc["events"] and all(e["worst_loss_usd"] is not None for e in doc["events"])
    assert doc["versions"] and doc["depth"]["fills_without_book"] > 0

    # the last evening wrote its calibration table; a settlement since may add to the ledger
    _, rows = read_csv(root / "data" / "exports" / "report_calibration.csv")
    assert {r["kind"] for r in rows} == {"first_sighting", "evening"}
    written = sum(int(r["observation_count"]) for r in rows)
    assert 0 < written <= sum(b["observation_count"] for b in calibration["buckets"])

    screen = _prescientd("report", "--config", config, "--width", "80", timeout_s=60)
    assert screen.returncode == 0, screen.stderr
    lines = screen.stdout.splitlines()
    assert "Calibration of the market's own price" in screen.stdout
    assert "Return per dollar-day of capital locked" in screen.stdout
    assert max(len(line) for line in lines[1:]) <= 80
    one = _prescientd(
        "report", "--json", "--strategy", "contrarian60", "--config", config, timeout_s=60
    )
    assert [r["strategy"] for r in json.loads(one.stdout)["capital"]] == ["contrarian60"]
    unknown = _prescientd("report", "--strategy", "nobody", "--config", config, timeout_s=60)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "prescientd: no strategy named 'nobody' (strategies: default, contrarian60)"
    )
