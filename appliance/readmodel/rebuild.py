"""Rebuilding the read model from the event store.

A rebuild writes a brand-new database next to the live one, replays every stream from sequence 0
through the same `apply_batch` the live projector uses (so the result is the same, byte for byte),
and then swaps it in atomically. The old file is only replaced once the new one is complete.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import apsw

from appliance.eventstore.port import EventStore
from appliance.readmodel.db import connect, migrate
from appliance.readmodel.projector import Projection, apply_batch

REBUILD_TIMEOUT_S_PER_STREAM = 3600.0


async def replay_stream(
    store: EventStore, db: apsw.Connection, projections: Sequence[Projection], stream: str, last: int
) -> int:
    """Replay one stream up to `last`; returns the number of commits applied."""
    if last == 0:
        return 0
    applied = 0
    iterator = store.subscribe(stream, after_sequence=0)
    try:
        async for batch in iterator:
            wanted = [stored for stored in batch if stored.sequence <= last]
            apply_batch(db, projections, wanted)
            applied += len(wanted)
            if batch[-1].sequence >= last:
                break
    finally:
        await iterator.aclose()
    return applied


async def rebuild(store: EventStore, path: Path, projections: Sequence[Projection]) -> dict[str, int]:
    """Build a fresh read model at `path` from every stream; returns commits replayed per stream."""
    temp = path.with_name(path.name + ".rebuild")
    for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
        leftover.unlink(missing_ok=True)
    db = connect(temp)
    replayed: dict[str, int] = {}
    try:
        migrate(db)
        for info in await store.streams():
            replayed[info.name] = await asyncio.wait_for(
                replay_stream(store, db, projections, info.name, info.last_sequence),
                REBUILD_TIMEOUT_S_PER_STREAM,
            )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    os.replace(temp, path)
    return replayed
