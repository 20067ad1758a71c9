"""The jobs' log lines against the simulator: levels, degraded polls, aggregation, questions."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from conftest import proxy
from prescientd import jobs
from prescientd.clock import SystemClock
from prescientd.config import Config, parse_config
from prescientd.mirrors.build import Mirror
from prescientd.models import JobOutcome
from prescientd.runtime import Clients, make_context, open_clients, open_store
from prescientd.sim import running_simulator
from prescientd.sim.state import SimState
from prescientd.store.db import Store

Logs = list[MutableMapping[str, Any]]
LONG_ID = re.compile(r"\d{60,}")  # a CLOB token id


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Every log line, debug included, as dicts (level in `log_level`)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(**saved)


@dataclass
class Env:
    """The simulator (prices frozen), a store and clients; jobs run as `once` runs them."""

    config: Config
    store: Store
    clients: Clients
    sim: SimState
    drop_books: set[str]

    async def run(self, name: str, plan_next: Any = None) -> JobOutcome:
        """Run one job (mirrors are not written: these tests read the log lines)."""

        async def publish(mirrors: set[Mirror]) -> None:
            return None

        ctx = make_context(self.config, 1, self.store, self.clients, SystemClock(), publish)
        ctx.plan_next = plan_next
        return await jobs.run_job(name, ctx, jobs.JOB_BODIES[name])


@asynccontextmanager
async def job_env(tmp_path: Path) -> AsyncIterator[Env]:
    """60 events, quick retries, the default buy-NO-above-0.50 strategy; a proxy leaves the
    books of the tokens in `drop_books` out of /books replies."""
    frozen = datetime.now(UTC).timestamp()
    drop: set[str] = set()

    def rewrite(method: str, path: str, payload: Any) -> Any:
        if path != "/books":
            return payload
        return [book for book in payload if book.get("asset_id") not in drop]

    async with (
        running_simulator(seed=5, n_events=60, clock=lambda: frozen) as sim,
        proxy(sim.url, rewrite) as url,
    ):
        text = f"""
[polymarket]
gamma_url = "{url}"
clob_url = "{url}"
backoff_base_s = 0.01
backoff_max_s = 0.02
max_attempts = 2
[filters]
min_liquidity_usd = 500
max_days_to_end = 1200
"""
        config = parse_config(text).resolve_paths(tmp_path)
        async with open_store(config) as store, open_clients(config) as clients:
            yield Env(config, store, clients, sim.state, drop)


def finished(logs: Logs) -> list[MutableMapping[str, Any]]:
    """The job_finished lines (capture_logs drops the bound job name: one job at a time)."""
    return [e for e in logs if e["event"] == "job_finished"]


async def bought(env: Env, logs: Logs) -> list[MutableMapping[str, Any]]:
    """Morning, then a poll that buys; the paper_trade lines."""
    assert (await env.run("morning")).ok
    logs.clear()
    outcome = await env.run("poll")
    assert outcome.ok and outcome.counts["trades"] > 0, outcome
    return [e for e in logs if e["event"] == "paper_trade"]


async def test_paper_trade_and_position_settled_carry_the_question(
    tmp_path: Path, logs: Logs
) -> None:
    """Each trade line names its market's question; so does the settlement of a held market,
    whose vanished book does not make the poll degraded."""
    async with job_env(tmp_path) as env:
        trades = await bought(env, logs)
        truth = {m.id: m.question for m in env.sim.universe.markets}
        assert all(t["question"] == truth[t["market_id"]] and t["question"] for t in trades)
        held = trades[0]["market_id"]
        env.sim.resolve(held, "no")
        logs.clear()
        assert (await env.run("poll")).ok
        (settled,) = [e for e in logs if e["event"] == "position_settled"]
        assert (settled["market_id"], settled["question"]) == (held, truth[held])
        # its book is gone with the resolution: the market's lifecycle, not a degraded poll
        (line,) = finished(logs)
        assert (line["settled"], line["missing"], line["held_books_missing"]) == (1, 2, 0)
        assert line["log_level"] == "info" and "degraded" not in line


def tokens_of(env: Env, market_id: str) -> set[str]:
    """The simulator's token ids of a market."""
    return set(next(m for m in env.sim.universe.markets if m.id == market_id).token_ids)


