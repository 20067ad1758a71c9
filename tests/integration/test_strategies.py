"""Several strategies in one daemon, against the simulator over loopback with a real SQLite file."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prescientd import jobs
from prescientd.clock import SystemClock
from prescientd.config import Config, parse_config
from prescientd.core.strategy import entry_key
from prescientd.mirrors.build import Mirror, MirrorBuilder
from prescientd.models import JobOutcome
from prescientd.portfolio import PortfolioService
from prescientd.runtime import Clients, make_context, open_clients, open_store
from prescientd.sim import running_simulator
from prescientd.sim.state import SimState
from prescientd.store.codec import from_micro
from prescientd.store.db import Store

D = Decimal
MICRO = D("0.000001")


def make_config(tmp_path: Path, url: str, strategies: str = "") -> Config:
    """A config pointing at the simulator: quick retries, paths in tmp_path, the given variants."""
    text = f"""
[polymarket]
gamma_url = "{url}"
clob_url = "{url}"
backoff_base_s = 0.01
backoff_max_s = 0.05
max_attempts = 3
[filters]
min_liquidity_usd = 500
max_days_to_end = 1200
[strategy]
threshold = 0.50
stake_usd = 100
{strategies}
"""
    return parse_config(text).resolve_paths(tmp_path)


@dataclass
class Env:
    """A store, clients and simulator for running jobs in-process; `config` may be swapped."""

    config: Config
    store: Store
    clients: Clients
    sim: SimState

    async def run(self, name: str) -> JobOutcome:
        """Run one job as `prescientd once` does (mirrors written at once)."""
        builder = MirrorBuilder(self.store, self.config)
        clock = SystemClock()

        async def publish(mirrors: set[Mirror]) -> None:
            await builder.write_many(mirrors, clock.now())

        ctx = make_context(self.config, 1, self.store, self.clients, clock, publish)
        outcome = await jobs.run_job(name, ctx, jobs.JOB_BODIES[name])
        assert outcome.ok, outcome.error
        return outcome

    async def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of one query, as dicts."""
        return [dict(r) for r in await self.store.db.read(sql, params)]

    def csv(self, name: str) -> list[dict[str, str]]:
        """Rows of one export."""
        path = self.config.paths.data_dir / "exports" / name
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))

    def json(self, name: str) -> Any:
        """One JSON mirror."""
        return json.loads((self.config.paths.data_dir / name).read_text(encoding="utf-8"))


@asynccontextmanager
async def strategy_env(tmp_path: Path, strategies: str, n_events: int = 300) -> AsyncIterator[Env]:
    """The simulator (prices frozen) and a store whose config has the given variants."""
    frozen = datetime.now(UTC).timestamp()
    async with running_simulator(seed=9, n_events=n_events, clock=lambda: frozen) as sim:
        config = make_config(tmp_path, sim.url, strategies)
        async with open_store(config) as store, open_clients(config) as clients:
            yield Env(config, store, clients, sim.state)


def _yes_display(sim: SimState) -> dict[str, Decimal]:
    """The simulator's own YES display price of every market (ground truth)."""
    return {r["id"]: D(r["yes_display"]) for r in sim.ground_truth() if r["yes_display"]}


async def _bought(env: Env) -> dict[str, set[str]]:
    rows = await env.rows("SELECT strategy, market_id FROM trades WHERE side = 'buy'")
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row["strategy"], set()).add(row["market_id"])
    return out


async def _flows(env: Env) -> dict[str, Decimal]:
    rows = await env.rows("SELECT strategy, SUM(amount) AS total FROM cash_flows GROUP BY 1")
    return {r["strategy"]: from_micro(r["total"]) for r in rows}


