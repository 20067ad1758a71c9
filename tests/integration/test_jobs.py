"""The jobs against the built-in simulator over real HTTP on loopback, with a real SQLite file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from job_env import job_env, make_config, read_csv, snapshot_files
from prescientd import jobs
from prescientd.clock import SystemClock
from prescientd.config import Config
from prescientd.mirrors.build import Mirror, MirrorBuilder
from prescientd.runtime import start_session
from prescientd.sim import MALFORMED_EVENT_COUNT
from prescientd.sim.state import SimState
from prescientd.status import collect_status
from prescientd.store.db import Store, connect_sync
from store_checks import integrity_check, ledger_digest

EVENT_FILES = ("filtered_events.json", "filtered_markets.json", "raw_events_backup.json")
EVENT_CSVS = ("events_filtered.csv", "markets_extracted.csv")


def expected_eligible(sim: SimState, config: Config, now: datetime) -> set[str]:
    """Eligible market ids computed independently from the simulator's ground truth."""
    f = config.filters
    out = set()
    for m in sim.universe.markets:
        event = sim.universe.event_by_id[m.event_id]
        if event.closed or not event.active or not m.tradable:
            continue
        if (m.liquidity or 0) < f.min_liquidity_usd or (m.volume_24h or 0) < f.min_volume_24h_usd:
            continue
        if not (
            now + timedelta(hours=f.min_hours_to_end)
            <= m.end_date
            <= now + timedelta(days=f.max_days_to_end)
        ):
            continue
        out.add(m.id)
    return out


async def test_morning_pages_2000_events_and_matches_ground_truth(tmp_path: Path) -> None:
    """2,000+ open events in 20+ keyset pages: five files, counts equal the eligible set, rerun."""
    async with job_env(tmp_path, n_events=2200) as env:
        before = datetime.now(UTC)
        outcome = await env.run("morning")
        assert outcome.ok, outcome.error
        pages = [r for r in env.sim.requests if r.path == "/events/keyset"]
        assert len(pages) >= 20
        assert all("closed=false" in r.query for r in pages)
        assert all("after_cursor=" in r.query for r in pages[1:])
        assert not any(
            "offset=" in r.query or "cursor=" in r.query.replace("after_cursor=", "") for r in pages
        )
        data = env.config.paths.data_dir
        events = json.loads((data / "events" / "filtered_events.json").read_text())
        markets = json.loads((data / "events" / "filtered_markets.json").read_text())
        raw = json.loads((data / "events" / "raw_events_backup.json").read_text())
        expected = expected_eligible(env.sim, env.config, before)
        assert {m["market_id"] for m in markets} == expected
        assert len(markets) == len(expected) > 100
        assert sum(len(e["markets"]) for e in events) == len(expected)
        expected_events = {env.sim.universe.market_by_id[m].event_id for m in expected}
        assert {e["event_id"] for e in events} == expected_events
        assert len(raw) == outcome.counts["events_received"]
        assert len(read_csv(data / "exports" / "markets_extracted.csv")) == len(expected)
        assert len(read_csv(data / "exports" / "events_filtered.csv")) == len(expected_events)
        first = {name: (data / "events" / name).stat().st_mtime_ns for name in EVENT_FILES}
        again = await env.run("morning")
        assert again.ok
        for name in EVENT_FILES[:2]:
            assert (data / "events" / name).stat().st_mtime_ns > first[name]  # overwritten
        # the same payload again (prices frozen): the big backup is not rewritten
        backup = data / "events" / "raw_events_backup.json"
        assert backup.stat().st_mtime_ns == first["raw_events_backup.json"]
        assert json.loads(backup.read_text()) == raw
        assert json.loads((data / "events" / "filtered_markets.json").read_text()) == markets


async def test_morning_failure_leaves_files_untouched(tmp_path: Path) -> None:
    """When Gamma keeps failing the job fails, and no file changes or is left half-written."""
    async with job_env(tmp_path, n_events=150) as env:
        assert (await env.run("morning")).ok
        data = env.config.paths.data_dir
        before = snapshot_files(data / "events") | snapshot_files(data / "exports")
        env.sim.set_faults({"server_error": {"count": 1000, "route": "gamma"}})
        outcome = await env.run("morning")
        assert not outcome.ok
        assert outcome.error is not None and "failed after 3 attempts" in outcome.error
        after = snapshot_files(data / "events") | snapshot_files(data / "exports")
        assert after == before
        assert not list(data.rglob(".prescientd-*"))
        runs = await env.store.last_job_runs()
        assert not runs["morning"].ok


