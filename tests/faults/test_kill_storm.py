"""SIGKILL storm while readers keep opening the mirrors: no partial file, no shrinking append-only
file, no duplicate trade, cash exact three ways."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from e2e.conftest import (
    DaemonProcess,
    Setup,
    SimProcess,
    db_query,
    integrity_check,
    read_json,
    temp_files,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

KILLS = 7
SEED = 20261203
MICRO = Decimal(1_000_000)
READ = ("trades/paper_trades.json", "trades/portfolio.json", "markets/market_cache.json")


@dataclass
class Readers:
    """Threads that parse the mirrors in a loop, as a spreadsheet or a script would."""

    data_dir: Path
    reads: int = 0
    partial: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Read until stopped; a file that does not parse is a partial read."""
        longest = 0
        while not self.stop.is_set():
            for name in READ:
                try:
                    data = (self.data_dir / name).read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    parsed = json.loads(data)
                except ValueError:
                    self.partial.append(f"{name}: {len(data)} bytes")
                    continue
                self.reads += 1
                if name == READ[0]:
                    if len(parsed) < longest:
                        self.shrunk.append(f"{longest} -> {len(parsed)} entries")
                    longest = max(longest, len(parsed))


@pytest.mark.timeout(90)
def test_kill_storm_with_concurrent_readers(
    sim_factory: Callable[..., SimProcess],
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """7 SIGKILLs at random moments with two readers: every read whole, the ledger exact."""
    sim = sim_factory(seed=5, events=80, resolve_interval_s=3)
    setup = setup_factory(
        sim.url,
        schedule={"poll_interval_s": 1, "morning_every_s": 5, "evening_every_s": 2},
        strategy={"max_positions_per_market": 1},
        mirrors={"debounce_s": 0.1},
    )
    readers = Readers(setup.data_dir)
    threads = [threading.Thread(target=readers.run, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    rng = random.Random(SEED)
    runs = []
    try:
        for _ in range(KILLS):
            daemon = daemon_factory(setup)
            runs.append(daemon)
            time.sleep(rng.uniform(0.6, 2.2))
            assert daemon.alive(), daemon.stderr_path.read_text()
            daemon.kill()
        final = daemon_factory(setup)
        runs.append(final)
        final.wait_for("job_finished", 30, job="poll", outcome="ok")
        code, _ = final.terminate_and_wait()
        assert code == 0, final.stderr_path.read_text()
    finally:
        readers.stop.set()
        for thread in threads:
            thread.join(5)

    assert readers.reads > 100 and readers.partial == [], readers.partial[:3]
    assert readers.shrunk == [], readers.shrunk[:3]
    bad = [
        line
        for run in runs
        for line in run.logs()
        if line["event"] in ("job_crashed", "loop_crashed", "store_refused")
    ]
    assert not bad, bad[0]
    _check_ledger(setup)


def _check_ledger(setup: Setup) -> None:
    db = setup.db_path
    assert integrity_check(db) == "ok"
    assert temp_files(setup.root) == []
    for table in ("trades", "settlements"):
        assert not db_query(
            db, f"SELECT idempotency_key FROM {table} GROUP BY 1 HAVING COUNT(*) > 1"
        ), f"duplicate {table}"
    trades = db_query(db, "SELECT seq, idempotency_key FROM trades")
    settlements = db_query(db, "SELECT seq, idempotency_key FROM settlements")
    assert trades, "no trade during the storm: the test exercised nothing"
    ((flows,),) = db_query(db, "SELECT SUM(amount) FROM cash_flows")
    ((deposit,),) = db_query(db, "SELECT SUM(amount) FROM cash_flows WHERE kind = 'deposit'")
    ((deposits,),) = db_query(db, "SELECT COUNT(*) FROM cash_flows WHERE kind = 'deposit'")
    assert deposits == 1, "a second deposit: a new ledger was started"
    entries = read_json(setup.data_dir / "trades/paper_trades.json")
    portfolio = read_json(setup.data_dir / "trades/portfolio.json")
    cash_db = Decimal(flows) / MICRO
    cash_mirror = Decimal(str(portfolio["cash_usd"]))
    deltas = sum((Decimal(str(e["cash_delta_usd"])) for e in entries), Decimal(0))
    cash_replayed = Decimal(deposit) / MICRO + deltas
    assert cash_db == cash_mirror == cash_replayed, (cash_db, cash_mirror, cash_replayed)
    ledger = sorted([(r[0], r[1]) for r in [*trades, *settlements]])
    assert [(e["seq"], e["idempotency_key"]) for e in entries] == ledger
