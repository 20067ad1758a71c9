"""events/raw_events_backup.json: streamed from the compressed payload, only when it changed.

At the full universe the backup is ~430 MB. It is written from the payload's zlib chunks piece by
piece (memory bounded by a chunk, writes off the event loop), atomically like every mirror, and
not at all when the file on disk already holds exactly the stored payload (same size and sha256;
a file this process wrote is recognised by its size and mtime without hashing it again).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from prescientd.mirrors.files import atomic_path
from prescientd.store.db import Store

_HASH_BLOCK = 1 << 20
# path -> (size, mtime_ns, sha256) of what this process wrote or verified last
_verified: dict[Path, tuple[int, int, str]] = {}


def _file_digest(path: Path, size: int) -> str | None:
    """The sha256 of path when it exists with that size (None otherwise)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if stat.st_size != size:
        return None
    known = _verified.get(path)
    if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
        return known[2]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    _verified[path] = (stat.st_size, stat.st_mtime_ns, digest.hexdigest())
    return digest.hexdigest()


async def write_raw_backup(store: Store, path: Path) -> int | None:
    """Write the stored raw events payload to path unless it already holds it.

    Returns the bytes written, None when nothing was (no payload, or the file holds it).
    """
    stored = await store.raw_events_digest()
    if stored is None:
        return None
    sha256, size = stored
    if sha256 and await asyncio.to_thread(_file_digest, path, size) == sha256:
        return None
    with atomic_path(path) as tmp:
        handle = await asyncio.to_thread(tmp.open, "wb")
        try:
            async for piece in store.raw_events_chunks():
                await asyncio.to_thread(handle.write, piece)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        finally:
            handle.close()
    stat = await asyncio.to_thread(path.stat)
    if sha256:
        _verified[path] = (stat.st_size, stat.st_mtime_ns, sha256)
    return stat.st_size
