"""The report against the simulator: the evening learns resolutions of tracked markets nobody held
(batched, capped, failures retried), the ledger keeps them with their source, and the report's
files, JSON and screen agree."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from job_env import Env, job_env, read_csv
from prescientd.clock import SystemClock
from prescientd.core.report import report_csv_tables
from prescientd.mirrors.build import MirrorBuilder
from prescientd.mirrors.columns import REPORT_EXPORTS
from prescientd.reporting import read_report, report_document, run_report
from prescientd.sim.state import Outcome

NO_TRADES = "[strategy]\nthreshold = 1\n"  # YES above 1: nothing is bought, nothing held


def _eligible(env: Env) -> list[str]:
    rows = json.loads((env.config.paths.data_dir / "events" / "filtered_markets.json").read_text())
    return [r["market_id"] for r in rows]


def _held(env: Env) -> set[str]:
    path = env.config.paths.data_dir / "trades" / "paper_trades.json"
    return {e["market_id"] for e in json.loads(path.read_text()) if e["kind"] == "trade"}


async def test_the_evening_learns_what_became_of_unheld_markets(tmp_path: Path) -> None:
    """A held market settled by the poll and unheld ones resolved yes, no and 50-50 are all in
    market_resolutions by the evening, each with its source; a proposed one is asked about and
    left pending; the report's calibration counts the resolved tracked markets."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        held = sorted(_held(env))
        unheld = [m for m in _eligible(env) if m not in held]
        outcomes: dict[str, Outcome] = {
            held[0]: "no",
            unheld[0]: "yes",
            unheld[1]: "no",
            unheld[2]: "50-50",
        }
        for market_id, outcome in outcomes.items():
            env.sim.resolve(market_id, outcome)
        env.sim.propose(unheld[3])
        poll = await env.run("poll")
        assert poll.ok and poll.counts["settled"] == 1, poll.counts
        evening = await env.run("evening")
        assert evening.ok, evening.error
        counts = evening.counts
        assert counts["resolutions_from_settlements"] == 1
        assert counts["resolutions_learned"] == 3 and counts["resolutions_pending"] == 1
        assert counts["resolution_checks"] == 4 and counts["resolution_checks_deferred"] == 0
        assert counts["resolution_requests"] == 2  # one batch: open ones, then closed ones
        recorded = await env.store.resolutions()
        assert {i: (r.resolution, r.source) for i, r in recorded.items()} == {
            held[0]: ("no", "settlement"),
            unheld[0]: ("yes", "evening"),
            unheld[1]: ("no", "evening"),
            unheld[2]: ("50-50", "evening"),
        }
        sim_market = env.sim.universe.market_by_id[unheld[0]]
        assert recorded[unheld[0]].payouts == {
            sim_market.token_ids[0]: Decimal(1),
            sim_market.token_ids[1]: Decimal(0),
        }
        again = await env.run("evening")  # nothing new; the proposed market is asked again
        assert again.counts["resolutions_learned"] == 0
        assert again.counts["resolution_checks"] == 1
        doc = await report_document(env.store, env.config, SystemClock().now())
    calibration = doc["calibration"]
    assert (calibration["resolved_markets"], calibration["split_markets"]) == (3, 1)
    first = [b for b in calibration["buckets"] if b["kind"] == "first_sighting"]
    assert sum(b["observation_count"] for b in first) == 3  # priced by the polls, first seen
    assert doc["resolutions"] == {"total": 4, "settlement": 1, "evening": 3}
    (capital,) = doc["capital"]
    assert capital["return_per_dollar_day"] is not None and capital["dollar_days"] > 0
    assert doc["events"] and all(e["strategy"] == "default" for e in doc["events"])
    assert doc["depth"]["fills_without_book"] == capital["trade_count"]  # no recorded books


