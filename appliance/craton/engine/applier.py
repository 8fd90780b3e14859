"""The imperative shell around the kernel: apply one committed command and perform its effects.

`Applier.apply(op, command)` is the function the replicator calls, in op order, once the command
is durable in the journal. It runs the pure kernel, then performs the effects: create a stream's
files, append to a stream (no fsync: the journal already holds the command), record a SQL write in
the tenant's `__tables` stream and apply it to the projection store at that record's offset and
hash, and audit every DDL/DML and stream creation.

Effects are idempotent by position, because after a crash the journal is replayed over storage
that may already hold some of them: a batch already in the log is checked byte for byte and
skipped, a batch cut short by a torn tail is cut back and rewritten, a store position already
applied is skipped, an audit entry for an op already audited is not written again.

A failure while performing effects (a full disk) leaves the command in the journal but not fully
applied, so the applier fences itself: it refuses further commands until a restart replays them.

Owns: effect execution and the write fence. Must never: perform an effect for a rejected command,
or let a projection failure stop the log (the store is rebuilt from the log instead).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from appliance.craton import kernel, query
from appliance.craton.audit import AuditBody, AuditLog
from appliance.craton.kernel import (
    AppendBatch,
    Checkpoint,
    Command,
    CreateStream,
    Effect,
    KernelState,
    NoChange,
    StorageAppend,
    StreamCreated,
    TableChange,
)
from appliance.craton.storage import Repair, Storage, StreamLog
from appliance.craton.storage.record import PreparedAppend, prepare_append
from appliance.craton.store import StoreRejected, TableStore
from appliance.craton.types import (
    GENESIS_HASH,
    TABLES_STREAM_LOCAL_ID,
    EngineError,
    IntegrityError,
    InvariantViolation,
    ProjectionLag,
    RecordKind,
    StorageError,
    StreamId,
    invariant,
)


@dataclasses.dataclass(slots=True)
class Prepared:
    """One command's kernel decision and pre-encoded log records, ready to be performed."""

    op: int
    command: Command
    state: KernelState | None  # the kernel state after the command; None when it was rejected
    effects: list[Effect]
    rejection: EngineError | None
    encoded: dict[int, PreparedAppend]  # stream → the batch this command appends to it


