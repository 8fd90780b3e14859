"""The engine's pure kernel: `apply_committed(state, command) -> (state, effects)`.

No I/O, no clock, no randomness: the same commands from the same state give the same state and
effects on every replica, which `state_hash` makes checkable. A rejection raises a typed
`EngineError` (its code is the reply) and leaves the state untouched, so a bad command never
stalls the ones after it.

Public surface: `apply_committed`, `state_hash`, `initial_state`, the command types
(`commands`), the effect types (`effects`), and `KernelState`/`Snapshot` with their codec.
"""

from __future__ import annotations

from appliance.craton.kernel import commands, effects
from appliance.craton.kernel.commands import (
    AppendBatch,
    Checkpoint,
    Command,
    CreateStream,
    CreateTable,
    Delete,
    DropTable,
    Insert,
    Update,
    decode_command,
    encode_command,
    sql_command,
)
from appliance.craton.kernel.effects import Effect, NoChange, StorageAppend, StreamCreated, TableChange
from appliance.craton.kernel.state import (
    KernelState,
    Snapshot,
    StreamState,
    TableSchema,
    decode_snapshot,
    encode_snapshot,
    initial_state,
    state_hash,
)
from appliance.craton.kernel.streams import append_batch, checkpoint, create_stream
from appliance.craton.kernel.tables import apply_sql
from appliance.craton.types import InvalidRequest


def apply_committed(state: KernelState, command: Command) -> tuple[KernelState, list[Effect]]:
    """Apply one committed command; raises an `EngineError` (and changes nothing) to reject it."""
    if isinstance(command, AppendBatch):
        return append_batch(state, command)
    if isinstance(command, CreateStream):
        return create_stream(state, command)
    if isinstance(command, Checkpoint):
        return checkpoint(state, command)
    if isinstance(command, CreateTable | DropTable | Insert | Update | Delete):
        return apply_sql(state, command)
    raise InvalidRequest(f"unknown command {type(command).__name__}")


__all__ = [
    "AppendBatch",
    "Checkpoint",
    "Command",
    "CreateStream",
    "CreateTable",
    "Delete",
    "DropTable",
    "Effect",
    "Insert",
    "KernelState",
    "NoChange",
    "Snapshot",
    "StorageAppend",
    "StreamCreated",
    "StreamState",
    "TableChange",
    "TableSchema",
    "Update",
    "apply_committed",
    "commands",
    "decode_command",
    "decode_snapshot",
    "effects",
    "encode_command",
    "encode_snapshot",
    "initial_state",
    "sql_command",
    "state_hash",
]