async def test_report_files_json_and_screen_agree(tmp_path: Path) -> None:
    """At one instant, every report CSV holds the --json figures cell for cell, `prescientd
    report --json` prints that document, and the screen fits 80 columns."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        held = sorted(_held(env))
        unheld = [m for m in _eligible(env) if m not in held]
        env.sim.resolve(held[0], "yes")
        env.sim.resolve(unheld[0], "no")
        assert (await env.run("poll")).ok
        assert (await env.run("evening")).ok
        now = SystemClock().now()
        assert await MirrorBuilder(env.store, env.config).write_report(now)
        doc = await report_document(env.store, env.config, now)
        report = await read_report(env.store, env.config, now)
        printed, screen = await asyncio.to_thread(_printed, env, now)
    exports = env.config.paths.data_dir / "exports"
    sections: Mapping[str, Sequence[Mapping[str, Any]]] = {
        "report_calibration.csv": doc["calibration"]["buckets"],
        "report_brier.csv": doc["calibration"]["brier"],
        "report_capital.csv": doc["capital"],
        "report_events.csv": doc["events"],
        "report_versions.csv": doc["versions"],
        "report_depth.csv": doc["depth"]["fills"],
        "report_depth_summary.csv": [
            {k: v for k, v in doc["depth"].items() if k not in ("histogram", "fills")}
        ],
        "report_depth_histogram.csv": doc["depth"]["histogram"],
    }
    assert set(sections) == {e.filename for e in REPORT_EXPORTS} == set(report_csv_tables(report))
    for name, rows in sections.items():
        table = read_csv(exports / name)
        assert len(table) == len(rows), name
        for csv_row, json_row in zip(table, rows, strict=True):
            assert set(csv_row) <= set(json_row), (name, set(csv_row) - set(json_row))
            for column, text in csv_row.items():
                assert _same(text, json_row[column]), (name, column, text, json_row[column])
    assert doc["calibration"]["buckets"] and doc["capital"] and doc["events"]
    assert printed == json.loads(json.dumps(doc))
    assert "Calibration of the market's own price" in screen
    assert max(len(line) for line in screen.splitlines()[1:]) <= 80


def _printed(env: Env, now: Any) -> tuple[Any, str]:
    """`prescientd report --json` and the screen at width 80, as the command prints them."""
    shown = []
    for as_json in (True, False):
        out, err = io.StringIO(), io.StringIO()
        code = run_report(
            env.config, now, as_json=as_json, strategy=None, width=80, out=out, err=err
        )
        assert code == 0, err.getvalue()
        shown.append(out.getvalue())
    return json.loads(shown[0]), shown[1]


def _same(text: str, value: Any) -> bool:
    """A CSV cell holds the JSON value: numbers equal, lists joined by ';', times to the second."""
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, (int, float)):
        return Decimal(text) == Decimal(repr(value)) if text else False
    if isinstance(value, list):
        return text == ";".join(value)
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        return text == value[:19].replace("T", " ")
    return bool(text == value)


async def test_the_look_ups_are_batched_and_capped(tmp_path: Path) -> None:
    """120 resolved unheld markets, 100 a night: the first evening asks about 100 in one batch
    (two requests) and defers 20, the next evening learns those 20."""
    extra = NO_TRADES + "[report]\nmax_resolution_checks = 100\n"
    async with job_env(tmp_path, n_events=300, extra=extra) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        assert not _held(env)
        picked = _eligible(env)[:120]
        for i, market_id in enumerate(picked):
            env.sim.resolve(market_id, "yes" if i % 3 else "no")
        assert (await env.run("poll")).ok  # the books are gone: they may have ended
        first = await env.run("evening")
        assert first.counts["resolution_checks"] == 100
        assert first.counts["resolution_checks_deferred"] == 20
        assert first.counts["resolution_requests"] == 2
        assert first.counts["resolutions_learned"] == 100
        second = await env.run("evening")
        assert second.counts["resolution_checks"] == 20
        assert second.counts["resolutions_learned"] == 20
        assert set(await env.store.resolutions()) == set(picked)


async def test_a_failed_look_up_waits_for_the_next_evening(tmp_path: Path) -> None:
    """Gamma failing every look-up: the evening still completes (degraded, counted), nothing is
    recorded, and the next evening learns the markets."""
    async with job_env(tmp_path, n_events=200, extra=NO_TRADES) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        picked = _eligible(env)[:3]
        for market_id in picked:
            env.sim.resolve(market_id, "no")
        assert (await env.run("poll")).ok
        env.sim.set_faults(
            {"server_error": {"count": None, "route": "gamma", "path_prefix": "/markets"}}
        )
        failed = await env.run("evening")
        assert failed.ok, failed.error
        assert failed.counts["resolution_checks_failed"] == 3
        assert failed.counts["resolutions_learned"] == 0
        assert await env.store.resolutions() == {}
        env.sim.clear_faults()
        retried = await env.run("evening")
        assert retried.counts["resolutions_learned"] == 3
        assert set(await env.store.resolutions()) == set(picked)
