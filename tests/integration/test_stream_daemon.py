"""The streaming task inside the real daemon, against the simulator's market channel.

The simulator's clock is frozen, so its books change only when a test moves a market (`move`):
whatever the stream trades, it traded because of that move. Polls run once at start-up (the
interval is an hour), so a trade recorded afterwards came from the stream unless the test asks
for a cycle.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from prescientd.config import PricesConfig
from prescientd.core.prices import quote_from_book
from prescientd.evaluation import STREAM, evaluate_and_trade
from prescientd.models import STREAM_RUN_PREFIX, Market
from prescientd.polymarket.clob import parse_book
from prescientd.sim.server import build_state
from prescientd.streamer import Streamer
from web.live import LiveDaemon, live_daemon, polls_done, read_events, wait_for

D = Decimal
ABOVE = D("0.80")  # moved here, a market crosses the default threshold (0.50) by far
STREAM_FAST: dict[str, Any] = {
    "enabled": True,
    "watch_band": 0.1,
    "ping_interval_s": 0.2,
    "silence_limit_s": 0.6,
    "debounce_ms": 20,
    "connect_timeout_s": 2,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "resync_interval_s": 0.1,
    "circuit_failures": 50,
    "circuit_window_s": 10,
    "circuit_open_s": 1,
}
# a moved market is bought whatever the shape of its simulated book (spread, depth)
LENIENT: dict[str, Any] = {"max_spread": 1.0, "min_depth_ratio": 0}


def streamer(live: LiveDaemon) -> Streamer:
    """The daemon's streaming task."""
    found = live.daemon.streamer
    assert found is not None
    return found


def ready(live: LiveDaemon) -> bool:
    """Every watched book is trusted on a live connection."""
    status = streamer(live).stream.status()
    return status.connections > 0 and status.watched > 0 and status.trusted == status.watched


@asynccontextmanager
async def streaming(
    root: Path, *, stream: Mapping[str, Any] | None = None, **sections: Mapping[str, Any]
) -> AsyncIterator[LiveDaemon]:
    """The daemon with its stream on (fast timers) against a frozen simulator, books ready."""
    frozen = time.time()
    overrides: dict[str, Mapping[str, Any]] = {
        "stream": {**STREAM_FAST, **(stream or {})},
        "strategy": LENIENT,
    }
    overrides.update(sections)
    async with live_daemon(root, overrides=overrides, sim_clock=lambda: frozen) as live:
        await settled_in(live)
        yield live


async def settled_in(live: LiveDaemon) -> None:
    """Wait for the first snapshots and their evaluation: a market the poll found second best in
    its event, behind one it bought, is bought now (as the next poll would), not during a test."""
    await wait_for(lambda: ready(live), "the stream's first snapshots")
    await wait_for(lambda: streamer(live).counts.evaluations > 0, "the first evaluation")
    await asyncio.sleep(0.2)


async def below_threshold(live: LiveDaemon) -> Market:
    """The watched eligible market nearest below the threshold that no strategy holds."""
    watched = streamer(live).watched
    held = {p["market_id"] for p in (await live.json("/api/v1/positions?limit=1000"))["items"]}
    rows = (await live.json("/api/v1/markets/current?limit=1000"))["items"]
    below = [
        (0.5 - r["display_price"], r["market_id"])
        for r in rows
        if r["market_id"] in watched.eligible
        and r["market_id"] not in held
        and r["display_price"] is not None
        and r["display_price"] < 0.49
    ]
    assert below, "the watch band should hold an unheld market below the threshold"
    return watched.markets[min(below)[1]]


async def ledger_trades(live: LiveDaemon) -> list[dict[str, Any]]:
    """Every trade in the ledger (paper_trades.json entries, oldest first)."""
    page = await live.json("/api/v1/trades?kind=trade&order=asc&limit=1000")
    return list(page["items"])


async def trades_of(live: LiveDaemon, market_id: str) -> list[dict[str, Any]]:
    """The ledger's trades of one market."""
    return [t for t in await ledger_trades(live) if t["market_id"] == market_id]


def rest_best_ask(live: LiveDaemon, token_id: str) -> float:
    """The best ask of the simulator's REST book of a token now."""
    body = live.sim.state.book_bytes(token_id)
    assert body is not None
    return float(parse_book(json.loads(body)).asks[0].price)


def counters(live: LiveDaemon) -> dict[str, float]:
    """The stream's metrics values by name, as /metrics exports them (without the prefix)."""
    return dict(streamer(live).stats())


