"""Commands of the kernel: everything that can change a replica's state, each carrying its tenant.

Commands are frozen msgspec Structs, tagged, with a canonical msgpack encoding (the journal and,
later, VSR prepare messages carry exactly these bytes). SQL commands carry a statement already
parsed and bound by `appliance.craton.query`, never SQL text, so every replica applies the same
thing.

Owns: the command types and their codec. Must never: hold behaviour, or decode bytes into a
command without checking it like client input (the journal is a file anyone could edit).
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from appliance.craton import query
from appliance.craton.types import StorageError


class _Command(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    """Base of every command: frozen and tagged by class name."""


class CreateStream(_Command, frozen=True):
    tenant: int
    name: str


class AppendBatch(_Command, frozen=True):
    """Append `events` to `stream`; with `expected_offset`, only if that is the stream's next offset."""

    tenant: int
    stream: int
    events: tuple[bytes, ...]
    expected_offset: int | None = None


class Checkpoint(_Command, frozen=True):
    """Write a checkpoint record now if any record followed the last one (clean shutdown)."""

    tenant: int
    stream: int


class CreateTable(_Command, frozen=True):
    tenant: int
    statement: query.CreateTable


class DropTable(_Command, frozen=True):
    tenant: int
    statement: query.DropTable


class Insert(_Command, frozen=True):
    tenant: int
    statement: query.Insert


class Update(_Command, frozen=True):
    tenant: int
    statement: query.Update


class Delete(_Command, frozen=True):
    tenant: int
    statement: query.Delete


Command: TypeAlias = CreateStream | AppendBatch | Checkpoint | CreateTable | DropTable | Insert | Update | Delete
SqlCommand: TypeAlias = CreateTable | DropTable | Insert | Update | Delete

_SQL_COMMAND_OF: dict[type, type[SqlCommand]] = {
    query.CreateTable: CreateTable,
    query.DropTable: DropTable,
    query.Insert: Insert,
    query.Update: Update,
    query.Delete: Delete,
}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Command)


def sql_command(tenant: int, statement: query.WriteStatement) -> SqlCommand:
    """The kernel command for a parsed write statement."""
    command_type = _SQL_COMMAND_OF[type(statement)]
    return command_type(tenant, statement)  # type: ignore[arg-type]


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command)


def decode_command(data: bytes) -> Command:
    """Decode journal bytes; a statement inside is re-checked by the SQL codec's own decoder."""
    try:
        command: Command = _decoder.decode(data)
    except msgspec.DecodeError as error:
        raise StorageError(f"journal entry is not a command: {error}") from None
    if isinstance(command, CreateTable | DropTable | Insert | Update | Delete):
        query.decode_statement(query.encode_statement(command.statement))
    return command