async def test_malformed_items_are_skipped_counted_and_the_rest_kept(tmp_path: Path) -> None:
    """NaN, Infinity, 1e400, broken arrays and a 10 MB item are skipped; good events survive."""
    async with job_env(tmp_path, n_events=150) as env:
        env.sim.set_faults({"malformed_items": True})
        before = datetime.now(UTC)
        outcome = await env.run("morning")
        assert outcome.ok, outcome.error
        assert outcome.counts["items_skipped"] >= MALFORMED_EVENT_COUNT - 1
        markets = await env.store.eligible_markets()
        assert {m.market_id for m in markets} == expected_eligible(env.sim, env.config, before)
        refresh = await env.store.latest_refresh()
        assert refresh is not None and any(k.startswith("item_") for k in refresh.rejections)


async def test_poll_sends_only_batched_post_books_and_survives_missing_books(
    tmp_path: Path,
) -> None:
    """A poll is POST /books of <= 500 tokens each; resolved markets' books are missing only."""
    async with job_env(tmp_path, n_events=600) as env:
        assert (await env.run("morning")).ok
        tracked = await env.store.eligible_markets()
        env.sim.clear_requests()
        outcome = await env.run("poll")
        assert outcome.ok, outcome.error
        requests = list(env.sim.requests)
        books = [r for r in requests if r.path == "/books"]
        sizes = [r.n_token_ids or 0 for r in books]
        assert books and all(r.method == "POST" for r in books) and max(sizes) <= 500
        assert sum(sizes) == 2 * len(tracked)
        assert len(books) == -(-2 * len(tracked) // 500)
        assert {r.path for r in requests} == {"/books"}  # nothing is held yet: no settlement GETs
        assert outcome.counts["missing"] == 0
        data = env.config.paths.data_dir
        cache = json.loads((data / "markets" / "market_cache.json").read_text())
        assert len(cache["tokens"]) == 2 * len(tracked)
        assert len(read_csv(data / "exports" / "markets_current.csv")) == len(tracked)
        gone = sorted(m.market_id for m in tracked)[:3]
        for market_id in gone:
            env.sim.resolve(market_id, "yes")
        again = await env.run("poll")
        assert again.ok, again.error
        assert again.counts["missing"] == 6


async def test_signals_are_exactly_the_markets_above_threshold(tmp_path: Path) -> None:
    """The markets signalled are the eligible ones whose simulated YES display price > 0.50."""
    async with job_env(tmp_path, n_events=400) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        eligible = {m.market_id for m in await env.store.eligible_markets()}
        rows = env.sim.ground_truth()
        above = {
            r["id"]
            for r in rows
            if r["id"] in eligible
            and r["yes_display"] is not None
            and Decimal(r["yes_display"]) > Decimal("0.50")
        }
        data = env.config.paths.data_dir
        current = json.loads((data / "trades" / "current_signals.json").read_text())
        assert {s["market_id"] for s in current["signals"]} == above
        assert above, "the universe should have markets above the threshold"
        csv_rows = read_csv(data / "exports" / "signals_current.csv")
        assert {r["market_id"] for r in csv_rows} == above
        actionable = [s for s in current["signals"] if s["status"] == "actionable"]
        events = [s["event_id"] for s in actionable]
        assert len(events) == len(set(events))  # one market per event
        for signal in current["signals"]:
            assert signal["config_version"] == 1
            shown = re.search(r"display price ([0-9.]+) > 0\.50", signal["reason"])
            assert shown and Decimal(shown.group(1)) == Decimal(str(signal["yes_price"]))


async def test_outage_marks_prices_stale_and_keeps_good_files(tmp_path: Path) -> None:
    """With the CLOB down a poll fails, mirrors stay byte-identical, and prices age into stale."""
    async with job_env(tmp_path, n_events=150, extra="[schedule]\nmax_price_age_s = 60") as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        data = env.config.paths.data_dir
        before = snapshot_files(data)
        env.sim.set_faults({"books_down": True})
        outcome = await env.run("poll")
        assert not outcome.ok and outcome.error
        after = snapshot_files(data)
        changed = {k for k in before if before[k] != after.get(k)}
        assert changed <= {"prescient.db", "prescient.db-wal", "prescient.db-shm"}
        later = datetime.now(UTC) + timedelta(seconds=120)
        builder = MirrorBuilder(env.store, env.config)
        assert await builder.write_prices(later) is True
        assert (data / "markets" / "market_cache.json").read_bytes() == before[
            "markets/market_cache.json"
        ]  # nothing new was polled: nothing to rewrite
        await builder.write_prices(later, force=True)
        cache = json.loads((data / "markets" / "market_cache.json").read_text())
        stale = cache["columns"].index("stale")
        assert cache["tokens"] and all(t[stale] for t in cache["tokens"].values())


async def test_paper_trading_settlement_and_evening(tmp_path: Path) -> None:
    """Buys NO at book prices, never twice; a resolution pays shares x 1; evening snapshots once."""
    async with job_env(tmp_path, n_events=300) as env:
        assert (await env.run("morning")).ok
        first = await env.run("poll")
        assert first.ok and first.counts["trades"] > 0, first
        data = env.config.paths.data_dir
        trades = json.loads((data / "trades" / "paper_trades.json").read_text())
        for t in trades:
            market = env.sim.universe.market_by_id[t["market_id"]]
            assert t["token_id"] == market.token_ids[1] and t["outcome"] == market.outcomes[1]
            assert Decimal(str(t["notional_usd"])) <= 100
        second = await env.run("poll")
        assert second.ok and second.counts["trades"] == 0
        held = trades[0]
        env.sim.resolve(held["market_id"], "no")  # NO (outcome 1) wins: the held token pays 1
        portfolio_before = json.loads((data / "trades" / "portfolio.json").read_text())
        # resolved without a proposal first: the poll finds the held book gone and checks it then
        third = await env.run("poll")
        assert third.ok and third.counts["settled"] == 1, third
        entries = json.loads((data / "trades" / "paper_trades.json").read_text())
        assert entries[: len(trades)] == trades  # append-only
        (settlement,) = [e for e in entries if e["kind"] == "settlement"]
        assert settlement["market_id"] == held["market_id"]
        assert settlement["payout_usd"] == pytest.approx(held["shares"])
        portfolio = json.loads((data / "trades" / "portfolio.json").read_text())
        # the settlement pays shares x 1; the freed position slot may be refilled by a new buy
        flows = sum(e["cash_delta_usd"] for e in entries[len(trades) :])
        assert settlement["cash_delta_usd"] == pytest.approx(held["shares"])
        assert portfolio["cash_usd"] == pytest.approx(
            portfolio_before["cash_usd"] + flows, abs=1e-6
        )
        values = sum(p["value_usd"] for p in portfolio["positions"])
        assert portfolio["equity_usd"] == pytest.approx(portfolio["cash_usd"] + values, abs=1e-6)
        assert (await env.run("evening")).ok
        history = json.loads((data / "history" / "portfolio_history.json").read_text())
        assert len(history) == 1
        assert (await env.run("evening")).ok
        assert json.loads((data / "history" / "portfolio_history.json").read_text()) == history
        perf = read_csv(data / "exports" / "performance_daily.csv")
        assert len(perf) == 1 and {"date", "equity_usd", "drawdown", "win_rate"} <= set(perf[0])
        day = datetime.now(env.config.tz).date().isoformat()
        daily = json.loads((data / "markets" / f"daily_prices_{day}.json").read_text())
        assert daily["tokens"]
        archive = json.loads((data / "history" / f"signals_archive_{day[:7]}.json").read_text())
        assert archive and all(e["date"] == day for e in archive)


async def test_locked_database_fails_the_job_cleanly_then_recovers(tmp_path: Path) -> None:
    """Another connection holding an exclusive lock past busy_timeout fails one poll, cleanly."""
    # a 50 ms busy timeout instead of the daemon's 5 s: the same failure, without the wait
    async with job_env(tmp_path, n_events=80, busy_timeout_ms=50) as env:
        assert (await env.run("morning")).ok
        assert (await env.run("poll")).ok
        before = await ledger_digest(env.store)
        blocker = connect_sync(env.store.path)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            outcome = await env.run("poll")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert not outcome.ok and outcome.error == "database: database is locked"
        assert await ledger_digest(env.store) == before  # nothing half-written
        assert await integrity_check(env.store) == "ok"
        assert (await env.run("poll")).ok


async def test_run_id_is_in_the_job_context_and_on_its_log_lines(store: Store) -> None:
    """Each run gets a new id in ctx.run_id, bound to its log lines and recorded with the run."""
    seen: list[tuple[str, object]] = []

    async def body(ctx: jobs.JobContext) -> jobs.Counts:
        seen.append((ctx.run_id, structlog.contextvars.get_contextvars().get("run_id")))
        return {}

    async def publish(mirrors: set[Mirror]) -> None:
        return None

    none: Any = None  # the body uses no HTTP client
    ctx = jobs.JobContext(Config(), 1, store, none, none, SystemClock(), publish)
    first = await jobs.run_job("poll", ctx, body)
    second = await jobs.run_job("poll", ctx, body)
    assert seen == [(first.run_id, first.run_id), (second.run_id, second.run_id)]
    assert first.run_id != second.run_id and ctx.run_id == ""  # the caller's context is untouched
    assert (await store.last_job_runs())["poll"].run_id == second.run_id


async def test_start_session_sweeps_temp_files_and_records_the_config_version(
    tmp_path: Path,
) -> None:
    """`run` and `once` start alike: crash leftovers go, an unchanged config keeps its version."""
    config = make_config(tmp_path, "http://127.0.0.1:9")  # no request is sent
    leftover = config.paths.data_dir / "trades" / ".prescientd-x.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half a file")
    async with start_session(config) as session:
        first = session.config_version
    assert not leftover.exists()
    async with start_session(config) as session:
        assert session.config_version == first
    changed = config.model_copy(
        update={"strategy": config.strategy.model_copy(update={"stake_usd": Decimal(7)})}
    )
    async with start_session(changed) as session:
        assert session.config_version == first + 1


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
RETIRED_NAMES = {"fee_usd", "fees_paid_usd", "display", "trades"}  # see the README's Changelog