async def metrics(live: LiveDaemon) -> dict[str, float]:
    """Every unlabelled sample of /metrics by name."""
    async with live.client.get("/metrics") as response:
        text = await response.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels or (set(sample.labels) == {"le"} and sample.labels["le"] == "+Inf")
    }


async def test_a_moved_market_is_traded_by_the_stream_before_any_poll(tmp_path: Path) -> None:
    """A watched market moved over the threshold is bought from the stream's live book (the
    moved book's best ask), recorded as a stream evaluation and timed in the metrics, while
    current_signals.json stays the poll's evaluation."""
    async with streaming(tmp_path) as live:
        market = await below_threshold(live)
        signals_before = json.loads((live.data_dir / "trades/current_signals.json").read_text())
        timed_before = (await metrics(live))["prescientd_stream_signal_to_trade_seconds_count"]
        trades_before = counters(live)["trades_total"]
        live.sim.state.move(market.market_id, ABOVE)
        trades = await wait_for(lambda: trades_of(live, market.market_id), "the stream's trade")
        assert await polls_done(live) == 1  # no poll ran since start-up
        (trade,) = trades
        assert trade["reason"].endswith("(stream)")
        assert trade["token_id"] == market.no_token_id  # buy_no: the second outcome
        assert trade["levels"][0]["price"] == rest_best_ask(live, market.no_token_id)
        assert live.daemon._store is not None
        rows = await live.daemon._store.db.read(
            "SELECT e.run_id, s.reason FROM trades t JOIN signals s ON s.id = t.signal_id"
            " JOIN evaluations e ON e.id = s.evaluation_id WHERE t.id = ?",
            (trade["trade_id"],),
        )
        assert rows[0]["run_id"].startswith(STREAM_RUN_PREFIX)
        assert rows[0]["reason"].endswith("(stream)")
        await live.mirrors_written()
        ledger = json.loads((live.data_dir / "trades/paper_trades.json").read_text())
        assert trade["trade_id"] in {e.get("trade_id") for e in ledger}
        signals = json.loads((live.data_dir / "trades/current_signals.json").read_text())
        assert signals["evaluation_id"] == signals_before["evaluation_id"]
        figures = await metrics(live)
        assert figures["prescientd_stream_signal_to_trade_seconds_count"] == timed_before + 1
        assert figures["prescientd_stream_signal_to_trade_seconds_sum"] > 0
        assert figures["prescientd_stream_running"] == 1
        assert figures["prescientd_stream_poll_only"] == 0
        assert figures["prescientd_stream_connections"] >= 1
        assert figures["prescientd_stream_trades_total"] == trades_before + 1
        assert figures["prescientd_stream_messages_total"] > 0
        assert figures["prescientd_stream_evaluations_total"] >= 1


async def test_a_book_gone_stale_while_its_change_waited_is_not_traded(tmp_path: Path) -> None:
    """A crossing change waits for the trade lock; its connection drops and cannot come back, and
    the market moves back below the threshold: the evaluation skips the stale book, the fresh
    snapshot after the outage does not cross, and only a later real crossing is bought."""
    async with streaming(tmp_path, stream={"debounce_ms": 0}) as live:
        market = await below_threshold(live)
        stream = streamer(live).stream
        lock = live.daemon.context().trade_guard.lock
        yes = market.yes_token_id
        skips = counters(live)["untrusted_skips_total"]
        async with lock:
            live.sim.state.move(market.market_id, ABOVE)
            await wait_for(
                lambda: (book := stream.book(yes)) is not None and book.bids[0].price > D("0.7"),
                "the crossing change in the local book",
            )
            await asyncio.sleep(0.1)  # the streaming task now waits for the lock
            live.sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
            live.sim.state.set_faults({"ws_drop": 1})
            await wait_for(lambda: stream.book(yes) is None, "the book to go stale")
            live.sim.state.move(market.market_id, D("0.45"))
        await wait_for(
            lambda: counters(live)["untrusted_skips_total"] > skips, "the evaluation's skip"
        )
        assert await trades_of(live, market.market_id) == []
        snapshots = stream.stats.snapshots
        live.sim.state.clear_faults()
        await wait_for(
            lambda: ready(live) and stream.stats.snapshots > snapshots, "the fresh snapshots"
        )
        await asyncio.sleep(0.3)  # let any evaluation of the fresh snapshots finish
        assert await trades_of(live, market.market_id) == []
        live.sim.state.move(market.market_id, ABOVE)
        (trade,) = await wait_for(lambda: trades_of(live, market.market_id), "a real crossing")
        assert trade["levels"][0]["price"] == rest_best_ask(live, market.no_token_id)
        assert await polls_done(live) == 1


