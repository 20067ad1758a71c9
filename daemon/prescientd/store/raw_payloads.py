"""The morning's raw Gamma payload, stored as it arrives: one zlib stream in ~1 MB chunks.

At the full universe the raw events are ~430 MB of JSON; holding them (as Python objects, then as
one string) cost gigabytes. `RawPayloadWriter` takes each page's raw items, appends their JSON to a
zlib stream and a sha256, and stages every finished ~1 MB compressed chunk in SQLite under
`staging:<kind>`, so memory is bounded by a page. The morning's refresh transaction then swaps the
staged chunks in (store/markets.py). The bytes are exactly `json.dumps(list_of_items,
ensure_ascii=False, allow_nan=False)` of all items, so the mirror is byte-identical to what one big
dump would have written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from prescientd.store.connection import Database

CHUNK_BYTES = 1 << 20
# zlib level 1 compresses Gamma's JSON about 8:1 at several times level 6's speed
ZLIB_LEVEL = 1


def staging(kind: str) -> str:
    """The chunk kind a payload is staged under until its refresh commits."""
    return f"staging:{kind}"


@dataclass(frozen=True, slots=True)
class RawPayload:
    """A staged payload: its uncompressed size, sha256 and number of chunks."""

    kind: str
    raw_bytes: int
    sha256: str
    chunks: int


class RawPayloadWriter:
    """Feeds items page by page into a compressed, digested stream staged in SQLite."""

    def __init__(self, db: Database, kind: str) -> None:
        self._db = db
        self.kind = kind
        self._zlib = zlib.compressobj(ZLIB_LEVEL)
        self._sha = hashlib.sha256()
        self._size = 0
        self._items = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._seq = 0

    async def start(self) -> None:
        """Forget any chunks a crashed morning left staged."""

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "DELETE FROM raw_payload_chunks WHERE kind = ?", (staging(self.kind),)
            )

        await self._db.write(body)

    async def add(self, items: Iterable[Any]) -> None:
        """Append items (JSON values) to the payload; stages the chunks that are complete."""
        parts = []
        for item in items:
            parts.append("[" if self._items == 0 else ", ")
            parts.append(json.dumps(item, ensure_ascii=False, allow_nan=False))
            self._items += 1
        if parts:
            await self._feed("".join(parts).encode("utf-8"))

    async def stage_bytes(self, data: bytes) -> RawPayload:
        """Stage a payload given whole (already JSON text) and finish."""
        await self._feed(data)
        self._items = -1  # whole: no brackets to add
        return await self.finish()

    async def finish(self) -> RawPayload:
        """Close the stream (an empty payload is `[]`) and stage its last chunk."""
        if self._items >= 0:
            await self._feed(b"[]" if self._items == 0 else b"]")
        self._pending.append(self._zlib.flush())
        await self._stage(final=True)
        return RawPayload(self.kind, self._size, self._sha.hexdigest(), self._seq)

    async def _feed(self, data: bytes) -> None:
        self._sha.update(data)
        self._size += len(data)
        # zlib releases the GIL: a large page compresses beside the event loop
        out = await asyncio.to_thread(self._zlib.compress, data)
        if out:
            self._pending.append(out)
            self._pending_bytes += len(out)
        if self._pending_bytes >= CHUNK_BYTES:
            await self._stage(final=False)

    async def _stage(self, *, final: bool) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        if not data and not (final and self._seq == 0):
            return
        seq = self._seq
        self._seq += 1

        async def body(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO raw_payload_chunks (kind, seq, data) VALUES (?, ?, ?)",
                (staging(self.kind), seq, data),
            )

        await self._db.write(body)


async def swap_in(
    conn: aiosqlite.Connection, payload: RawPayload, refresh_id: int, at: str
) -> None:
    """Inside the refresh transaction: the staged chunks replace the kind's payload."""
    await conn.execute("DELETE FROM raw_payload_chunks WHERE kind = ?", (payload.kind,))
    await conn.execute(
        "UPDATE raw_payload_chunks SET kind = ? WHERE kind = ?",
        (payload.kind, staging(payload.kind)),
    )
    await conn.execute(
        "INSERT INTO raw_payloads (kind, refresh_id, fetched_at, raw_bytes, sha256, chunks)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET"
        " refresh_id = excluded.refresh_id, fetched_at = excluded.fetched_at,"
        " raw_bytes = excluded.raw_bytes, sha256 = excluded.sha256, chunks = excluded.chunks",
        (payload.kind, refresh_id, at, payload.raw_bytes, payload.sha256, payload.chunks),
    )


async def digest(db: Database, kind: str) -> tuple[str, int] | None:
    """(sha256, uncompressed bytes) of the kind's stored payload; sha256 '' when unknown."""
    row = await db.read_one("SELECT sha256, raw_bytes FROM raw_payloads WHERE kind = ?", (kind,))
    return None if row is None else (str(row[0]), int(row[1]))


async def read_chunks(db: Database, kind: str) -> AsyncIterator[bytes]:
    """The kind's stored payload, decompressed piece by piece (memory bounded by a chunk)."""
    unzip = zlib.decompressobj()
    async for rows in db.read_stream(
        "SELECT data FROM raw_payload_chunks WHERE kind = ? ORDER BY seq", (kind,), chunk_rows=1
    ):
        for row in rows:
            piece = unzip.decompress(row[0])
            if piece:
                yield piece
    tail = unzip.flush()
    if tail:
        yield tail
