"""Migration 0003 in place: a database made before several strategies keeps every row and key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import T0, make_intent
from prescientd.core import ledger
from prescientd.core.ledger import settlement_key
from prescientd.core.strategy import entry_key
from prescientd.portfolio import PortfolioService
from prescientd.store.codec import from_micro
from prescientd.store.connection import LEDGER_TABLES
from prescientd.store.db import SCHEMA_VERSION, Store, StoreError
from store_checks import integrity_check, schema_version

FIXTURE = Path(__file__).parents[1] / "fixtures" / "db" / "ledger_v2.sql"
# the tables whose rows carry a strategy from migration 3 on
WITH_STRATEGY = (
    "trades",
    "settlements",
    "cash_flows",
    "evaluations",
    "signals",
    "signal_sightings",
    "portfolio_snapshots",
)


# rebuilt by migration 4 (token keys, staged payload chunks); their content is checked there
RESTRUCTURED = ("quote_status", "raw_payloads")


def _v2_database(path: Path) -> None:
    """The recorded v2 database (made by the code of that version) at path."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """A table's rows in rowid order (key order for WITHOUT ROWID tables)."""
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    except sqlite3.OperationalError:  # no rowid: the primary key orders it
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]


def _dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in rowid order, as dicts."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: _rows(conn, t) for t in tables}
    finally:
        conn.close()


@pytest.fixture
def v2_path(tmp_path: Path) -> Path:
    """A v2 database file, not yet opened by this version."""
    path = tmp_path / "prescient.db"
    _v2_database(path)
    return path


@pytest.fixture
def v2_rows(v2_path: Path) -> dict[str, list[dict[str, Any]]]:
    """The v2 database's rows before the migration."""
    rows = _dump(v2_path)
    assert rows["trades"] and rows["settlements"] and rows["signals"]
    assert rows["portfolio_snapshots"] and rows["signal_sightings"] and rows["evaluations"]
    return rows


def test_the_fixture_is_a_v2_database(v2_path: Path) -> None:
    """The recorded file is at schema 2 (what the code before strategies made)."""
    conn = sqlite3.connect(v2_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(trades)")}
        assert "strategy" not in columns
    finally:
        conn.close()


async def test_every_row_is_kept_and_becomes_the_default_strategy(
    v2_path: Path, v2_rows: dict[str, list[dict[str, Any]]]
) -> None:
    """After opening: every old row and column unchanged, ids included, `strategy` = 'default'."""
    store = await Store.open(v2_path)
    try:
        assert await schema_version(store) == SCHEMA_VERSION == 6
        assert await integrity_check(store) == "ok"
        assert not await store.db.read("PRAGMA foreign_key_check")
    finally:
        await store.close()
    after = _dump(v2_path)
    for table, before_rows in v2_rows.items():
        if table in RESTRUCTURED:
            continue  # migration 4 (price history): checked in test_price_history.py
        rows = after[table]
        assert len(rows) == len(before_rows), table
        for old, new in zip(before_rows, rows, strict=True):
            assert {k: new[k] for k in old} == old, table
            if table in WITH_STRATEGY:
                assert new["strategy"] == "default", table
            else:
                assert set(new) - set(old) <= {"decision_inputs"}, table
    deposits = sum(r["amount"] for r in v2_rows["cash_flows"])
    assert after["cash_balances"] == [{"strategy": "default", "balance": deposits}]


async def test_keys_stay_the_default_formula_so_a_rerun_never_trades_twice(
    v2_path: Path, v2_rows: dict[str, list[dict[str, Any]]]
) -> None:
    """Every v2 key is the default strategy's formula now; re-running a decision is a no-op."""
    entries: dict[str, int] = {}
    for trade in v2_rows["trades"]:  # seq order = id order in this file
        n = entries.get(trade["market_id"], 0)
        expected = entry_key("buy_no", trade["market_id"], trade["token_id"], n)
        assert trade["idempotency_key"] == expected
        entries[trade["market_id"]] = n + 1
    for s in v2_rows["settlements"]:
        assert s["idempotency_key"] == settlement_key(
            s["market_id"], s["token_id"], entries[s["market_id"]]
        )
    store = await Store.open(v2_path)
    try:
        first = v2_rows["trades"][0]
        intent = make_intent(
            first["idempotency_key"], market_id=first["market_id"], token_id=first["token_id"]
        )
        trades, duplicates = await store.record_trades([intent], T0)
        assert (trades, duplicates) == ((), 1)
        # the portfolio is the full replay of the old rows, in the default strategy's account
        portfolio = await PortfolioService.of(store).read()
        all_trades, settlements = await store.ledger()
        deposit = from_micro(v2_rows["cash_flows"][0]["amount"])
        assert portfolio == ledger.replay(deposit, all_trades, settlements)
        assert portfolio.cash_usd == from_micro(sum(r["amount"] for r in v2_rows["cash_flows"]))
        assert await PortfolioService.of(store).strategies() == ("default",)
    finally:
        await store.close()


@pytest.mark.parametrize("table", [*LEDGER_TABLES])
async def test_append_only_triggers_survive_the_migration(v2_path: Path, table: str) -> None:
    """Every ledger table, the two rebuilt ones included, still refuses UPDATE and DELETE."""
    store = await Store.open(v2_path)
    await store.close()
    conn = sqlite3.connect(v2_path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        assert {f"{table}_no_update", f"{table}_no_delete"} <= names
        if conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"UPDATE {table} SET rowid = rowid")
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"DELETE FROM {table}")
    finally:
        conn.close()