@pytest.mark.parametrize(
    ("fault", "spec", "counter"),
    [
        ("ws_drop", 1, "reconnects_total"),
        ("ws_silence", {"count": 1, "delay_s": 1.5}, "silences_total"),
        ("ws_malformed", 1, "malformed_total"),
        ("ws_unknown_asset", 1, "ignored_total"),
    ],
)
async def test_a_move_during_a_channel_fault_is_traded_once_on_the_fresh_book(
    tmp_path: Path, fault: str, spec: Any, counter: str
) -> None:
    """Through a dropped connection, a silent one, a malformed delta or a frame for an unknown
    token, the moved market is bought exactly once, at the moved book's best ask (never from a
    stale book), and nothing else trades."""
    async with streaming(tmp_path, stream={"debounce_ms": 0}) as live:
        market = await below_threshold(live)
        before = counters(live)
        trades_before = len(await ledger_trades(live))
        live.sim.state.set_faults({fault: spec})
        live.sim.state.move(market.market_id, ABOVE)
        (trade,) = await wait_for(
            lambda: trades_of(live, market.market_id), "the trade", timeout_s=15
        )
        await asyncio.sleep(0.3)  # anything else the recovery might trade
        after = counters(live)
        assert after[counter] > before[counter]
        assert trade["levels"][0]["price"] == rest_best_ask(live, market.no_token_id)
        assert trade["reason"].endswith("(stream)")
        assert len(await ledger_trades(live)) == trades_before + 1
        assert await polls_done(live) == 1
        if fault == "ws_malformed":
            assert after["resyncs_total"] > before["resyncs_total"]
        if fault == "ws_unknown_asset":
            assert after["reconnects_total"] == before["reconnects_total"]


def empty_band(frozen: float) -> tuple[Decimal, Decimal]:
    """A YES price band above 0.55 where no market of the frozen universe sits (the widest gap
    between their prices, less a margin), so the first poll buys nothing and a market moved into
    it is the only one to buy."""
    state = build_state(seed=5, n_events=60, clock=lambda: frozen)
    yes_prices = [D("0.55"), D("0.97")]
    for market in state.universe.markets:
        body = state.book_bytes(market.token_ids[0]) if market.is_binary else None
        if body is not None:
            quote = quote_from_book(parse_book(json.loads(body)), datetime.now(UTC), PricesConfig())
            if quote.display is not None and D("0.55") < quote.display < D("0.97"):
                yes_prices.append(quote.display)
    yes_prices.sort()
    lo, hi = max(itertools.pairwise(yes_prices), key=lambda gap: gap[1] - gap[0])
    assert hi - lo >= D("0.035"), f"no empty price band in this universe: {yes_prices}"
    return lo + D("0.01"), hi - D("0.01")


async def test_the_same_market_signalled_by_a_poll_and_the_stream_at_once_trades_once(
    tmp_path: Path,
) -> None:
    """The stream's change and a poll's books both show the market crossing and both wait for
    the trade lock: the first buys it, the second reads the portfolio after it and skips the
    market as held; one trade, no duplicate key even tried."""
    frozen = time.time()
    lo, hi = empty_band(frozen)
    overrides: dict[str, Mapping[str, Any]] = {
        "stream": {**STREAM_FAST, "debounce_ms": 0},
        # buy only inside a band nothing sits in: no position, so the poll settles nothing and
        # fetches its books without waiting for the lock
        "strategy": {**LENIENT, "min_price": float(lo), "max_price": float(hi)},
    }
    async with live_daemon(tmp_path, overrides=overrides, sim_clock=lambda: frozen) as live:
        await settled_in(live)
        assert await ledger_trades(live) == []
        market = await below_threshold(live)
        stream = streamer(live).stream
        lock = live.daemon.context().trade_guard.lock
        async with live.client.get("/api/v1/stream") as events:
            async with lock:
                live.sim.state.move(market.market_id, (lo + hi) / 2)
                await wait_for(
                    lambda: (
                        (b := stream.book(market.yes_token_id)) is not None
                        and b.bids[0].price > D("0.55")
                    ),
                    "the change in the local book",
                )
                await asyncio.sleep(0.1)  # the streaming task waits for the lock first
                status, _ = await live.post("/api/v1/cycle")
                assert status == 202
                # the poll stores the moved books, reports them and goes straight to the lock
                await read_events(events, lambda evs: any(e["event"] == "prices" for e in evs))
                assert len(lock._waiters or ()) == 2  # both wait, the stream first
            finished = await read_events(
                events,
                lambda evs: any(
                    e["event"] == "job_finished" and json.loads(e["data"])["job"] == "poll"
                    for e in evs
                ),
            )
        poll = json.loads(finished[-1]["data"])
        assert poll["outcome"] == "ok"
        assert (poll["counts"]["trades"], poll["counts"]["duplicate_trades"]) == (0, 0)
        (trade,) = await ledger_trades(live)
        assert trade["market_id"] == market.market_id
        assert trade["reason"].endswith("(stream)")  # the stream waited first
        await live.mirrors_written()
        signals = json.loads((live.data_dir / "trades/current_signals.json").read_text())
        verdicts = {(s["market_id"], s["status"], s["skip_reason"]) for s in signals["signals"]}
        assert (market.market_id, "skipped", "held") in verdicts