def _keys_and_timestamps(data: object, keys: set[str], stamps: list[str]) -> None:
    """Collect every key and every timestamp-looking string in a JSON document."""
    if isinstance(data, dict):
        for key, value in data.items():
            keys.add(key)
            _keys_and_timestamps(value, keys, stamps)
    elif isinstance(data, list):
        for value in data:
            _keys_and_timestamps(value, keys, stamps)
    elif isinstance(data, str) and re.match(r"\d{4}-\d\d-\d\dT", data):
        stamps.append(data)


async def test_one_vocabulary_in_every_file_and_in_status(tmp_path: Path) -> None:
    """Every JSON mirror, CSV header and status --json: one timestamp spelling, no retired names."""
    async with job_env(tmp_path, n_events=300) as env:
        for job in ("morning", "poll", "evening"):
            assert (await env.run(job)).ok
        report = await collect_status(env.config, datetime.now(UTC))
        data = env.config.paths.data_dir
        keys: set[str] = set()
        stamps: list[str] = []
        ours = [p for p in sorted(data.rglob("*.json")) if p.name != "raw_events_backup.json"]
        documents = [json.loads(p.read_text()) for p in ours]  # the raw Gamma payload is not ours
        for document in [*documents, report]:
            _keys_and_timestamps(document, keys, stamps)
        headers = {h for p in data.rglob("*.csv") for h in p.read_text().splitlines()[0].split(",")}
        assert len(documents) == 9 and stamps and headers  # every JSON mirror of DESIGN §3
        assert [s for s in stamps if not ISO_UTC.fullmatch(s)] == []
        assert (keys | headers) & RETIRED_NAMES == set()
        assert isinstance(report["open_positions"], int)
        assert report["open_positions"] == len(report["positions"]) > 0
        portfolio = json.loads((data / "trades" / "portfolio.json").read_text())
        # the same rows; status lists them worst unrealized P&L first
        by_token = sorted(portfolio["positions"], key=lambda p: p["token_id"])
        assert sorted(report["positions"], key=lambda p: p["token_id"]) == by_token
        pnl = [p["unrealized_pnl_usd"] for p in report["positions"]]
        assert pnl == sorted(pnl)
