"""`prescientd run` with variants: SIGHUP adds one that trades the next poll, and retires it."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess, db_query, read_json, wait_until

CHEAP = "strategies.cheap"
# buys YES below 0.40: never a market the default strategy (NO above 0.50) holds
CHEAP_KEYS = {
    "threshold": 0.40,
    "comparison": "below",
    "action": "buy_yes",
    "max_open_positions": 2,
    "starting_balance_usd": 1000,
}


def _after(daemon: DaemonProcess, event: str, first: dict[str, Any]) -> list[dict[str, Any]]:
    """The log lines of one event written after the line `first`."""
    lines = daemon.logs()
    start = lines.index(first)
    return [line for line in lines[start:] if line.get("event") == event]


def _poll_after(daemon: DaemonProcess, line: dict[str, Any]) -> dict[str, Any]:
    """The first poll that finished after a log line (waiting for it)."""

    def found() -> dict[str, Any] | None:
        polls = [p for p in _after(daemon, "job_finished", line) if p.get("job") == "poll"]
        return polls[0] if polls else None

    return wait_until(found, 30, f"a poll after {line['event']}")


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_sighup_adds_a_variant_then_retires_it_and_it_is_still_settled(
    sim_factory: Callable[..., SimProcess],
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """A variant added by SIGHUP trades from the next poll; retired, it trades no more, and its
    position in a market that resolves is settled into its own account."""
    sim = sim_factory(seed=11, events=100)
    setup = setup_factory(sim.url, schedule={"poll_interval_s": 1})
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, job="poll", outcome="ok")

    setup.write(**{CHEAP: CHEAP_KEYS})
    daemon.send(signal.SIGHUP)
    reloaded = daemon.wait_for("config_reloaded", 15)
    assert reloaded["changed"] == {CHEAP: ["None", "added"]}
    added = daemon.wait_for("strategy_added", 5, strategy="cheap")
    poll = _poll_after(daemon, added)
    assert poll["outcome"] == "ok" and poll["config_version"] == reloaded["config_version"]
    assert poll["strategies"]["cheap"]["trades"] == 2
    assert daemon.events("strategy_account_opened", strategy="cheap")
    db = setup.db_path
    (deposit,) = db_query(
        db, "SELECT amount FROM cash_flows WHERE kind = 'deposit' AND strategy = 'cheap'"
    )
    assert deposit[0] == 1000 * 1_000_000
    held = [r[0] for r in db_query(db, "SELECT market_id FROM trades WHERE strategy = 'cheap'")]
    assert len(held) == 2

    del setup.overrides[CHEAP]
    setup.write()
    daemon.send(signal.SIGHUP)
    retired = daemon.wait_for("strategy_retired", 15, strategy="cheap")
    sim.resolve(held[0], "yes")  # YES pays 1 a share
    settled = daemon.wait_for("position_settled", 30, strategy="cheap")
    assert settled["market_id"] == held[0] and float(settled["payout_usd"]) > 0
    later = _poll_after(daemon, settled)
    assert "strategies" not in later  # only the default strategy is evaluated now
    assert not [t for t in _after(daemon, "paper_trade", retired) if t["strategy"] == "cheap"]

    def mirrored() -> dict[str, Any] | None:
        portfolio: dict[str, Any] = read_json(setup.data_dir / "trades/portfolio.json")
        accounts = {a["strategy"]: a for a in portfolio["strategies"]}
        cheap = [p["market_id"] for p in accounts["cheap"]["positions"]]
        return portfolio if cheap == held[1:] else None

    portfolio = wait_until(mirrored, 15, "portfolio.json without the settled position")
    accounts = {a["strategy"]: a for a in portfolio["strategies"]}
    assert accounts["cheap"]["status"] == "retired" and accounts["default"]["status"] == "active"
    assert portfolio["strategy"] == "default"
    code, _ = daemon.terminate_and_wait()
    assert code == 0, daemon.stderr_path.read_text()
    flows = {
        r[0]: r[1] for r in db_query(db, "SELECT strategy, SUM(amount) FROM cash_flows GROUP BY 1")
    }
    balances = {r[0]: r[1] for r in db_query(db, "SELECT strategy, balance FROM cash_balances")}
    assert flows == balances and set(flows) == {"default", "cheap"}
