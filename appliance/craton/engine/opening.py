"""Opening a replica's data dir after any kind of stop, and compacting its journal.

Order: lock the dir; load or create the signing key; bump the generation; open the audit log and
every stream (torn tails cut); load the kernel snapshot (op S); open the journal and replay every
op after S through the same `Applier` the live engine uses (effects are idempotent); check that
every stream ends where the kernel says; bring the SQL projections level with the log; write a
recovery record to the audit log for everything that had to be repaired.

Compaction makes everything durable (streams, signatures, audit), writes the snapshot for the
journal's last op, and starts an empty journal after it.

Owns: that sequence. Must never: start serving from a state that disagrees with the log.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.audit import AuditBody, AuditLog
from appliance.craton.crypto import load_or_create_signing_key, public_key_bytes
from appliance.craton.engine.applier import Applier
from appliance.craton.engine.layout import DataDir
from appliance.craton.engine.projections import level_with_log, open_store
from appliance.craton.kernel import KernelState, Snapshot, decode_command, initial_state
from appliance.craton.storage import Repair, Storage
from appliance.craton.storage.journal import Journal
from appliance.craton.types import (
    CheckpointPolicy,
    IntegrityError,
    RecoveryRecord,
    StreamId,
    Timestamp,
    now_monotonic,
)


class Parts:
    """Everything an open engine holds; built by `open_parts`, released by `close_parts`."""

    def __init__(self, layout: DataDir, key: Ed25519PrivateKey, generation: int) -> None:
        self.layout = layout
        self.key = key
        self.generation = generation
        self.audit: AuditLog | None = None
        self.storage: Storage | None = None
        self.journal: Journal | None = None
        self.applier: Applier | None = None
        self.recoveries: list[RecoveryRecord] = []
        self.projections_note = ""


def open_parts(layout: DataDir, policy: CheckpointPolicy, key: Ed25519PrivateKey | None) -> Parts:
    layout.acquire()
    parts: Parts | None = None
    try:
        signing_key = key or load_or_create_signing_key(layout.key)
        layout.check_signer(public_key_bytes(signing_key))
        parts = Parts(layout, signing_key, layout.next_generation())
        _open_files(parts, policy)
        return parts
    except BaseException:
        if parts is not None:
            close_parts(parts)
        layout.release()
        raise


def _open_files(parts: Parts, policy: CheckpointPolicy) -> None:
    layout = parts.layout
    repairs: list[Repair] = []
    audit, found = AuditLog.open(layout.audit)
    parts.audit = audit
    repairs += found
    parts.storage, found = Storage.open(layout.streams, signing_key=parts.key)
    repairs += found
    snapshot = layout.read_snapshot()
    if snapshot is None:
        snapshot = Snapshot(0, initial_state(policy))
        layout.write_snapshot(snapshot)
    parts.journal, entries, found = Journal.open(layout.journal, base_op=snapshot.op + 1)
    repairs += found
    if parts.journal.base_op > snapshot.op + 1:
        raise IntegrityError(f"the journal starts at op {parts.journal.base_op}, the snapshot ends at op {snapshot.op}")
    store, rebuilt = open_store(layout.projections)
    applier = Applier(snapshot.state, parts.storage, store, parts.audit)
    applier.applied_op = snapshot.op
    parts.applier = applier
    for op, payload in entries:
        if op > snapshot.op:
            applier.replay(op, decode_command(payload))
    if applier.fault is not None:
        raise IntegrityError(f"the journal cannot be replayed: {applier.fault}")
    repairs += applier.repairs
    _check_streams(applier.state, parts.storage)
    applier.store, parts.projections_note = level_with_log(store, layout.projections, applier.state, parts.storage)
    if rebuilt:
        repairs.append(Repair("projections", "projection file unusable; rebuilt from the log", 0, 0))
    if applier.state.policy != policy:
        applier.state = msgspec.structs.replace(applier.state, policy=policy)
        compact(parts)
    _record_recoveries(parts, audit, repairs)


def _check_streams(state: KernelState, storage: Storage) -> None:
    """Every stream the kernel knows ends where it says, and the disk holds no stream it does not."""
    unknown = set(storage.streams()) - set(state.streams)
    if unknown:
        raise IntegrityError(f"streams {sorted(unknown)} are on disk but in no snapshot or journal entry")
    for stream, expected in state.streams.items():
        if not storage.has(StreamId(stream)):
            raise IntegrityError(f"stream {stream} is missing from the disk")
        log = storage.get(StreamId(stream))
        if log.damage is None and log.next_offset != expected.next_offset:
            raise IntegrityError(
                f"stream {stream} ends at offset {log.next_offset}, the journal says {expected.next_offset}",
                offset=min(log.next_offset, expected.next_offset),
            )


def _record_recoveries(parts: Parts, audit: AuditLog, repairs: list[Repair]) -> None:
    last = Timestamp(0)
    for repair in repairs:
        last = now_monotonic(last)
        kept, dropped = repair.kept_records, repair.discarded_bytes
        parts.recoveries.append(RecoveryRecord(parts.generation, repair.subject, repair.reason, kept, dropped, last))
        detail = f"{repair.reason}; kept {kept} records, dropped {dropped} bytes"
        audit.append(AuditBody(last, None, "recovery", repair.subject, "repaired", detail), durable=True)


def compact(parts: Parts) -> None:
    """Make everything durable, snapshot the state at the journal's last op, and empty the journal."""
    storage, audit, journal, applier = parts.storage, parts.audit, parts.journal, parts.applier
    if storage is None or audit is None or journal is None or applier is None or applier.fault is not None:
        return
    storage.sync()
    audit.sync()
    last_op = journal.next_op - 1
    parts.layout.write_snapshot(Snapshot(last_op, applier.state))
    journal.reset(last_op + 1)


def close_parts(parts: Parts) -> None:
    closers: list[Callable[[], None]] = []
    if parts.applier is not None:
        closers.append(parts.applier.store.close)
    for resource in (parts.storage, parts.audit, parts.journal):
        if resource is not None:
            closers.append(resource.close)
    for close in closers:
        close()
    parts.layout.release()