async def test_a_market_resolved_on_the_channel_is_settled_before_the_next_poll(
    tmp_path: Path,
) -> None:
    """A held market's `market_resolved` frame runs the poll's settlement check at once."""
    async with streaming(tmp_path) as live:
        positions = (await live.json("/api/v1/positions?limit=1000"))["items"]
        watched = streamer(live).watched.markets
        held = next(p for p in positions if p["market_id"] in watched)
        live.sim.state.resolve(held["market_id"], "no" if held["outcome"] == "No" else "yes")

        async def settled() -> list[dict[str, Any]]:
            page = await live.json("/api/v1/trades?kind=settlement&limit=100")
            return [s for s in page["items"] if s["market_id"] == held["market_id"]]

        (settlement,) = await wait_for(settled, "the settlement")
        assert settlement["payout_usd"] > 0
        assert await polls_done(live) == 1
        assert counters(live)["settlement_checks_total"] >= 1


async def test_an_unreachable_channel_leaves_the_daemon_polling(tmp_path: Path) -> None:
    """A channel that refuses every handshake is counted and opens the circuit (poll-only); the
    polls trade as before and the daemon stops cleanly."""
    frozen = time.time()
    overrides = {"stream": {**STREAM_FAST, "circuit_failures": 2, "circuit_open_s": 30}}
    async with live_daemon(tmp_path, overrides=overrides, sim_clock=lambda: frozen) as live:
        live.sim.state.set_faults({"reset": {"count": None, "path_prefix": "/ws/market"}})
        live.sim.state.set_faults({"ws_drop": 1})  # the live connection goes; none comes back
        await wait_for(lambda: counters(live)["poll_only"] == 1, "the circuit to open")
        figures = counters(live)
        assert figures["connect_failures_total"] >= 1 and figures["circuit_opens_total"] >= 1
        assert figures["connections"] == 0 and figures["trusted_books"] == 0
        assert len(await ledger_trades(live)) > 0  # the first poll traded


async def test_without_the_lock_two_deciders_still_trade_once_by_key(tmp_path: Path) -> None:
    """The second safety: a poll's and a stream's evaluation decided on the same portfolio (as if
    no lock ordered them) compute the same idempotency key, and the ledger keeps one trade."""
    frozen = time.time()
    overrides = {"strategy": LENIENT}
    async with live_daemon(tmp_path, overrides=overrides, sim_clock=lambda: frozen) as live:
        rows = (await live.json("/api/v1/markets/current?limit=1000"))["items"]
        held = {p["market_id"] for p in (await live.json("/api/v1/positions?limit=1000"))["items"]}
        market_id = next(
            r["market_id"]
            for r in rows
            if r["market_id"] not in held and r["display_price"] and r["display_price"] < 0.45
        )
        live.sim.state.move(market_id, ABOVE)
        ctx = live.daemon.context()
        market = (await ctx.store.markets_by_id([market_id]))[market_id]
        fetched = await ctx.clob.fetch_books(list(market.token_ids))
        now = ctx.clock.now()
        quotes = {t: quote_from_book(b, now, ctx.config.prices) for t, b in fetched.books.items()}
        portfolios = await ctx.portfolio.read_all()  # both decide on this one read
        poll_ctx = replace(ctx, run_id="race-poll")
        stream_ctx = replace(ctx, run_id=f"{STREAM_RUN_PREFIX}race")
        counts = await asyncio.gather(
            evaluate_and_trade(poll_ctx, [market], quotes, fetched.books, portfolios, now),
            evaluate_and_trade(
                stream_ctx, [market], quotes, fetched.books, portfolios, now, STREAM
            ),
        )
        assert sorted((c["trades"], c["duplicate_trades"]) for c in counts) == [(0, 1), (1, 0)]
        assert len(await trades_of(live, market_id)) == 1
