"""Test-only reads of the store: schema version, integrity, cash and a digest of the ledger."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from prescientd.store.codec import from_micro
from prescientd.store.connection import LEDGER_TABLES
from prescientd.store.db import Store


async def schema_version(store: Store) -> int:
    """PRAGMA user_version."""
    return await store.schema_version()


async def integrity_check(store: Store) -> str:
    """PRAGMA integrity_check's verdict ('ok' when healthy)."""
    row = await store.db.read_one("PRAGMA integrity_check")
    return str(row[0]) if row else "no answer"


async def cash_balance(store: Store) -> Decimal:
    """The sum of every cash flow."""
    row = await store.db.read_one("SELECT COALESCE(SUM(amount), 0) FROM cash_flows")
    assert row is not None
    return from_micro(row[0])


async def ledger_digest(store: Store) -> str:
    """sha256 over every ledger row (one consistent read), to prove that nothing was rewritten."""
    tables = await store.db.read_consistent(
        *((f"SELECT * FROM {table} ORDER BY rowid", ()) for table in LEDGER_TABLES)
    )
    digest = hashlib.sha256()
    for rows in tables:
        for row in rows:
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
