"""The SQLite store against a real file: schema, append-only ledger, idempotency, prices."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import T0, make_book, make_intent, make_market
from prescientd.config import PricesConfig
from prescientd.core.prices import quote_from_book
from prescientd.models import (
    JOB_CANCELLED_ERROR,
    Action,
    Event,
    JobOutcome,
    MarketResolution,
    PortfolioSnapshot,
    PriceSource,
    SettlementIntent,
    Signal,
    SignalStatus,
    SkipReason,
)
from prescientd.store.db import LEDGER_TABLES, SCHEMA_VERSION, Store, StoreError, connect_sync
from store_checks import cash_balance, integrity_check, ledger_digest, schema_version


async def test_new_database_has_schema_version_and_wal(store: Store) -> None:
    """A new database is migrated to the latest version, in WAL mode, with the deposit made."""
    assert await schema_version(store) == SCHEMA_VERSION
    conn = connect_sync(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(LEDGER_TABLES) <= tables
        for table in LEDGER_TABLES:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
            assert sql.rstrip().endswith("STRICT"), table
    finally:
        conn.close()
    assert await cash_balance(store) == Decimal(10000)
    assert await integrity_check(store) == "ok"


async def test_reopening_does_not_deposit_twice(tmp_path: Path) -> None:
    """Opening an existing database keeps the single starting deposit."""
    path = tmp_path / "p.db"
    for _ in range(3):
        s = await Store.open(path, starting_balance_usd=Decimal(10000))
        await s.close()
    s = await Store.open(path, starting_balance_usd=Decimal(5000))
    try:
        assert await cash_balance(s) == Decimal(10000)
    finally:
        await s.close()


async def test_database_newer_than_code_is_refused(tmp_path: Path) -> None:
    """A database whose user_version is newer than the code refuses to open, naming both."""
    path = tmp_path / "p.db"
    s = await Store.open(path, starting_balance_usd=Decimal(1))
    await s.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version \d+, newer than this prescientd"):
        await Store.open(path)
    with pytest.raises(StoreError, match="newer"):
        await Store.open(path, readonly=True)


@pytest.mark.parametrize(
    ("history", "last_ok", "failed_minute"),
    [
        pytest.param([], None, None, id="never-ran"),
        pytest.param([("03-09", "ok")], "03-09", None, id="one-success"),
        pytest.param([("03-09", "failed")], None, 0, id="one-failure"),
        pytest.param([("03-09", "failed"), ("03-09", "ok")], "03-09", None, id="retried-ok"),
        pytest.param([("03-09", "ok"), ("03-10", "failed")], "03-09", 1, id="fails-after-ok"),
        pytest.param([("03-10", "ok"), ("03-09", "ok")], "03-10", None, id="clock-set-back"),
        pytest.param([("03-09", "failed"), ("03-09", "cancelled")], None, 0, id="cancel-ignored"),
        pytest.param([("03-09", "failed"), ("03-09", "failed")], None, 1, id="latest-failure"),
    ],
)
async def test_schedule_history(
    store: Store, history: list[tuple[str, str]], last_ok: str | None, failed_minute: int | None
) -> None:
    """The latest success date and the latest failure after it, per job; cancels are no failure."""
    for minute, (day, result) in enumerate(history):
        at = T0 + timedelta(minutes=minute)
        error = {"ok": None, "failed": "boom", "cancelled": JOB_CANCELLED_ERROR}[result]
        outcome = JobOutcome(f"m{minute}", "morning", f"2026-{day}", at, at, error is None, 1, {})
        await store.record_job_run(replace(outcome, error=error))
        # another job's history never leaks into this one's
        await store.record_job_run(replace(outcome, run_id=f"e{minute}", job="evening", ok=True))
    dates, failures = await store.schedule_history(["morning"])
    assert dates.get("morning") == (
        None if last_ok is None else date.fromisoformat(f"2026-{last_ok}")
    )
    expected = None if failed_minute is None else T0 + timedelta(minutes=failed_minute)
    assert failures.get("morning") == expected
    assert set(dates) | set(failures) <= {"morning"}


async def _populate_every_ledger_table(store: Store) -> None:
    """Write at least one row into each ledger table through the store's own API."""
    await store.record_job_run(JobOutcome("r1", "poll", "2026-10-06", T0, T0, True, 1, {"x": 1}))
    await store.record_config_version(
        sha256="s", source="start", changed_keys=[], strategy_json="{}"
    )
    market = make_market("1")
    event = Event(
        "10", "e", "E", (), True, False, None, Decimal(1), Decimal(1), Decimal(1), False, (market,)
    )
    await store.save_refresh(
        run_id="r1",
        fetched_at=T0,
        pages=1,
        events_received=1,
        eligible_events=[event],
        items_skipped=0,
        rejections={},
        raw_events_json=None,
    )
    book = make_book("t1", [("0.40", "100")], [("0.42", "100")])
    await store.record_poll(
        run_id="r1",
        fetched_at=T0,
        local_date=T0.date().isoformat(),
        quotes={"t1": quote_from_book(book, T0, PricesConfig())},
        missing=[],
        rejected=[],
        requests=1,
        tokens_requested=1,
    )
    signal = Signal(
        "1",
        "10",
        "Q?",
        Action.BUY_NO,
        "t1",
        "No",
        PriceSource.DISPLAY,
        Decimal("0.6"),
        Decimal("0.5"),
        Decimal("0.1"),
        Decimal(100),
        SignalStatus.ACTIONABLE,
        "YES display price 0.6 > 0.5",
        None,
        "k1",
    )
    await store.record_evaluation(
        run_id="r1",
        evaluated_at=T0,
        local_date="2026-10-06",
        config_version=1,
        markets_considered=1,
        signals=[signal],
        intents=[make_intent("k1")],
    )
    await store.record_settlements(
        [
            SettlementIntent(
                "s1",
                "1",
                "t1",
                "No",
                Decimal(100),
                Decimal(1),
                Decimal(100),
                Decimal(40),
                Decimal(60),
                "No won",
            )
        ],
        T0,
    )
    await store.append_portfolio_snapshot(
        PortfolioSnapshot(
            "2026-10-06",
            T0,
            Decimal(1),
            Decimal(0),
            Decimal(1),
            Decimal(0),
            Decimal(0),
            Decimal(0),
            0,
            0,
            0,
            0,
        )
    )
    await store.record_resolutions(
        [MarketResolution("1", "0xc", T0, {"t1": Decimal(0), "t2": Decimal(1)}, "no", "settlement")]
    )