async def test_two_thresholds_trade_different_sets_on_one_set_of_requests(tmp_path: Path) -> None:
    """One poll: one batch of POST /books serves both strategies, which buy different markets."""
    # deposits large enough that cash never decides: the thresholds alone make the difference
    variants = (
        "[strategies.c60]\nthreshold = 0.60\nstarting_balance_usd = 50000\n"
        "[paper]\nstarting_balance_usd = 100000\n"
    )
    async with strategy_env(tmp_path, variants) as env:
        await env.run("morning")
        tracked = await env.store.eligible_markets()
        env.sim.clear_requests()
        outcome = await env.run("poll")
        requests = list(env.sim.requests)
        sizes = [r.n_token_ids or 0 for r in requests if r.path == "/books"]
        # exactly the requests of a single strategy: each tracked token once, <= 500 a request
        assert {(r.method, r.path) for r in requests} == {("POST", "/books")}
        assert sum(sizes) == 2 * len(tracked) and len(sizes) == -(-2 * len(tracked) // 500)

        bought = await _bought(env)
        truth = _yes_display(env.sim)
        assert bought["default"] and bought["c60"] and bought["default"] != bought["c60"]
        assert all(truth[m] > D("0.50") for m in bought["default"])
        assert all(truth[m] > D("0.60") for m in bought["c60"])
        assert any(truth[m] <= D("0.60") for m in bought["default"])
        assert bought["c60"] < bought["default"]  # best per event: the same pick above 0.60
        assert set(outcome.counts["strategies"]) == {"default", "c60"}
        assert outcome.counts["trades"] == sum(len(v) for v in bought.values())

        # each account: its own deposit, cash = deposit + its flows, keys scoped by strategy
        flows = await _flows(env)
        balances = await env.store.cash_balances()
        service = PortfolioService.of(env.store)
        for name, deposit in (("default", D(100000)), ("c60", D(50000))):
            portfolio = await service.read(name)
            assert portfolio.starting_balance_usd == deposit
            assert portfolio.cash_usd == flows[name] == balances[name] < deposit
        trades = await env.rows("SELECT strategy, market_id, token_id, idempotency_key FROM trades")
        for t in trades:
            expected = entry_key("buy_no", t["market_id"], t["token_id"], 0, t["strategy"])
            assert t["idempotency_key"] == expected

        # every signal, position and ledger row names its strategy; the evaluation has both
        signals = env.json("trades/current_signals.json")
        assert {p["strategy"] for p in signals["strategies"]} == {"default", "c60"}
        assert {s["strategy"] for s in signals["signals"]} == {"default", "c60"}
        assert signals["actionable"] == sum(p["actionable"] for p in signals["strategies"])
        positions = env.csv("positions_current.csv")
        assert {(p["strategy"], p["market_id"]) for p in positions} == {
            (name, m) for name, markets in bought.items() for m in markets
        }
        ledger = env.json("trades/paper_trades.json")
        assert {(e["strategy"], e["market_id"]) for e in ledger} == {
            (name, m) for name, markets in bought.items() for m in markets
        }


async def test_a_second_poll_of_two_strategies_trades_nothing_twice(tmp_path: Path) -> None:
    """Re-running the same decisions (same books) inserts no trade for either strategy."""
    async with strategy_env(tmp_path, "[strategies.c60]\nthreshold = 0.60\n") as env:
        await env.run("morning")
        await env.run("poll")
        before = await env.rows("SELECT id FROM trades")
        again = await env.run("poll")
        assert again.counts["trades"] == 0
        assert await env.rows("SELECT id FROM trades") == before


async def test_a_retired_variant_is_settled_and_makes_no_new_trades(tmp_path: Path) -> None:
    """A variant dropped from the config keeps its positions tracked, marked and settled."""
    # buys YES below 0.40: never a market the default strategy (NO above 0.50) holds
    variants = (
        "[strategies.cheap]\nthreshold = 0.40\ncomparison = 'below'\naction = 'buy_yes'\n"
        "max_open_positions = 3\n"
    )
    async with strategy_env(tmp_path, variants) as env:
        await env.run("morning")
        await env.run("poll")
        cheap = (await _bought(env))["cheap"]
        assert len(cheap) == 3 and not cheap & (await _bought(env)).get("default", set())
        env.config = make_config(tmp_path, env.config.polymarket.gamma_url)  # cheap retired
        market_id = min(cheap)
        env.sim.resolve(market_id, "yes")  # YES pays 1 a share
        for other in sorted(m.market_id for m in await env.store.eligible_markets())[:40]:
            if other not in cheap:  # would tempt "cheap" (YES < 0.40), were it still active
                env.sim.move(other, D("0.15"))
        tracked = await PortfolioService.of(env.store).tracked()
        assert market_id in {m.market_id for m in tracked.held}
        outcome = await env.run("poll")
        assert outcome.counts["settled"] >= 1 and "strategies" not in outcome.counts
        # still valued each poll: its equity curve goes on (the web layer reads these counts)
        cheap_now = (await PortfolioService.of(env.store).read("cheap")).cash_usd
        assert outcome.counts["strategy_equity"]["cheap"]["cash_usd"] == str(cheap_now)

        settled = await env.rows(
            "SELECT strategy, market_id, payout FROM settlements WHERE market_id = ?", (market_id,)
        )
        assert [(s["strategy"], s["market_id"]) for s in settled] == [("cheap", market_id)]
        assert settled[0]["payout"] > 0
        assert (await _bought(env))["cheap"] == cheap  # no new trade
        evaluated = await env.rows(
            "SELECT DISTINCT strategy FROM evaluations WHERE run_id = ?", (outcome.run_id,)
        )
        assert evaluated == [{"strategy": "default"}]
        accounts = {a["strategy"]: a for a in env.json("trades/portfolio.json")["strategies"]}
        assert accounts["cheap"]["status"] == "retired"
        assert {p["market_id"] for p in accounts["cheap"]["positions"]} == cheap - {market_id}
        rows = {r["strategy"]: r for r in env.csv("strategies.csv")}
        assert (rows["cheap"]["status"], rows["default"]["status"]) == ("retired", "active")
        assert rows["cheap"]["settled_positions"] == "1"


def _d(text: str) -> Decimal:
    return D(text) if text else D(0)


async def test_strategies_csv_matches_the_ledgers(tmp_path: Path) -> None:
    """Every figure of strategies.csv, recomputed from each strategy's ledger rows in SQL."""
    variants = "[strategies.c60]\nthreshold = 0.60\n[strategies.high]\nthreshold = 0.70\n"
    async with strategy_env(tmp_path, variants) as env:
        await env.run("morning")
        await env.run("poll")
        held = await env.rows("SELECT DISTINCT market_id FROM trades ORDER BY market_id")
        env.sim.resolve(held[0]["market_id"], "no")
        env.sim.resolve(held[1]["market_id"], "yes")
        await env.run("poll")
        await env.run("evening")
        rows = {r["strategy"]: r for r in env.csv("strategies.csv")}
        assert set(rows) == {"default", "c60", "high"}
        quotes = await env.store.latest_quotes()
        for name, row in rows.items():
            expected = await _figures_from_sql(env, name, quotes)
            assert row["status"] == "active"
            for key, value in expected.items():
                assert abs(_d(row[key]) - value) <= MICRO, (name, key, row[key], value)


async def _figures_from_sql(env: Env, name: str, quotes: dict[str, Any]) -> dict[str, Decimal]:
    """One strategy's comparison figures from its own rows, without the portfolio code."""
    (deposit,) = await env.rows(
        "SELECT amount FROM cash_flows WHERE kind = 'deposit' AND strategy = ?", (name,)
    )
    start = from_micro(deposit["amount"])
    cash = (await _flows(env))[name]
    trades = await env.rows("SELECT * FROM trades WHERE strategy = ?", (name,))
    settlements = await env.rows("SELECT * FROM settlements WHERE strategy = ?", (name,))
    settled_tokens = {s["token_id"] for s in settlements}
    open_buys = [t for t in trades if t["token_id"] not in settled_tokens]  # no exits configured
    locked = sum((from_micro(t["notional"] + t["fee"]) for t in open_buys), D(0))
    value = sum(
        (
            from_micro(t["shares"]) * (quotes[t["token_id"]].quote.best_bid or D(0))
            for t in open_buys
        ),
        D(0),
    )
    equity = cash + value
    wins = sum(1 for s in settlements if s["payout"] > s["cost_basis"])
    snapshots = await env.rows(
        "SELECT equity FROM portfolio_snapshots WHERE strategy = ? ORDER BY local_date", (name,)
    )
    peak, deepest = start, D(0)
    for e in [from_micro(s["equity"]) for s in snapshots] + [equity]:
        peak = max(peak, e)
        deepest = min(deepest, e / peak - 1)
    return {
        "starting_balance_usd": start,
        "cash_usd": cash,
        "equity_usd": equity,
        "cumulative_return": equity / start - 1,
        "max_drawdown": deepest,
        "win_rate": D(wins) / D(len(settlements)) if settlements else D(0),
        "trade_count": D(len(trades)),
        "fees_usd": sum((from_micro(t["fee"]) for t in trades), D(0)),
        "capital_locked_usd": locked,
        "open_positions": D(len(open_buys)),
        "settled_positions": D(len(settlements)),
        "settled_wins": D(wins),
    }