async def test_a_held_book_gone_from_an_open_market_makes_a_degraded_poll(
    tmp_path: Path, logs: Logs
) -> None:
    """The CLOB leaves out the books of a held market that is still open: the poll completes
    at warning with the reason; the missing ids are at debug only."""
    async with job_env(tmp_path) as env:
        trades = await bought(env, logs)
        (ok_line,) = finished(logs)
        assert ok_line["log_level"] == "info" and "degraded" not in ok_line
        held = trades[0]["market_id"]
        env.drop_books.update(tokens_of(env, held))
        logs.clear()
        assert (await env.run("poll")).ok
        (line,) = finished(logs)
        assert line["log_level"] == "warning" and line["outcome"] == "ok"
        assert line["degraded"] == ["held_books_missing"]
        assert (line["held_books_missing"], line["missing"]) == (1, 2)
        (missing,) = [e for e in logs if e["event"] == "books_missing"]
        assert missing["log_level"] == "debug" and set(missing["tokens"]) == tokens_of(env, held)
        (vanished,) = [e for e in logs if e["event"] == "held_book_vanished"]
        assert vanished["log_level"] == "debug" and vanished["markets"] == [held]
        loud = [e for e in logs if e["log_level"] != "debug" and e["event"] != "paper_trade"]
        assert [e["event"] for e in loud] == ["job_finished"]
        assert not any(LONG_ID.search(str(e)) for e in logs if e["log_level"] != "debug")


async def test_a_held_market_awaiting_resolution_is_not_degradation(
    tmp_path: Path, logs: Logs
) -> None:
    """Its resolution proposed, a held market's book is withdrawn: counted as pending at info,
    which market and why at debug."""
    async with job_env(tmp_path) as env:
        held = (await bought(env, logs))[0]["market_id"]
        env.sim.propose(held)
        logs.clear()
        assert (await env.run("poll")).ok
        (line,) = finished(logs)
        assert line["log_level"] == "info" and "degraded" not in line
        assert (line["settlement_pending"], line["held_books_missing"], line["missing"]) == (
            1,
            0,
            2,
        )
        (pending,) = [e for e in logs if e["event"] == "settlement_pending"]
        assert pending["log_level"] == "debug" and pending["market_id"] == held
        assert not any(LONG_ID.search(str(e)) for e in logs if e["log_level"] != "debug")


async def test_failed_settlement_checks_are_one_warning_line_and_a_degraded_poll(
    tmp_path: Path, logs: Logs
) -> None:
    """Gamma failing every held market's check: one aggregated warning, the count on the
    job_finished line (warning, degraded), one debug line per market."""
    async with job_env(tmp_path) as env:
        trades = await bought(env, logs)
        held = {t["market_id"] for t in trades}
        env.sim.set_faults(
            {"server_error": {"count": None, "route": "gamma", "path_prefix": "/markets/"}}
        )
        logs.clear()
        assert (await env.run("poll")).ok
        (line,) = finished(logs)
        assert line["log_level"] == "warning"
        assert line["degraded"] == ["settlement_checks_failed"]
        assert line["settlement_checks_failed"] == len(held)
        (summary,) = [e for e in logs if e["event"] == "settlement_checks_failed"]
        assert summary["log_level"] == "warning" and summary["count"] == len(held)
        assert "HTTP 5" in summary["first_error"]
        each = [e for e in logs if e["event"] == "settlement_check_failed"]
        assert {e["market_id"] for e in each} == held
        assert {e["log_level"] for e in each} == {"debug"}


async def test_a_failed_job_logs_at_error_with_the_planned_retry(
    tmp_path: Path, logs: Logs
) -> None:
    """The CLOB down: the poll fails; its line is at error and carries the plan's next time."""
    async with job_env(tmp_path) as env:
        assert (await env.run("morning")).ok
        env.sim.set_faults({"books_down": {"count": None}})
        planned: list[JobOutcome] = []

        def plan_next(outcome: JobOutcome) -> datetime:
            planned.append(outcome)
            return outcome.finished_at + timedelta(seconds=42)

        logs.clear()
        outcome = await env.run("poll", plan_next)
        assert not outcome.ok and planned == [outcome]
        (line,) = finished(logs)
        assert line["log_level"] == "error" and line["outcome"] == "failed"
        assert line["error"] == outcome.error and "books" in line["error"]
        assert line["retry_in_s"] == 42.0
        expected = outcome.finished_at + timedelta(seconds=42)
        assert line["next_attempt_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
