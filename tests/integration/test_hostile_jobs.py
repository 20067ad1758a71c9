"""The poll job against a hostile upstream (the simulator behind a rewriting proxy).

Mismatched records never settle a position, a deeply nested record or book does not fail the poll,
and a reply of tens of thousands of junk items writes a handful of log lines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from conftest import RawJson, in_keyset_reply, proxy
from job_env import Env, make_config
from prescientd.runtime import open_clients, open_store
from prescientd.sim import running_simulator

DEPTH = 5000  # far beyond the JSON decoder's recursion limit
KEYSET = "/markets/keyset"  # held markets are looked up there, 100 ids a request


class Rules:
    """Per-path rewrites of the upstream's JSON replies, changed while the test runs."""

    def __init__(self) -> None:
        self.by_path: dict[str, Callable[[Any], Any]] = {}

    def __call__(self, method: str, path: str, payload: Any) -> Any:
        """Rewrite one reply (unchanged when no rule matches its path)."""
        rule = self.by_path.get(path)
        return payload if rule is None else rule(payload)


@asynccontextmanager
async def hostile_env(tmp_path: Path, rules: Rules, n_events: int = 120) -> AsyncIterator[Env]:
    """The job environment of test_jobs, with every request going through the proxy."""
    frozen = datetime.now(UTC).timestamp()
    async with (
        running_simulator(seed=3, n_events=n_events, clock=lambda: frozen) as sim,
        proxy(sim.url, rules) as url,
    ):
        config = make_config(tmp_path, url)
        async with open_store(config) as store, open_clients(config) as clients:
            yield Env(config, store, clients, sim.state)


def deep(value: Any) -> RawJson:
    """value as JSON text with a field nested DEPTH levels deep added to it."""
    text = json.dumps(value)
    nested = '"deep": ' + "[" * DEPTH + "]" * DEPTH
    return RawJson(text[:-1] + ", " + nested + "}" if text.startswith("{") else text)


async def _held_and_other(env: Env) -> tuple[str, str]:
    """(a market we hold after a poll, an eligible market we do not hold)."""
    assert (await env.run("morning")).ok
    first = await env.run("poll")
    assert first.ok and first.counts["trades"] > 0, first
    (held_trades, _) = await env.store.ledger()
    held = held_trades[0].market_id
    bought = {t.market_id for t in held_trades}
    other = next(
        m.market_id for m in await env.store.eligible_markets() if m.market_id not in bought
    )
    return held, other


async def _settlements(env: Env) -> int:
    return len((await env.store.ledger())[1])


async def test_another_markets_resolved_record_never_settles(tmp_path: Path) -> None:
    """The batch look-up of A answered with B's resolved record: A is not settled, it is logged."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        held, other = await _held_and_other(env)
        env.sim.resolve(other, "yes")
        gamma_url = env.config.polymarket.gamma_url
        async with env.clients.session.get(f"{gamma_url}/markets/{other}") as reply:
            b_record = await reply.json()
        rules.by_path[KEYSET] = in_keyset_reply(held, lambda _: b_record)
        with capture_logs() as logs:
            outcome = await env.run("poll")
        assert outcome.ok, outcome.error
        assert outcome.counts["settled"] == 0 and await _settlements(env) == 0
        (failed,) = [e for e in logs if e["event"] == "settlement_check_failed"]
        assert failed["market_id"] == held and "record_mismatch" in failed["error"]
        assert [e["id"] for e in logs if e["event"] == "record_mismatch"] == [other]


async def test_a_record_under_our_id_with_another_condition_never_settles(tmp_path: Path) -> None:
    """B's resolved record relabelled with A's id: its condition differs, A is not settled."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        held, other = await _held_and_other(env)
        env.sim.resolve(other, "yes")
        env.sim.resolve(held, "yes")
        gamma_url = env.config.polymarket.gamma_url
        async with env.clients.session.get(f"{gamma_url}/markets/{other}") as reply:
            b_record = await reply.json()
        rules.by_path[KEYSET] = in_keyset_reply(held, lambda _: {**b_record, "id": held})
        with capture_logs() as logs:
            outcome = await env.run("poll")
        assert outcome.ok and outcome.counts["settled"] == 0, outcome
        (failed,) = [e for e in logs if e["event"] == "settlement_check_failed"]
        assert failed["market_id"] == held and "condition id" in failed["error"]
        rules.by_path.clear()  # a rejected check stays due: the true record settles it next poll
        healed = await env.run("poll")
        assert healed.ok and healed.counts["settled"] == 1, healed


