"""Kernel rules for streams: create, append with optimistic concurrency, checkpoint.

Owns: offsets (checkpoint records included) and the checkpoint policy's decisions.
Must never: do I/O; a rejection raises a typed engine error and leaves the state as it was.
"""

from __future__ import annotations

import msgspec

from appliance.craton.kernel import limits
from appliance.craton.kernel.commands import AppendBatch, Checkpoint, CreateStream
from appliance.craton.kernel.effects import Effect, NoChange, StorageAppend, StreamCreated
from appliance.craton.kernel.state import KernelState, StreamState, TenantState
from appliance.craton.types import (
    STREAM_LOCAL_ID_MAX,
    TABLES_STREAM_LOCAL_ID,
    TABLES_STREAM_NAME,
    InvalidRequest,
    OffsetMismatch,
    StreamAlreadyExists,
    StreamId,
    StreamNotFound,
    TenantId,
    stream_id,
    tenant_id,
    tenant_of,
)


def create_stream(state: KernelState, command: CreateStream) -> tuple[KernelState, list[Effect]]:
    tenant = tenant_id(command.tenant)
    _check_name(command.name)
    current = state.tenant(tenant)
    if command.name in current.stream_names:
        raise StreamAlreadyExists(f"stream {command.name!r} already exists")
    if len(current.stream_names) >= limits.streams_per_tenant_max or current.next_local_id > STREAM_LOCAL_ID_MAX:
        raise InvalidRequest(f"a tenant may have at most {limits.streams_per_tenant_max} streams")
    stream = stream_id(tenant, current.next_local_id)
    updated = msgspec.structs.replace(
        current, next_local_id=current.next_local_id + 1, stream_names={**current.stream_names, command.name: stream}
    )
    return _with_stream(state, tenant, updated, stream, command.name)


def tables_stream(state: KernelState, tenant: TenantId) -> tuple[KernelState, list[Effect], StreamId]:
    """The tenant's `__tables` stream (local id 0), created on first use."""
    stream = stream_id(tenant, TABLES_STREAM_LOCAL_ID)
    if stream in state.streams:
        return state, [], stream
    current = state.tenant(tenant)
    updated = msgspec.structs.replace(current, stream_names={**current.stream_names, TABLES_STREAM_NAME: stream})
    next_state, effects = _with_stream(state, tenant, updated, stream, TABLES_STREAM_NAME)
    return next_state, effects, stream


def _with_stream(
    state: KernelState, tenant: TenantId, tenant_state: TenantState, stream: StreamId, name: str
) -> tuple[KernelState, list[Effect]]:
    next_state = msgspec.structs.replace(
        state,
        streams={**state.streams, stream: StreamState(tenant, name)},
        tenants={**state.tenants, tenant: tenant_state},
    )
    return next_state, [StreamCreated(tenant, stream, name)]


def _check_name(name: str) -> None:
    encoded = name.encode("utf-8", errors="surrogatepass")
    if not 0 < len(encoded) <= limits.stream_name_bytes_max:
        raise InvalidRequest(f"a stream name is 1 to {limits.stream_name_bytes_max} bytes", field="name")
    if name.startswith("__"):
        raise InvalidRequest("stream names starting with '__' are reserved", field="name")
    if not name.isprintable():
        raise InvalidRequest("a stream name must be printable text", field="name")


def owned_stream(state: KernelState, tenant: int, stream: int) -> StreamState:
    """The stream if it exists and belongs to `tenant`; otherwise StreamNotFound (never says whose)."""
    found = state.streams.get(stream)
    if found is None or tenant_of(StreamId(stream)) != tenant or found.tenant != tenant:
        raise StreamNotFound(f"stream {stream} does not exist")
    return found


def append_batch(state: KernelState, command: AppendBatch) -> tuple[KernelState, list[Effect]]:
    tenant_id(command.tenant)
    current = owned_stream(state, command.tenant, command.stream)
    if current.name == TABLES_STREAM_NAME:
        raise InvalidRequest("the __tables stream is written by SQL statements only", field="stream")
    _check_batch(command.events)
    if command.expected_offset is not None and command.expected_offset != current.next_offset:
        raise OffsetMismatch(
            f"stream {command.stream} is at offset {current.next_offset}, not {command.expected_offset}",
            expected=command.expected_offset,
            actual=current.next_offset,
        )
    next_state, effect = advance(state, StreamId(command.stream), command.events)
    return next_state, [effect]


def advance(state: KernelState, stream: StreamId, events: tuple[bytes, ...]) -> tuple[KernelState, StorageAppend]:
    """Place `events` at the stream's next offset, with a checkpoint after them when the policy says so."""
    current = state.streams[stream]
    since = current.since_checkpoint + len(events)
    due = state.policy.due(since)
    checkpoint_offset = current.next_offset + len(events) if due else None
    updated = msgspec.structs.replace(
        current, next_offset=current.next_offset + len(events) + (1 if due else 0), since_checkpoint=0 if due else since
    )
    effect = StorageAppend(stream, current.next_offset, events, checkpoint_offset)
    return msgspec.structs.replace(state, streams={**state.streams, stream: updated}), effect


def _check_batch(events: tuple[bytes, ...]) -> None:
    if not 0 < len(events) <= limits.batch_events_max:
        raise InvalidRequest(f"an append carries 1 to {limits.batch_events_max} events", field="events")
    if not set(map(type, events)) <= {bytes}:
        raise InvalidRequest("every event is bytes", field="events")
    if sum(map(len, events)) > limits.batch_bytes_max:
        raise InvalidRequest(f"an append carries at most {limits.batch_bytes_max} bytes", field="events")


def checkpoint(state: KernelState, command: Checkpoint) -> tuple[KernelState, list[Effect]]:
    current = owned_stream(state, command.tenant, command.stream)
    if current.since_checkpoint == 0:
        return state, [NoChange(f"stream {command.stream} has no records since its last checkpoint")]
    updated = msgspec.structs.replace(current, next_offset=current.next_offset + 1, since_checkpoint=0)
    effect = StorageAppend(StreamId(command.stream), current.next_offset, (), current.next_offset)
    return msgspec.structs.replace(state, streams={**state.streams, command.stream: updated}), [effect]