async def test_ledger_tables_reject_update_delete_replace_upsert(store: Store) -> None:
    """UPDATE, DELETE, INSERT OR REPLACE and UPSERT fail on every ledger table; rows unchanged."""
    await _populate_every_ledger_table(store)
    before = await ledger_digest(store)
    conn = connect_sync(store.path)
    try:
        for table in LEDGER_TABLES:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            row = conn.execute(f"SELECT * FROM {table} LIMIT 1").fetchone()
            assert row is not None, f"{table} has no row to attack"
            marks = ",".join("?" * len(cols))
            attacks: list[tuple[str, tuple[object, ...]]] = [
                (f"DELETE FROM {table}", ()),
                (f"UPDATE {table} SET {cols[1]} = {cols[1]}", ()),
                (f"INSERT OR REPLACE INTO {table} VALUES ({marks})", tuple(row)),
                (
                    f"INSERT INTO {table} VALUES ({marks})"
                    + f" ON CONFLICT DO UPDATE SET {cols[1]} = excluded.{cols[1]}",
                    tuple(row),
                ),
            ]
            for sql, params in attacks:
                with pytest.raises(sqlite3.IntegrityError):
                    conn.execute(sql, params)
    finally:
        conn.close()
    assert await ledger_digest(store) == before


async def test_trade_replay_with_same_key_adds_nothing(store: Store) -> None:
    """Re-recording a trade with the same idempotency key (a crash replay) is a no-op."""
    first = await store.record_evaluation(
        run_id="a",
        evaluated_at=T0,
        local_date="2026-10-06",
        config_version=1,
        markets_considered=1,
        signals=[],
        intents=[make_intent("key-1", shares="100", price="0.40", fee="0.96")],
    )
    assert len(first.trades) == 1 and first.duplicates == 0
    again = await store.record_evaluation(
        run_id="b",
        evaluated_at=T0 + timedelta(minutes=5),
        local_date="2026-10-06",
        config_version=1,
        markets_considered=1,
        signals=[],
        intents=[make_intent("key-1", shares="100", price="0.40", fee="0.96")],
    )
    assert again.trades == () and again.duplicates == 1
    trades, _ = await store.ledger()
    assert len(trades) == 1
    assert await cash_balance(store) == Decimal(10000) - Decimal("40.96")