async def test_own_record_with_reordered_tokens_never_settles(tmp_path: Path) -> None:
    """A's resolved record with its tokens (and prices) reordered is rejected, not mis-settled."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        held, _ = await _held_and_other(env)
        env.sim.resolve(held, "no")

        def swapped(record: dict[str, Any]) -> dict[str, Any]:
            for key in ("clobTokenIds", "outcomePrices", "outcomes"):
                record[key] = json.dumps(json.loads(record[key])[::-1])
            return record

        def no_winner(record: dict[str, Any]) -> dict[str, Any]:
            for token in record["tokens"]:
                token["winner"] = False  # the CLOB cannot contradict: only the id check can
            return record

        market = (await env.store.markets_by_id([held]))[held]
        rules.by_path[KEYSET] = in_keyset_reply(held, swapped)
        rules.by_path[f"/markets/{market.condition_id}"] = no_winner
        with capture_logs() as logs:
            outcome = await env.run("poll")
        assert outcome.ok and outcome.counts["settled"] == 0, outcome
        (failed,) = [e for e in logs if e["event"] == "settlement_check_failed"]
        assert failed["market_id"] == held and "token ids differ" in failed["error"]
        assert await _settlements(env) == 0
        rules.by_path.clear()  # the true record settles it
        healed = await env.run("poll")
        assert healed.ok and healed.counts["settled"] == 1, healed


async def test_clob_record_of_other_tokens_leaves_settlement_pending(tmp_path: Path) -> None:
    """A CLOB record naming other tokens cannot cross-check a resolution: it stays pending."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        held, other = await _held_and_other(env)
        env.sim.resolve(held, "no")
        market = (await env.store.markets_by_id([held]))[held]
        stranger = (await env.store.markets_by_id([other]))[other]

        def other_tokens(record: dict[str, Any]) -> dict[str, Any]:
            for token, token_id in zip(record["tokens"], stranger.token_ids, strict=True):
                token["token_id"], token["winner"] = token_id, False
            return record

        rules.by_path[f"/markets/{market.condition_id}"] = other_tokens
        outcome = await env.run("poll")
        assert outcome.ok and outcome.counts["settled"] == 0, outcome
        assert outcome.counts["settlement_pending"] == 1
        assert await _settlements(env) == 0


async def test_deeply_nested_held_market_record_does_not_fail_the_poll(tmp_path: Path) -> None:
    """One held market's record nested 5,000 levels deep: that check is skipped, the poll runs."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        held, _ = await _held_and_other(env)
        rules.by_path[KEYSET] = in_keyset_reply(held, deep)
        with capture_logs() as logs:
            outcome = await env.run("poll")
        assert outcome.ok, outcome.error
        assert outcome.counts["books"] > 0
        (failed,) = [e for e in logs if e["event"] == "settlement_check_failed"]
        assert "too_deep" in failed["error"]


async def test_deeply_nested_books_reply_does_not_fail_the_poll(tmp_path: Path) -> None:
    """A /books reply with one book nested 5,000 levels deep: the other books are used."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        assert (await env.run("morning")).ok

        def one_deep(books: list[Any]) -> RawJson:
            return RawJson("[" + ", ".join([deep(books[0]), *map(json.dumps, books[1:])]) + "]")

        rules.by_path["/books"] = one_deep
        outcome = await env.run("poll")
        assert outcome.ok, outcome.error
        assert outcome.counts["books"] >= outcome.counts["tokens"] // 2


async def test_a_flood_of_junk_items_writes_a_handful_of_lines(tmp_path: Path) -> None:
    """A /books reply padded with 20,000 empty objects: a few log lines, the real books used."""
    rules = Rules()
    async with hostile_env(tmp_path, rules) as env:
        assert (await env.run("morning")).ok
        rules.by_path["/books"] = lambda books: books + [{}] * 20_000
        with capture_logs() as logs:
            outcome = await env.run("poll")
        assert outcome.ok, outcome.error
        assert outcome.counts["books"] > 0
        rejected = [e for e in logs if e["event"].startswith("clob_book_rejected")]
        assert 1 <= len(rejected) <= 10, len(rejected)
        other = [e["event"] for e in logs if e["event"] not in ("paper_trade", "position_settled")]
        assert len(other) < 20, other
