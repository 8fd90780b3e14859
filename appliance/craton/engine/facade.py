"""`Engine`: the one object the server calls. Synchronous and thread-safe (run it off the event loop).

Writes (`create_stream`, `append`, `execute`) become kernel commands submitted to the replicator,
which journals them (fsync) and applies them in order; reads (`read_events`, `query`, `query_at`,
`verify_chain`) go straight to this replica's storage and projections. Every call checks that the
stream or table belongs to the calling tenant, and answers "not found" otherwise.

Owns: the public engine API, argument checks at that boundary, and the shutdown sequence (a
checkpoint on every stream, then a compacted journal). Must never: change state except through
the replicator, or reveal that another tenant's stream or table exists.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton import query
from appliance.craton.audit import AuditBody, AuditLog, AuditReport
from appliance.craton.crypto import public_key_bytes
from appliance.craton.engine.applier import Applier
from appliance.craton.engine.layout import DataDir
from appliance.craton.engine.opening import Parts, close_parts, compact, open_parts
from appliance.craton.export import ExportSummary, write_export
from appliance.craton.kernel import AppendBatch, Checkpoint, Command, CreateStream, StreamState, sql_command
from appliance.craton.replicator import SingleNodeReplicator
from appliance.craton.storage import Storage, StreamLog, VerifyReport
from appliance.craton.storage.journal import Journal
from appliance.craton.store import QueryResult
from appliance.craton.types import (
    TABLES_STREAM_NAME,
    CheckpointPolicy,
    EngineError,
    InvalidRequest,
    Offset,
    PositionAhead,
    ProjectionLag,
    QueryParseError,
    StorageError,
    StreamId,
    StreamNotFound,
    TenantId,
    Value,
    parse_offset,
    parse_stream_id,
    tenant_id,
)

JOURNAL_BYTES_MAX: Final = 64 * 1024 * 1024
READ_BYTES_MAX: Final = 8 * 1024 * 1024


class ExecuteResult(msgspec.Struct, frozen=True):
    """Rows a write affected, and the offset of its record in the tenant's `__tables` stream
    (None when it changed nothing, like `CREATE TABLE IF NOT EXISTS` on an existing table)."""

    rows_affected: int
    offset: int | None


class Engine:
    """One replica's engine. Open with `Engine.open`; close with `close()` (or a `with` block)."""

    def __init__(self, parts: Parts, journal_bytes_max: int) -> None:
        self._parts = parts
        self._applier: Applier = _required(parts.applier)
        self._storage: Storage = _required(parts.storage)
        self._audit: AuditLog = _required(parts.audit)
        self._journal: Journal = _required(parts.journal)
        self._journal_bytes_max = journal_bytes_max
        self._replicator = SingleNodeReplicator(self._journal, self._applier, after_group=self._after_group)
        self._closed = False

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        checkpoint_every: int = 1000,
        signing_key: Ed25519PrivateKey | None = None,
        journal_bytes_max: int = JOURNAL_BYTES_MAX,
    ) -> Engine:
        """Open (or create) the replica at `data_dir`, recovering from whatever stopped it last."""
        parts = open_parts(DataDir(Path(data_dir)), CheckpointPolicy(checkpoint_every), signing_key)
        return cls(parts, journal_bytes_max)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- writes: through the replicator -------------------------------------------------------

    def create_stream(self, tenant: int, name: str) -> StreamId:
        if not isinstance(name, str):
            raise InvalidRequest("a stream name is text", field="name")
        return StreamId(_as_int(self._submit(CreateStream(tenant_id(tenant), name))))

    def append(self, tenant: int, stream: int, events: list[bytes], expected_offset: int | None) -> Offset:
        """Append a batch; returns its first offset. With `expected_offset`, only at that offset."""
        owner = tenant_id(tenant)
        stream_id = parse_stream_id(stream)
        if expected_offset is not None:
            parse_offset(expected_offset, field="expected_offset")
        if not isinstance(events, list | tuple):
            raise InvalidRequest("events must be a list of bytes", field="events")  # the kernel checks each
        return Offset(_as_int(self._submit(AppendBatch(owner, stream_id, tuple(events), expected_offset))))

    def execute(self, tenant: int, sql: str, params: list[Value]) -> ExecuteResult:
        """Run one DDL or DML statement; returns rows affected and its log offset."""
        owner = tenant_id(tenant)
        statement = query.parse_statement(sql, list(params))
        if isinstance(statement, query.Select):
            raise QueryParseError("SELECT is a read: use query, not execute")
        reply = self._submit(sql_command(owner, statement))
        rows, offset = reply if isinstance(reply, tuple) else (0, None)
        return ExecuteResult(rows, offset)

    def _submit(self, command: Command) -> object:
        if self._closed:
            raise StorageError("the engine is closed")
        return self._replicator.submit(command)

    def _after_group(self, _last_op: int) -> None:
        # Runs in the commit leader, between groups: no apply is in progress.
        if self._journal.size_bytes > self._journal_bytes_max:
            compact(self._parts)

    # ---- reads: this replica's storage and projections ----------------------------------------

    def read_events(
        self, tenant: int, stream: int, from_offset: int, max_bytes: int
    ) -> tuple[list[bytes], Offset | None]:
        """Verified events from `from_offset` up to about `max_bytes`; the next offset or None at the end."""
        log = self._owned_log(tenant, stream)
        start = parse_offset(from_offset, field="from_offset")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidRequest("max_bytes must be a positive integer", field="max_bytes")
        events, next_offset = log.read(start, min(max_bytes, READ_BYTES_MAX))
        return events, None if next_offset is None else Offset(next_offset)

    def query(self, tenant: int, sql: str, params: list[Value]) -> QueryResult:
        """Run a SELECT (which may say `AT OFFSET n`) against this replica's projections."""
        return self._select(tenant_id(tenant), sql, params, None)

    def query_at(self, tenant: int, sql: str, params: list[Value], offset: int) -> QueryResult:
        """The same, as of `offset` in the tenant's `__tables` stream."""
        return self._select(tenant_id(tenant), sql, params, parse_offset(offset))

    def _select(self, tenant: TenantId, sql: str, params: list[Value], offset: int | None) -> QueryResult:
        statement = query.parse_statement(sql, list(params))
        if not isinstance(statement, query.Select):
            raise QueryParseError("only SELECT is a read: use execute for writes")
        if offset is not None:
            if statement.at_offset is not None and statement.at_offset != offset:
                raise InvalidRequest("the statement's AT OFFSET differs from the offset given", field="offset")
            statement = msgspec.structs.replace(statement, at_offset=offset)
        if self._applier.projection_fault is not None:
            raise ProjectionLag(
                f"projections are stale until a restart rebuilds them ({self._applier.projection_fault})"
            )
        self._check_position(tenant, statement.at_offset)
        return self._applier.store.select(tenant, statement)

    def _check_position(self, tenant: TenantId, at_offset: int | None) -> None:
        if at_offset is None:
            return
        tables = self._tables_stream(tenant)
        next_offset = tables.next_offset if tables is not None else 0
        if at_offset >= next_offset:
            raise PositionAhead(f"AT OFFSET {at_offset} is beyond the tenant's table log (next offset {next_offset})")

    def _tables_stream(self, tenant: TenantId) -> StreamState | None:
        stream = self._applier.state.tenant(tenant).stream_names.get(TABLES_STREAM_NAME)
        return self._applier.state.streams.get(stream) if stream is not None else None

    def verify_chain(self, tenant: int, stream: int) -> VerifyReport:
        """Check the whole chain of one of the tenant's streams, checkpoints and signatures included."""
        return self._owned_log(tenant, stream).verify_chain()

    def _owned_log(self, tenant: int, stream: int) -> StreamLog:
        owner = tenant_id(tenant)
        stream_id = parse_stream_id(stream)
        found = self._applier.state.streams.get(stream_id)
        if found is None or found.tenant != owner:
            raise StreamNotFound(f"stream {stream} does not exist")
        return self._storage.get(stream_id)

    # ---- compliance -----------------------------------------------------------------------------

    def export(self, tenant: int, stream: int, from_offset: int, to_offset: int, out: Path) -> ExportSummary:
        """Export records [from, to] of a stream to JSON Lines with a signed proof; audited."""
        log = self._owned_log(tenant, stream)
        first, last = parse_offset(from_offset, field="from_offset"), parse_offset(to_offset, field="to_offset")
        now = time.time_ns()
        summary = write_export(
            log, tenant=tenant, from_offset=first, to_offset=last, key=self._parts.key, out=Path(out), now=now
        )
        detail = f"records {first}..{last} to {out}; last hash {summary.last_hash}"
        self._audit.append(AuditBody(now, tenant, "export", str(stream), "ok", detail), durable=True)
        return summary

    def audit_auth(self, tenant: int | None, subject: str, ok: bool, reason: str) -> None:
        """Record an authentication or authorisation decision made by the server."""
        body = AuditBody(time.time_ns(), tenant, "auth", subject[:200], "ok" if ok else "denied", reason)
        self._audit.append(body)

    def verify_audit(self) -> AuditReport:
        return self._audit.verify()

    def public_key(self) -> bytes:
        """The replica's Ed25519 public key (32 raw bytes): what `verify_export` needs."""
        return public_key_bytes(self._parts.key)

    # ---- lifecycle -------------------------------------------------------------------------------

    def sync(self) -> None:
        """Make every stream and the audit log durable (the journal always is)."""
        self._storage.sync()
        self._audit.sync()

    def status(self) -> dict[str, Any]:
        applier = self._applier
        usage = shutil.disk_usage(self._parts.layout.root)
        damaged = {str(s): log.damage.message for s, log in self._storage.streams().items() if log.damage}
        return {
            "generation": self._parts.generation,
            "applied_op": applier.applied_op,
            # For readiness details: the last journal op applied, and the last op the journal holds.
            "applied_position": applier.applied_op,
            "log_position": self._journal.next_op - 1,
            "streams": {str(s): state.next_offset for s, state in applier.state.streams.items()},
            "damaged_streams": damaged,
            "journal_path": str(self._journal.path),
            "journal_bytes": self._journal.size_bytes,
            "journal_writable": applier.fault is None and not self._closed,
            "fault": applier.fault,
            "disk_free_bytes": usage.free,
            "disk_total_bytes": usage.total,
            "projections_caught_up": applier.projection_fault is None,
            "projections": self._parts.projections_note,
            "applied_positions": {str(t): p for t, p in applier.store.applied_positions().items()},
            "audit_entries": self._audit.entries,
            "recoveries": [msgspec.to_builtins(r) for r in self._parts.recoveries],
            "commands_committed": self._replicator.commands_committed,
            "groups_committed": self._replicator.groups_committed,
            "public_key": self.public_key().hex(),
        }

    def close(self) -> None:
        """Checkpoint every stream with records since its last checkpoint, compact, release the dir."""
        if self._closed:
            return
        for stream, state in sorted(self._applier.state.streams.items()):
            if state.since_checkpoint > 0 and self._storage.get(StreamId(stream)).damage is None:
                try:
                    self._replicator.submit(Checkpoint(state.tenant, stream))
                except EngineError:
                    break  # fenced or failing: leave the rest to the next open's replay
        self._replicator.close()
        self._closed = True
        compact(self._parts)
        close_parts(self._parts)


_T = TypeVar("_T")


def _required(value: _T | None) -> _T:
    if value is None:
        raise StorageError("engine parts were not opened")
    return value


def _as_int(reply: object) -> int:
    if isinstance(reply, bool) or not isinstance(reply, int):
        raise StorageError(f"unexpected reply {reply!r}")
    return reply
