"""The store's content hash and its row-version listing, both independent of physical layout.

Owns: `content_hash` (SHA-256 over applied positions, every table incarnation and every row
version, in a canonical order that does not depend on table ids or rowids, so a store rebuilt
from the log in any tenant order hashes like the live one) and `row_versions`.
Must never: write.
"""

from __future__ import annotations

import hashlib

import apsw
import msgspec

from appliance.craton.query.codec import decode_statement
from appliance.craton.query.statements import CreateTable
from appliance.craton.store.catalog import TableEntry
from appliance.craton.store.layout import (
    CREATED_AT,
    CREATED_HASH,
    DELETED_AT,
    as_blob,
    as_int,
    as_optional_int,
    physical_name,
    quote,
)
from appliance.craton.types import Value, invariant

_DOMAIN = b"craton-store-content-v1\x00"
_encode = msgspec.msgpack.Encoder().encode


class RowVersion(msgspec.Struct, frozen=True):
    """One version of one row: its values, and the log positions (and hash) that made and ended it."""

    values: tuple[Value, ...]
    created_at: int
    created_hash: bytes
    deleted_at: int | None


def _ordered_rows(cursor: apsw.Cursor, table_id: int, definition: CreateTable) -> apsw.Cursor:
    names = ", ".join(quote(c.name) for c in definition.columns)
    key = ", ".join(quote(k) for k in definition.primary_key)
    return cursor.execute(
        f"SELECT {names}, {CREATED_AT}, {CREATED_HASH}, {DELETED_AT} FROM {physical_name(table_id)}"  # noqa: S608 (checked identifiers only; values are bound)
        f" ORDER BY {key}, {CREATED_AT}"
    )


def content_hash(cursor: apsw.Cursor) -> bytes:
    """SHA-256 over everything the store holds, in canonical order."""
    digest = hashlib.sha256(_DOMAIN)
    for row in cursor.execute("SELECT tenant, position, hash FROM craton_applied ORDER BY tenant").fetchall():
        digest.update(_encode(["applied", *row]))
    tables = cursor.execute(
        "SELECT table_id, tenant, name, definition, created_at, created_hash, dropped_at, dropped_hash"
        " FROM craton_tables ORDER BY tenant, name, created_at"
    ).fetchall()
    for table_id, *described in tables:
        # The table id is left out: it depends on the order tenants were replayed in.
        digest.update(_encode(["table", *described]))
        definition = decode_statement(as_blob(described[2]))
        invariant(isinstance(definition, CreateTable), "the catalog holds CREATE TABLE definitions")
        assert isinstance(definition, CreateTable)  # narrows the type for mypy
        for version in _ordered_rows(cursor, as_int(table_id), definition):
            digest.update(_encode(list(version)))
    return digest.digest()


def row_versions(cursor: apsw.Cursor, entry: TableEntry) -> list[RowVersion]:
    """Every version of every row of one table incarnation, ordered by key then position."""
    width = len(entry.definition.columns)
    return [
        RowVersion(
            tuple(row[:width]),
            as_int(row[width]),
            as_blob(row[width + 1]),
            as_optional_int(row[width + 2]),
        )
        for row in _ordered_rows(cursor, entry.table_id, entry.definition)
    ]
