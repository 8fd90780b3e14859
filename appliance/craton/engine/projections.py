"""Bringing the SQL projections level with the log on open: catch up, or rebuild from scratch.

For every tenant with a `__tables` stream, the store's applied position must name a record of
that stream with the same hash. If it does, the records after it are applied in order; if the
store is missing, damaged, ahead of the log or disagrees about a hash, it is deleted and rebuilt
from offset 0. Rejections met during the replay are the same verdicts the live engine gave.

Owns: that procedure. Must never: change the log, or serve a store that disagrees with it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from appliance.craton import query
from appliance.craton.kernel import KernelState
from appliance.craton.storage import Storage
from appliance.craton.store import StoreDamaged, StoreRejected, TableStore
from appliance.craton.types import TABLES_STREAM_NAME, IntegrityError, RecordKind, StreamId

REPLAY_CHUNK_RECORDS = 5_000


def open_store(path: Path) -> tuple[TableStore, bool]:
    """The store at `path`, or a fresh one if it was unusable (then the second value is True)."""
    try:
        return TableStore.open(path), False
    except StoreDamaged:
        TableStore.remove_files(path)
        return TableStore.open(path), True


def tables_streams(state: KernelState) -> dict[int, StreamId]:
    """tenant → its `__tables` stream, for every tenant that ever ran DDL."""
    return {s.tenant: StreamId(stream) for stream, s in state.streams.items() if s.name == TABLES_STREAM_NAME}


def level_with_log(store: TableStore, path: Path, state: KernelState, storage: Storage) -> tuple[TableStore, str]:
    """Return a store that matches the log, and what was done ("caught up", "rebuilt", …)."""
    streams = tables_streams(state)
    if not _agrees(store, streams, storage):
        store.close()
        TableStore.remove_files(path)
        store = TableStore.open(path)
        replayed = _replay_all(store, streams, storage)
        return store, f"rebuilt from the log ({replayed} records)"
    replayed = _replay_all(store, streams, storage)
    return store, f"caught up ({replayed} records)"


def _agrees(store: TableStore, streams: dict[int, StreamId], storage: Storage) -> bool:
    applied = store.applied_positions()
    if set(applied) - set(streams):
        return False  # the store knows a tenant the log does not
    for tenant, position in applied.items():
        log = storage.get(streams[tenant])
        if position >= log.next_offset:
            return False
        record = log.read_records(position, position)[0]
        if record.hash != store.applied_hash(tenant):
            return False
    return True


def _replay_all(store: TableStore, streams: dict[int, StreamId], storage: Storage) -> int:
    replayed = 0
    for tenant, stream in sorted(streams.items()):
        log = storage.get(stream)
        applied = store.applied_position(tenant)
        start = 0 if applied is None else applied + 1
        for first in range(start, log.next_offset, REPLAY_CHUNK_RECORDS):
            last = min(first + REPLAY_CHUNK_RECORDS, log.next_offset) - 1
            for record in log.read_records(first, last):
                if record.kind == RecordKind.CHECKPOINT:
                    store.skip_to(tenant, record.offset, record.hash)  # it takes an offset too
                    continue
                if record.kind != RecordKind.DATA:
                    continue
                statement = query.decode_statement(record.payload)
                if isinstance(statement, query.Select):
                    raise IntegrityError(f"stream {stream} holds a SELECT at {record.offset}", offset=record.offset)
                # A rejection here is the same deterministic verdict the live engine replied with.
                with contextlib.suppress(StoreRejected):
                    store.apply(tenant, record.offset, record.hash, statement)
                replayed += 1
    return replayed