async def test_cash_can_never_go_negative(store: Store) -> None:
    """A trade costing more than the cash is refused by the database and rolls back entirely."""
    with pytest.raises(sqlite3.IntegrityError, match="cash would go negative"):
        await store.record_evaluation(
            run_id="a",
            evaluated_at=T0,
            local_date="2026-10-06",
            config_version=1,
            markets_considered=0,
            signals=[],
            intents=[make_intent("big", shares="30000", price="0.50")],
        )
    trades, _ = await store.ledger()
    assert trades == []
    assert await store.latest_evaluation() is None  # the evaluation rolled back too
    assert await cash_balance(store) == Decimal(10000)


async def test_settlement_pays_once(store: Store) -> None:
    """A settlement credits its payout once; replaying it adds nothing."""
    await store.record_trades([make_intent("buy", shares="100", price="0.40")], T0)
    intent = SettlementIntent(
        idempotency_key="settle-1",
        market_id="1",
        token_id="t1",
        outcome="No",
        shares=Decimal(100),
        payout_per_share=Decimal(1),
        payout_usd=Decimal(100),
        cost_basis_usd=Decimal(40),
        realized_pnl_usd=Decimal(60),
        resolution="No won",
    )
    first = await store.record_settlements([intent], T0)
    second = await store.record_settlements([intent], T0)
    assert len(first) == 1 and second == ()
    assert await cash_balance(store) == Decimal(10060)
    trades, settlements = await store.ledger()
    assert [t.seq for t in trades] == [1] and [s.seq for s in settlements] == [2]


