"""Effects: what the imperative shell must do after the kernel accepted a command.

Owns: the effect types. Must never: hold behaviour; the engine performs effects, in order.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from appliance.craton import query


class StreamCreated(msgspec.Struct, frozen=True):
    """Create the stream's (empty) log."""

    tenant: int
    stream: int
    name: str


class StorageAppend(msgspec.Struct, frozen=True):
    """Append `events` at `first_offset`, then a checkpoint record at `checkpoint_offset` if set."""

    stream: int
    first_offset: int
    events: tuple[bytes, ...]
    checkpoint_offset: int | None


class TableChange(msgspec.Struct, frozen=True):
    """Record `statement` in the tenant's `__tables` stream at `offset`, then apply it to the store
    at that offset and record hash (a checkpoint record follows at `checkpoint_offset` if set)."""

    tenant: int
    stream: int
    offset: int
    statement: query.WriteStatement
    checkpoint_offset: int | None


class NoChange(msgspec.Struct, frozen=True):
    """The command was valid and changes nothing (`CREATE TABLE IF NOT EXISTS` on an existing table)."""

    reason: str


Effect: TypeAlias = StreamCreated | StorageAppend | TableChange | NoChange
