"""SIGKILL at chosen moments, restart, repeat: the ledger never duplicates and the mirrors agree.

Two strategies trade side by side (the default and a variant at another threshold), so every
invariant holds per strategy: its own keys, cash, positions and settlements.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from e2e.conftest import (
    EXPORT_CSVS,
    FIXED_JSON,
    REPORT_CSVS,
    DaemonProcess,
    Setup,
    SimProcess,
    db_query,
    integrity_check,
    mirror_contents,
    read_json,
    temp_files,
    wait_until,
)

MICRO = Decimal(1_000_000)
EPS = Decimal("0.000001")
KILL_WAIT_S = 20.0  # the longest a kill point may take to come (a loaded machine)


def _usd(micro: int) -> Decimal:
    return Decimal(micro) / MICRO


@dataclass(frozen=True)
class KillPoint:
    """SIGKILL once the count-th matching JSON log line is out, delay_s later.

    A log line follows the commit it reports, so delay 0 kills between a commit and the mirrors
    it asks for, and a short delay lands inside the work that follows (the next transaction, the
    debounced mirror rebuild). event None counts every line.
    """

    event: str | None
    job: str | None = None
    count: int = 1
    delay_s: float = 0.0
    resolve_held: int = 0  # resolve this many held markets on the simulator before the start
    fallback_s: float | None = None  # kill after this long even if the line never comes

    def hit(self, daemon: DaemonProcess) -> bool:
        """True once the daemon has logged this point's line."""
        lines = [
            line
            for line in daemon.logs()
            if self.event in (None, line.get("event"))
            and (self.job is None or line.get("job") == self.job)
        ]
        return len(lines) >= self.count


KILL_POINTS = (
    KillPoint("job_finished", job="morning"),  # the first refresh committed, its mirrors pending
    KillPoint("paper_trade"),  # trades committed, the rest of their log lines cut short
    # the next poll's trades, if the price step leaves any to make (else the kill comes anyway)
    KillPoint("paper_trade", delay_s=0.02, fallback_s=2.0),
    KillPoint("job_finished", job="poll", delay_s=0.1),  # inside the debounced mirror rebuild
    KillPoint("started"),  # right after the start-up mirror rebuild, before the first job ends
    KillPoint("job_finished", job="evening"),  # a portfolio snapshot committed, files pending
    KillPoint("position_settled", resolve_held=2),  # a settlement committed, mirrors pending
    KillPoint("job_finished", job="poll", count=2, delay_s=0.25),
    KillPoint(None, count=3),  # early in start-up
    KillPoint("job_finished", job="morning", delay_s=0.05),  # a later refresh (interval)
    KillPoint("job_finished", job="evening", delay_s=0.1),
    KillPoint("position_settled", delay_s=0.01, resolve_held=2),
    KillPoint("job_finished", job="poll", delay_s=0.5),  # between polls, or inside the next
    KillPoint("job_finished", job="poll", delay_s=0.03),  # inside the next poll's transactions
    KillPoint(None, count=8, delay_s=0.05),
    KillPoint("job_finished", job="poll", count=2),
    KillPoint("position_settled", delay_s=0.05, resolve_held=1),
    KillPoint("job_finished", job="morning"),
    KillPoint("job_finished", job="poll", count=2, delay_s=0.15),
    KillPoint("mirrors_rebuilt_at_start", delay_s=0.01),
)


def _resolve_held(sim: SimProcess, db: Path, count: int) -> None:
    """Resolve count markets the (stopped) daemon holds, so the next run settles them."""
    held = db_query(
        db,
        "SELECT DISTINCT market_id FROM trades t WHERE side = 'buy' AND token_id NOT IN"
        " (SELECT token_id FROM settlements s WHERE s.strategy = t.strategy) ORDER BY market_id",
    )
    resolved = 0
    for (market_id,) in held:
        if resolved == count:
            return
        with contextlib.suppress(urllib.error.HTTPError):  # already resolved automatically
            sim.resolve(str(market_id), "no" if resolved % 2 else "yes")
            resolved += 1
    assert resolved == count, f"only {resolved} held markets to resolve"


