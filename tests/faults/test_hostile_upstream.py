"""`prescientd run` behind a hostile proxy: another market's resolved record, records nested
5,000 levels deep and a books reply of 200,000 junk items. Nothing is settled from a foreign
record, no poll fails, the log stays small, and the true resolution still settles."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess, db_query, wait_until
from faults.conftest import HostileProxy, RawJson

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DEPTH = 5000


def deep(value: Any) -> str:
    """value (an object) as JSON text with one more field nested DEPTH levels deep."""
    return json.dumps(value)[:-1] + ', "deep": ' + "[" * DEPTH + "]" * DEPTH + "}"


def in_keyset_reply(market_id: str, rewrite: Callable[[dict[str, Any]], str]) -> Any:
    """A rule for `/markets/keyset` replies (the batched settlement look-up): the record of
    market_id replaced by the JSON text rewrite returns, the others kept."""

    def rule(payload: Any) -> RawJson:
        records = payload.get("markets", [])
        texts = [rewrite(r) if str(r.get("id")) == market_id else json.dumps(r) for r in records]
        rest = {k: v for k, v in payload.items() if k != "markets"}
        return RawJson(json.dumps(rest)[:-1] + ', "markets": [' + ", ".join(texts) + "]}")

    return rule


def fetch(url: str) -> Any:
    """GET a JSON document from the simulator."""
    with urllib.request.urlopen(url, timeout=10) as response:  # 127.0.0.1 only
        return json.loads(response.read())


@pytest.mark.timeout(90)
def test_hostile_replies_never_settle_wrongly_nor_fail_polls(
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
    hostile_proxy: Callable[[str], HostileProxy],
) -> None:
    """Mismatched ids, deep nesting and a flood: polls stay ok, only the truth settles."""
    proxy = hostile_proxy(sim.url)
    # every held market checked every poll: each rule below must meet a check
    setup = setup_factory(proxy.url, schedule={"poll_interval_s": 1, "settlement_sweep_s": 0})
    daemon = daemon_factory(setup)
    daemon.wait_for("paper_trade", 30)
    db = setup.db_path

    def polls_ok(more: int) -> list[dict[str, Any]]:
        done = len(daemon.events("job_finished", job="poll"))
        daemon.wait_for("job_finished", 20, count=done + more, job="poll")
        return daemon.events("job_finished", job="poll")[done:]

    held = str(db_query(db, "SELECT market_id FROM trades ORDER BY seq LIMIT 1")[0][0])
    bought = {str(r[0]) for r in db_query(db, "SELECT market_id FROM trades")}
    other = next(
        m["id"]
        for m in sim.markets()
        if m["id"] not in bought and m["tradable"] and len(m["token_ids"]) == 2
    )
    sim.resolve(other, "yes")
    foreign = fetch(f"{sim.url}/markets/{other}")

    # 1. the batched look-up of the held market answered with another market's resolved record
    proxy.rules["/markets/keyset"] = in_keyset_reply(held, lambda _: json.dumps(foreign))
    refused = polls_ok(2)
    assert all(p["outcome"] == "ok" for p in refused)
    # a degraded poll (warning): the one check it could not make is counted and named (the
    # first poll counted may have begun before the rule)
    assert refused[-1]["degraded"] == ["settlement_checks_failed"], refused
    assert refused[-1]["level"] == "warning"
    summaries = daemon.events("settlement_checks_failed", level="warning")
    assert summaries and summaries[-1]["first_market_id"] == held
    assert "record_mismatch" in summaries[-1]["first_error"]
    assert not db_query(db, "SELECT 1 FROM settlements WHERE market_id = ?", (held,))

    # 2. the held market's record and one book nested 5,000 levels deep
    proxy.rules["/markets/keyset"] = in_keyset_reply(held, deep)
    proxy.rules["/books"] = lambda books: RawJson(
        "[" + ", ".join([deep(books[0]), *map(json.dumps, books[1:])]) + "]"
    )
    assert all(p["outcome"] == "ok" for p in polls_ok(2))

    # 3. a books reply padded with 200,000 empty objects
    proxy.rules.pop("/markets/keyset")
    proxy.rules["/books"] = lambda books: books + [{}] * 200_000
    flooded = polls_ok(2)
    assert all(p["outcome"] == "ok" and p["books"] > 0 for p in flooded), flooded
    for poll in flooded:
        lines = [e for e in daemon.logs() if e.get("run_id") == poll["run_id"]]
        assert len(lines) <= 40, len(lines)

    # the true resolution still settles the position
    proxy.rules.clear()
    sim.resolve(held, "no")
    wait_until(
        lambda: db_query(db, "SELECT 1 FROM settlements WHERE market_id = ?", (held,)),
        20,
        "the held market to settle from its own record",
    )
    crashed = [e for e in daemon.logs() if e["event"] in ("job_crashed", "loop_crashed")]
    assert not crashed and "RecursionError" not in daemon.stdout_path.read_text()
    code, _ = daemon.terminate_and_wait()
    assert code == 0, daemon.stderr_path.read_text()