async def test_cancelled_caller_cannot_cut_a_transaction(store: Store) -> None:
    """Cancelling the task awaiting a write still lets that write commit as a whole."""
    task = asyncio.create_task(
        store.record_trades([make_intent(f"k{i}", token_id=f"t{i}") for i in range(50)], T0)
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for the shielded transaction
    reopened = await Store.open(store.path)
    try:
        trades, _ = await reopened.ledger()
        assert len(trades) in (0, 50)  # all or nothing, never part
        assert await integrity_check(reopened) == "ok"
    finally:
        await reopened.close()
    store.db._pending.clear()  # already closed


async def test_refresh_replaces_the_eligible_set(store: Store) -> None:
    """Each refresh's eligible markets replace the previous set; old markets stay known."""

    def event(eid: str, *markets: str) -> Event:
        ms = tuple(make_market(m, eid) for m in markets)
        return Event(
            eid,
            f"e{eid}",
            f"Event {eid}",
            ("politics",),
            True,
            False,
            None,
            Decimal(1),
            Decimal(1),
            Decimal(1),
            False,
            ms,
        )

    await store.save_refresh(
        run_id="a",
        fetched_at=T0,
        pages=1,
        events_received=2,
        eligible_events=[event("10", "1", "2"), event("11", "3")],
        items_skipped=0,
        rejections={},
        raw_events_json=b"[]",
    )
    assert sorted(m.market_id for m in await store.eligible_markets()) == ["1", "2", "3"]
    await store.save_refresh(
        run_id="b",
        fetched_at=T0,
        pages=1,
        events_received=2,
        eligible_events=[event("11", "3", "4")],
        items_skipped=1,
        rejections={"low_liquidity": 2},
        raw_events_json=b"[1]",
    )
    assert sorted(m.market_id for m in await store.eligible_markets()) == ["3", "4"]
    assert set(await store.markets_by_id(["1", "4"])) == {"1", "4"}
    assert await store.raw_events_payload() == b"[1]"
    refresh = await store.latest_refresh()
    assert refresh is not None and refresh.rejections == {"low_liquidity": 2}


async def test_poll_stores_snapshot_only_when_book_changes(store: Store) -> None:
    """A token's snapshot is appended only when its book hash changes; freshness always moves."""
    cfg = PricesConfig()
    book = make_book("t1", [("0.40", "100")], [("0.42", "100")], hash_="a" * 40)
    q1 = quote_from_book(book, T0, cfg)
    assert (
        await store.record_poll(
            run_id="p1",
            fetched_at=T0,
            local_date=T0.date().isoformat(),
            quotes={"t1": q1},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=1,
        )
        == 1
    )
    t1 = T0 + timedelta(minutes=5)
    q2 = quote_from_book(book, t1, cfg)
    assert (
        await store.record_poll(
            run_id="p2",
            fetched_at=t1,
            local_date=t1.date().isoformat(),
            quotes={"t1": q2},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=1,
        )
        == 0
    )
    latest = await store.latest_quotes(["t1"])
    assert latest["t1"].quote.fetched_at == t1 and latest["t1"].quote.best_bid == Decimal("0.40")
    moved = make_book("t1", [("0.45", "100")], [("0.47", "100")], hash_="b" * 40)
    t2 = T0 + timedelta(minutes=10)
    assert (
        await store.record_poll(
            run_id="p3",
            fetched_at=t2,
            local_date=t2.date().isoformat(),
            quotes={"t1": quote_from_book(moved, t2, cfg)},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=1,
        )
        == 1
    )
    t3 = T0 + timedelta(minutes=15)
    await store.record_poll(
        run_id="p4",
        fetched_at=t3,
        local_date=t3.date().isoformat(),
        quotes={},
        missing=["t1"],
        rejected=[],
        requests=1,
        tokens_requested=1,
    )
    latest = await store.latest_quotes(["t1"])
    assert latest["t1"].status == "missing" and latest["t1"].quote.fetched_at == t2
    bars = await store.daily_bars(T0.date().isoformat())
    assert len(bars) == 1
    bar = bars[0]
    expected = (Decimal("0.41"), Decimal("0.46"), Decimal("0.41"), Decimal("0.46"))
    assert (bar.display.open, bar.display.high, bar.display.low, bar.display.close) == expected
    assert (bar.mid.open, bar.mid.high, bar.mid.low, bar.mid.close) == expected
    assert (bar.last_bid, bar.last_ask, bar.snapshots) == (Decimal("0.45"), Decimal("0.47"), 2)
    assert await store.last_prices(["t1"]) == {"t1": Decimal("0.45")}


async def test_portfolio_snapshot_once_per_local_date(store: Store) -> None:
    """A second snapshot for the same local date is ignored, not replaced."""
    snap = PortfolioSnapshot(
        "2026-10-06",
        T0,
        Decimal(10000),
        Decimal(0),
        Decimal(10000),
        Decimal(0),
        Decimal(0),
        Decimal(0),
        0,
        0,
        0,
        0,
    )
    assert await store.append_portfolio_snapshot(snap) is True
    later = PortfolioSnapshot(
        "2026-10-06",
        T0,
        Decimal(1),
        Decimal(0),
        Decimal(1),
        Decimal(0),
        Decimal(0),
        Decimal(0),
        0,
        0,
        0,
        0,
    )
    assert await store.append_portfolio_snapshot(later) is False
    snaps = await store.portfolio_snapshots()
    assert len(snaps) == 1 and snaps[0].equity_usd == Decimal(10000)


async def test_config_version_reused_only_when_unchanged(store: Store) -> None:
    """Start-up with the same config keeps its version; a different one or a reload bumps it."""
    v1 = await store.record_config_version(
        sha256="a", source="start", changed_keys=[], strategy_json="{}"
    )
    assert (
        await store.record_config_version(
            sha256="a", source="start", changed_keys=[], strategy_json="{}"
        )
        == v1
    )
    v2 = await store.record_config_version(
        sha256="b", source="start", changed_keys=[], strategy_json="{}"
    )
    v3 = await store.record_config_version(
        sha256="b", source="reload", changed_keys=["x"], strategy_json="{}"
    )
    assert (v1, v2, v3) == (1, 2, 3)


async def test_readonly_store_reads_while_writer_is_open(store: Store) -> None:
    """A read-only store (prescientd status) reads a database the daemon holds open."""
    await store.record_trades([make_intent("k")], T0)
    reader = await Store.open(store.path, readonly=True)
    try:
        trades, _ = await reader.ledger()
        assert len(trades) == 1
        with pytest.raises(StoreError, match="read-only"):
            await reader.record_trades([make_intent("k2")], T0)
    finally:
        await reader.close()


def _signal(market_id: str, price: str, status: SignalStatus = SignalStatus.ACTIONABLE) -> Signal:
    skip = None if status is SignalStatus.ACTIONABLE else SkipReason.SPREAD
    return Signal(
        market_id,
        "10",
        "Q?",
        Action.BUY_NO,
        f"t{market_id}",
        "No",
        PriceSource.DISPLAY,
        Decimal(price),
        Decimal("0.5"),
        Decimal(price) - Decimal("0.5"),
        Decimal(100),
        status,
        f"YES {price}",
        skip,
        f"key-{market_id}",
    )


async def test_repeated_signal_verdicts_are_counted_not_appended(store: Store) -> None:
    """The same verdict for a market on the same day is one row with a sighting count."""
    for minute, price in enumerate(["0.60", "0.70", "0.65"]):
        await store.record_evaluation(
            run_id=f"r{minute}",
            evaluated_at=T0 + timedelta(minutes=minute),
            local_date="2026-10-06",
            config_version=1,
            markets_considered=2,
            signals=[_signal("1", price), _signal("2", "0.9", SignalStatus.SKIPPED)],
            intents=[],
        )
    latest = await store.latest_evaluation()
    assert latest is not None
    evaluation, rows = latest
    assert evaluation.signals == 2
    assert [(r.signal.market_id, r.signal.yes_price) for r in rows] == [
        ("1", Decimal("0.65")),
        ("2", Decimal("0.9")),
    ]
    archive = await store.signal_archive("2026-10-01", "2026-10-31")
    assert len(archive) == 2
    first = archive[0]
    assert first.evaluations == 3 and first.first_yes_price == Decimal("0.60")
    assert (first.min_yes_price, first.max_yes_price) == (Decimal("0.60"), Decimal("0.70"))
    # a new day, a new verdict or a new config version makes a new row
    await store.record_evaluation(
        run_id="n",
        evaluated_at=T0 + timedelta(days=1),
        local_date="2026-10-07",
        config_version=2,
        markets_considered=1,
        signals=[_signal("1", "0.6")],
        intents=[],
    )
    assert len(await store.signal_archive("2026-10-01", "2026-10-31")) == 3
    latest = await store.latest_evaluation()
    assert latest is not None and [r.signal.market_id for r in latest[1]] == ["1"]


async def test_depth_only_change_updates_the_quote_without_a_snapshot(store: Store) -> None:
    """A book whose prices did not move adds no snapshot, but the current quote's depth updates."""
    cfg = PricesConfig()
    first = make_book("t1", [("0.40", "100")], [("0.42", "100")], hash_="a" * 40)
    deeper = make_book("t1", [("0.40", "900")], [("0.42", "100")], hash_="b" * 40)
    assert (
        await store.record_poll(
            run_id="1",
            fetched_at=T0,
            local_date=T0.date().isoformat(),
            quotes={"t1": quote_from_book(first, T0, cfg)},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=1,
        )
        == 1
    )
    t1 = T0 + timedelta(minutes=1)
    assert (
        await store.record_poll(
            run_id="2",
            fetched_at=t1,
            local_date=t1.date().isoformat(),
            quotes={"t1": quote_from_book(deeper, t1, cfg)},
            missing=[],
            rejected=[],
            requests=1,
            tokens_requested=1,
        )
        == 0
    )
    quote = (await store.latest_quotes(["t1"]))["t1"].quote
    assert quote.bid_depth_shares == Decimal(900) and quote.book_hash == "b" * 40


async def test_cancelled_consistent_read_leaves_no_open_transaction(store: Store) -> None:
    """Cancelling a multi-query read mid-way cannot leave the shared reader inside a transaction."""
    await store.record_trades([make_intent("k1")], T0)
    for _ in range(5):
        task = asyncio.create_task(store.ledger())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.05)
    trades, _ = await store.ledger()
    assert len(trades) == 1
    await store.record_trades([make_intent("k2", token_id="t2")], T0)
    trades, _ = await store.ledger()  # a stuck read snapshot would still show one trade
    assert len(trades) == 2