def _by_strategy(db: Path, sql: str) -> dict[str, int]:
    """strategy -> amount (micro-dollars) from a two-column query."""
    return {str(row[0]): int(row[1]) for row in db_query(db, sql)}


def _kill_at(point: KillPoint, daemon: DaemonProcess) -> None:
    """Wait for the point's log line, then SIGKILL delay_s later."""
    if point.fallback_s is None:
        wait_until(lambda: point.hit(daemon) or not daemon.alive(), KILL_WAIT_S, str(point), 0.01)
    else:
        deadline = time.monotonic() + point.fallback_s
        while daemon.alive() and not point.hit(daemon) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert daemon.alive(), daemon.stderr_path.read_text()
    time.sleep(point.delay_s)
    daemon.kill()


@pytest.mark.e2e
@pytest.mark.timeout(150)
def test_sigkill_restarts_never_duplicate(
    sim_factory: Callable[..., SimProcess],
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """20 SIGKILLs at chosen log lines: no duplicate trade, each strategy's cash and the mirrors
    match the ledger."""
    sim = sim_factory(seed=5, events=120, resolve_interval_s=4)
    setup = setup_factory(
        sim.url,
        schedule={"poll_interval_s": 1, "morning_every_s": 2, "evening_every_s": 1},
        strategy={"max_positions_per_market": 1, "max_open_positions": 60},
        mirrors={"debounce_s": 0.2},
        **{"strategies.c60": {"threshold": 0.6, "starting_balance_usd": 5000}},
    )
    runs = []
    for point in KILL_POINTS:
        if point.resolve_held:
            _resolve_held(sim, setup.db_path, point.resolve_held)
        daemon = daemon_factory(setup)
        runs.append(daemon)
        _kill_at(point, daemon)

    final = daemon_factory(setup)
    runs.append(final)
    final.wait_for("job_finished", 30, job="poll", outcome="ok")
    code, _ = final.terminate_and_wait()
    assert code == 0, final.stderr_path.read_text()
    crashes = [
        line
        for run in runs
        for line in run.logs()
        if line["event"] in ("job_crashed", "loop_crashed", "store_refused")
    ]
    assert not crashes, crashes[0]

    db = setup.db_path
    assert integrity_check(db) == "ok"
    assert temp_files(setup.root) == []
    assert not db_query(
        db, "SELECT idempotency_key, COUNT(*) FROM trades GROUP BY 1 HAVING COUNT(*) > 1"
    )
    assert not db_query(
        db, "SELECT idempotency_key, COUNT(*) FROM settlements GROUP BY 1 HAVING COUNT(*) > 1"
    )
    assert not db_query(
        db,
        "SELECT strategy, market_id, COUNT(*) FROM trades WHERE side = 'buy' GROUP BY 1, 2"
        " HAVING COUNT(*) > 1",
    ), "a strategy bought a market twice with max_positions_per_market = 1"
    assert not db_query(
        db,
        "SELECT strategy, token_id, COUNT(*) FROM settlements GROUP BY 1, 2 HAVING COUNT(*) > 1",
    ), "a position was settled twice"
    trades = db_query(
        db, "SELECT id, seq, idempotency_key, shares, side, strategy FROM trades ORDER BY seq"
    )
    settlements = db_query(
        db,
        "SELECT id, seq, idempotency_key, shares, token_id, strategy FROM settlements ORDER BY seq",
    )
    assert {t["strategy"] for t in trades} == {"default", "c60"}, "a strategy never traded"
    assert settlements, "no settlement in 20 runs: raise resolve frequency or run time"
    bought = {
        (r[0], r[1]) for r in db_query(db, "SELECT strategy, token_id FROM trades WHERE side='buy'")
    }
    assert {(s["strategy"], s["token_id"]) for s in settlements} <= bought

    # cash, per strategy: the deposit plus its trades and settlements, the database's running
    # balance, and the mirrors all say the same
    portfolio = read_json(setup.data_dir / "trades/portfolio.json")
    accounts = {a["strategy"]: a for a in portfolio["strategies"]}
    assert set(accounts) == {"default", "c60"} and portfolio["strategy"] == "default"
    flows = _by_strategy(db, "SELECT strategy, SUM(amount) FROM cash_flows GROUP BY 1")
    running = _by_strategy(db, "SELECT strategy, balance FROM cash_balances")
    deposits = _by_strategy(db, "SELECT strategy, amount FROM cash_flows WHERE kind = 'deposit'")
    assert flows == running and deposits == {"default": 10_000_000_000, "c60": 5_000_000_000}
    entries = read_json(setup.data_dir / "trades/paper_trades.json")
    for name, account in accounts.items():
        cash = Decimal(str(account["cash_usd"]))
        assert cash >= 0 and abs(cash - _usd(flows[name])) <= EPS
        assert abs(Decimal(str(account["starting_balance_usd"])) - _usd(deposits[name])) <= EPS
        own = [e for e in entries if e["strategy"] == name]
        deltas = sum((Decimal(str(e["cash_delta_usd"])) for e in own), Decimal(0))
        assert abs(_usd(deposits[name]) + deltas - cash) <= EPS * len(own) + EPS
    cash = Decimal(str(portfolio["cash_usd"]))
    assert cash == Decimal(str(accounts["default"]["cash_usd"]))

    # paper_trades.json is exactly the ledger, in seq order
    ledger = sorted(
        [
            ("trade", r["id"], r["seq"], r["idempotency_key"], r["shares"], r["strategy"])
            for r in trades
        ]
        + [
            ("settlement", r["id"], r["seq"], r["idempotency_key"], r["shares"], r["strategy"])
            for r in settlements
        ],
        key=lambda row: row[2],
    )
    mirrored = [
        (
            e["kind"],
            e["trade_id"] if e["kind"] == "trade" else e["settlement_id"],
            e["seq"],
            e["idempotency_key"],
            int(Decimal(str(e["shares"])) * MICRO),
            e["strategy"],
        )
        for e in entries
    ]
    assert mirrored == ledger

    # each account in portfolio.json: equity = cash + positions, positions = bought, not settled
    settled = {(s["strategy"], s["token_id"]) for s in settlements}
    for name, account in accounts.items():
        values = [Decimal(str(p["value_usd"])) for p in account["positions"]]
        positions_value = Decimal(str(account["positions_value_usd"]))
        assert abs(positions_value - sum(values, Decimal(0))) <= EPS * (len(values) + 1)
        cash = Decimal(str(account["cash_usd"]))
        assert abs(Decimal(str(account["equity_usd"])) - (cash + positions_value)) <= EPS
        open_tokens = {t for s, t in bought - settled if s == name}
        assert {p["token_id"] for p in account["positions"]} == open_tokens
        assert account["trade_count"] == sum(1 for t in trades if t["strategy"] == name)
    assert portfolio["positions"] == accounts["default"]["positions"]

    # current_signals.json is the latest evaluation
    signals = read_json(setup.data_dir / "trades/current_signals.json")
    ((latest,),) = db_query(db, "SELECT MAX(id) FROM evaluations")
    assert signals["evaluation_id"] == latest

    # every mirror the last jobs wrote is what `export` rebuilds from the database now
    # (dated files are evening snapshots by design)
    mirrors = mirror_contents(setup.data_dir)
    result = setup.cli("export")
    assert result.returncode == 0, result.stderr
    rebuilt = mirror_contents(setup.data_dir)
    assert rebuilt.keys() == mirrors.keys()
    compared = [
        name
        for name in mirrors
        if not re.search(r"_\d{4}-\d\d(-\d\d)?\.json$", name)
        and name.removeprefix("exports/") not in REPORT_CSVS
    ]
    assert len(compared) == len(FIXED_JSON) + len(EXPORT_CSVS)
    assert {f"exports/{name}" for name in REPORT_CSVS} <= mirrors.keys()
    for name in compared:
        assert rebuilt[name] == mirrors[name], f"{name} is not what the database says"