class Applier:
    """Holds the kernel state and performs effects on storage, store and audit log."""

    def __init__(self, state: KernelState, storage: Storage, store: TableStore, audit: AuditLog) -> None:
        self.state = state
        self.storage = storage
        self.store = store
        self.audit = audit
        self.applied_op = 0
        self.fault: str | None = None
        self.projection_fault: str | None = None
        self.repairs: list[Repair] = []
        self._replaying = False

    def replay(self, op: int, command: Command) -> None:
        """Re-apply a journaled command after a restart; rejections were replies, and stay so."""
        self._replaying = True
        try:
            self.apply(op, command)
        except EngineError:
            pass
        finally:
            self._replaying = False

    def apply(self, op: int, command: Command) -> object:
        """Apply `command` (journal op `op`); returns its reply or raises its rejection."""
        return self.perform(self.prepare(op, [command])[0])

    def prepare(self, first_op: int, commands: Sequence[Command]) -> list[Prepared]:
        """The pure half of applying a group: kernel decisions and record encodings, chained through
        the group; no I/O, no change to this object. The replicator runs it while the journal syncs."""
        state = self.state
        heads: dict[int, tuple[int, bytes]] = {}
        prepared: list[Prepared] = []
        for index, command in enumerate(commands):
            one = self._prepare_one(first_op + index, command, state, heads)
            state = one.state if one.state is not None else state
            prepared.append(one)
        return prepared

    def _prepare_one(
        self, op: int, command: Command, state: KernelState, heads: dict[int, tuple[int, bytes]]
    ) -> Prepared:
        try:
            next_state, effects = kernel.apply_committed(state, command)
        except EngineError as rejection:
            return Prepared(op, command, None, [], rejection, {})
        encoded: dict[int, PreparedAppend] = {}
        for effect in effects:
            if isinstance(effect, StreamCreated):
                heads[effect.stream] = (0, GENESIS_HASH)
            elif isinstance(effect, StorageAppend):
                self._encode(
                    heads, encoded, effect.stream, effect.first_offset, effect.events, effect.checkpoint_offset
                )
            elif isinstance(effect, TableChange):
                events = (query.encode_statement(effect.statement),)
                self._encode(heads, encoded, effect.stream, effect.offset, events, effect.checkpoint_offset)
        return Prepared(op, command, next_state, effects, None, encoded)

    def _encode(
        self,
        heads: dict[int, tuple[int, bytes]],
        encoded: dict[int, PreparedAppend],
        stream: int,
        first: int,
        events: tuple[bytes, ...],
        checkpoint_offset: int | None,
    ) -> None:
        if stream in heads:
            next_offset, head = heads[stream]
        elif self.storage.has(StreamId(stream)):
            log = self.storage.get(StreamId(stream))
            next_offset, head = log.next_offset, log.last_hash
        else:
            return
        if next_offset != first:
            return  # a replay over records already written: `perform` sorts it out
        batch = prepare_append(first, head, list(events), checkpoint=checkpoint_offset is not None)
        heads[stream] = (first + len(batch.record_bytes), batch.last_hash)
        encoded[stream] = batch

    def perform(self, prepared: Prepared) -> object:
        """The I/O half: perform the prepared effects, in order; the reply, or the rejection raised."""
        op, command = prepared.op, prepared.command
        if self.fault is not None:
            raise StorageError(f"writes are fenced after a failed apply ({self.fault}); restart the replica")
        if prepared.rejection is not None or prepared.state is None:
            self.applied_op = op  # a rejection is this op's outcome: applied, with no effect
            rejection = prepared.rejection or InvariantViolation("a prepared command has a state or a rejection")
            self._audit_rejection(op, command, rejection)
            raise rejection
        try:
            reply = self._perform(prepared)
        except (OSError, StorageError) as error:
            self.fault = f"op {op}: {error}"
            raise StorageError(f"the command is journaled but could not be applied: {error}") from error
        self.state, self.applied_op = prepared.state, op
        if isinstance(reply, EngineError):
            raise reply  # decided after the log write (the store's verdict): still a plain reply
        return reply

    def _perform(self, prepared: Prepared) -> object:
        op, command = prepared.op, prepared.command
        reply: object = None
        for effect in prepared.effects:
            if isinstance(effect, StreamCreated):
                self.storage.create(StreamId(effect.stream))
                reply = effect.stream
                if isinstance(command, CreateStream):
                    self._audit_command(op, command, "ok", f"stream {effect.stream}")
            elif isinstance(effect, StorageAppend):
                batch = prepared.encoded.get(effect.stream)
                self._append(effect.stream, effect.first_offset, effect.events, effect.checkpoint_offset, batch)
                self._note_tables_checkpoint(effect.stream, effect.checkpoint_offset)
                reply = effect.checkpoint_offset if isinstance(command, Checkpoint) else effect.first_offset
            elif isinstance(effect, TableChange):
                reply = self._table_change(op, command, effect, prepared.encoded.get(effect.stream))
            elif isinstance(effect, NoChange):
                reply = (0, None)
                if not isinstance(command, Checkpoint):
                    self._audit_command(op, command, "ok", effect.reason)
        return reply

    def _append(
        self,
        stream: int,
        first: int,
        events: tuple[bytes, ...],
        checkpoint_offset: int | None,
        batch: PreparedAppend | None,
    ) -> bytes:
        """Put the batch at `first` (unless a replay finds it there already); the data record hash."""
        log = self.storage.get(StreamId(stream))
        end = first + len(events) + (checkpoint_offset is not None)
        if log.next_offset > first and log.next_offset >= end:
            return _already_there(log, first, events, checkpoint_offset)
        if log.next_offset > first:
            self.repairs.append(log.truncate_from(first))  # a torn batch: rewrite it whole
        if log.next_offset != first:
            raise IntegrityError(
                f"stream {stream} ends at offset {log.next_offset} but the journal continues at {first}",
                offset=log.next_offset,
            )
        if batch is None or batch.first_offset != first or batch.prev_hash != log.last_hash:
            batch = prepare_append(first, log.last_hash, list(events), checkpoint=checkpoint_offset is not None)
        return log.append_prepared(batch, sync=False).data_hash

    def _table_change(
        self, op: int, command: Command, effect: TableChange, batch: PreparedAppend | None
    ) -> tuple[int, int] | EngineError:
        payload = query.encode_statement(effect.statement)
        record_hash = self._append(effect.stream, effect.offset, (payload,), effect.checkpoint_offset, batch)
        applied = self.store.applied_position(effect.tenant)
        if applied is not None and applied >= effect.offset:
            self._note_tables_checkpoint(effect.stream, effect.checkpoint_offset)
            return 0, effect.offset  # a replay: the store already holds this position
        try:
            rows = self.store.apply(effect.tenant, effect.offset, record_hash, effect.statement)
        except StoreRejected as rejection:
            self._note_tables_checkpoint(effect.stream, effect.checkpoint_offset)
            self._audit_command(op, command, "rejected", f"at offset {effect.offset}: {rejection.message}")
            return rejection
        except (StorageError, OSError) as error:
            # The write is in the log; only the projection failed. Stop serving reads from it
            # (they would be stale) instead of stopping the log; a restart rebuilds it.
            self.projection_fault = f"offset {effect.offset}: {error}"
            self._audit_command(op, command, "ok", f"logged at offset {effect.offset}; projection failed")
            return ProjectionLag(f"written at offset {effect.offset}, but the projection failed: {error}")
        self._note_tables_checkpoint(effect.stream, effect.checkpoint_offset)
        self._audit_command(op, command, "ok", f"{rows} rows at offset {effect.offset}")
        return rows, effect.offset

    def _note_tables_checkpoint(self, stream: int, checkpoint_offset: int | None) -> None:
        """A checkpoint record in a tenant's `__tables` stream takes an offset too; the store must
        know it, or `AT OFFSET <that offset>` would look ahead of the projection."""
        if checkpoint_offset is None or stream & 0xFFFF_FFFF != TABLES_STREAM_LOCAL_ID:
            return
        tenant = stream >> 32
        applied = self.store.applied_position(tenant)
        if applied is not None and applied >= checkpoint_offset:
            return
        record = self.storage.get(StreamId(stream)).read_records(checkpoint_offset, checkpoint_offset)[0]
        self.store.skip_to(tenant, checkpoint_offset, record.hash)

    def _audit_rejection(self, op: int, command: Command, rejection: EngineError) -> None:
        if isinstance(command, AppendBatch | Checkpoint):
            return  # the log itself is the record of appends; a refused append changed nothing
        self._audit_command(op, command, "rejected", rejection.message)

    def _audit_command(self, op: int, command: Command, outcome: str, detail: str) -> None:
        if op <= self.audit.last_op and self._replaying:
            return  # audited before the crash
        action, subject = _describe(command)
        self.audit.append(AuditBody(time.time_ns(), command.tenant, action, subject, outcome, detail, op))


def _already_there(log: StreamLog, first: int, events: tuple[bytes, ...], checkpoint_offset: int | None) -> bytes:
    """A replay found the batch in the log: check it is exactly this batch, return its data hash."""
    last = first + len(events) - 1 + (checkpoint_offset is not None)
    records = log.read_records(first, last) if last >= first else []
    data = [r for r in records if r.kind == RecordKind.DATA]
    if [r.payload for r in data] != list(events):
        raise IntegrityError(f"stream {log.stream} holds other records at {first} than the journal", offset=first)
    if checkpoint_offset is not None:
        invariant(records[-1].kind == RecordKind.CHECKPOINT, "a replayed checkpoint is where the journal puts it")
    return data[-1].hash if data else records[-1].prev_hash


def _describe(command: Command) -> tuple[str, str]:
    if isinstance(command, CreateStream):
        return "stream.create", command.name
    if isinstance(command, AppendBatch | Checkpoint):
        return "stream.append", str(command.stream)
    statement = command.statement
    return f"sql.{type(statement).__name__.lower()}", statement.table