async def test_a_migration_that_fails_leaves_the_v2_database_as_it_was(v2_path: Path) -> None:
    """A broken reference found before the commit rolls the whole migration back."""
    conn = sqlite3.connect(v2_path)  # foreign keys off: what a damaged file could hold
    conn.execute(
        "INSERT INTO cash_flows (at, kind, amount, trade_id) VALUES ('x', 'trade', 0, 999)"
    )
    conn.commit()
    conn.close()
    before = _dump(v2_path)
    with pytest.raises(StoreError, match="migration 3"):
        await Store.open(v2_path)
    assert _dump(v2_path) == before
    conn = sqlite3.connect(v2_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    finally:
        conn.close()


@pytest.fixture
def fresh_and_migrated(tmp_path: Path, v2_path: Path) -> Iterator[tuple[Path, Path]]:
    """A database created by this version and the migrated v2 one."""
    fresh = tmp_path / "fresh.db"
    yield fresh, v2_path


async def test_a_migrated_schema_equals_a_fresh_one(fresh_and_migrated: tuple[Path, Path]) -> None:
    """Migrating in place gives the same tables, columns, indexes and triggers as a new file."""
    fresh, migrated = fresh_and_migrated
    for path in (fresh, migrated):
        store = await Store.open(path, starting_balance_usd=Decimal(1))
        await store.close()

    def schema(path: Path) -> set[tuple[str, str]]:
        conn = sqlite3.connect(path)
        try:
            objects = conn.execute(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchall()
            columns = {
                ("column", f"{table}.{c[1]}")
                for kind, table in objects
                if kind == "table"
                for c in conn.execute(f"PRAGMA table_info({table})")
            }
            return {(kind, name) for kind, name in objects} | columns
        finally:
            conn.close()

    assert schema(fresh) == schema(migrated)


async def test_a_reader_refuses_an_older_schema_in_one_line(v2_path: Path) -> None:
    """`status` (read-only) cannot migrate: it says how to, and leaves the file at schema 2."""
    with pytest.raises(StoreError, match=r"schema version 2, older than this prescientd \(6\)"):
        await Store.open(v2_path, readonly=True)
    conn = sqlite3.connect(v2_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    finally:
        conn.close()
