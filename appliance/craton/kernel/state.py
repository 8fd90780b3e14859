"""The kernel's state: streams with their next offsets, and each tenant's names and table schemas.

State is a frozen msgspec Struct; the kernel never mutates one, it builds the next. Its canonical
encoding (dictionaries as sorted lists) gives `state_hash`, equal on every replica that applied
the same commands, and `encode_snapshot`/`decode_snapshot` persist it between journal resets.

Owns: the state types, the state hash and the snapshot codec. Must never: read clocks, files or
randomness.
"""

from __future__ import annotations

import hashlib

import msgspec

from appliance.craton import query
from appliance.craton.types import CheckpointPolicy, StorageError


class StreamState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One stream: its name, next offset (checkpoints included) and data records since the last checkpoint."""

    tenant: int
    name: str
    next_offset: int = 0
    since_checkpoint: int = 0


class TableSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    columns: tuple[query.ColumnDef, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> query.ColumnDef | None:
        return next((c for c in self.columns if c.name == name), None)


class TenantState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    next_local_id: int = 1
    stream_names: dict[str, int] = msgspec.field(default_factory=dict)
    tables: dict[str, TableSchema] = msgspec.field(default_factory=dict)


class KernelState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    policy: CheckpointPolicy
    streams: dict[int, StreamState] = msgspec.field(default_factory=dict)
    tenants: dict[int, TenantState] = msgspec.field(default_factory=dict)

    def tenant(self, tenant: int) -> TenantState:
        return self.tenants.get(tenant) or TenantState()


def initial_state(policy: CheckpointPolicy | None = None) -> KernelState:
    return KernelState(policy or CheckpointPolicy())


def _canonical(state: KernelState) -> list[object]:
    tenants = [
        [tenant, t.next_local_id, sorted(t.stream_names.items()), sorted(t.tables.items())]
        for tenant, t in sorted(state.tenants.items())
    ]
    return [state.policy.every_records, sorted(state.streams.items()), tenants]


def state_hash(state: KernelState) -> bytes:
    """SHA-256 of the canonical encoding: independent of dictionary insertion order."""
    return hashlib.sha256(msgspec.msgpack.encode(_canonical(state))).digest()


class Snapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The state after journal operation `op` (every operation ≤ op is in it)."""

    op: int
    state: KernelState


_snapshot_decoder = msgspec.msgpack.Decoder(Snapshot)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    return msgspec.msgpack.encode(snapshot)


def decode_snapshot(data: bytes) -> Snapshot:
    try:
        return _snapshot_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise StorageError(f"kernel snapshot cannot be decoded: {error}") from None
