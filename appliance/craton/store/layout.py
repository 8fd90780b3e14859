"""The physical layout of the projection database: bookkeeping tables and one table per incarnation.

Owns: every name and DDL string of the store's SQLite file, and the version visibility predicate.

    craton_meta(key, value)                       format version
    craton_applied(tenant, position, hash)        last log position applied, per tenant
    craton_tables(table_id, tenant, name, definition, created_at, created_hash,
                  dropped_at, dropped_hash)       every CREATE TABLE ever applied (dropped ones kept)
    craton_t_<table_id>(<user columns…>, craton_created_at, craton_created_hash, craton_deleted_at)

A row version is visible at log position p when `craton_created_at <= p` and `craton_deleted_at`
is NULL or greater than p; the live version has `craton_deleted_at IS NULL`. User identifiers are
`[a-z_][a-z0-9_]*` without the `craton_` prefix, so quoting them is enough and they can never name
a bookkeeping column or another tenant's physical table.
Must never: interpolate a value into SQL text (values are always bound parameters).
"""

from __future__ import annotations

from appliance.craton.query.statements import ColumnDef, CreateTable
from appliance.craton.types import invariant

FORMAT_VERSION = 1
CREATED_AT = "craton_created_at"
CREATED_HASH = "craton_created_hash"
DELETED_AT = "craton_deleted_at"

BOOKKEEPING_DDL = (
    "CREATE TABLE IF NOT EXISTS craton_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS craton_applied ("
    " tenant INTEGER PRIMARY KEY, position INTEGER NOT NULL, hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS craton_tables ("
    " table_id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, name TEXT NOT NULL,"
    " definition BLOB NOT NULL, created_at INTEGER NOT NULL, created_hash BLOB NOT NULL,"
    " dropped_at INTEGER, dropped_hash BLOB)",
    "CREATE UNIQUE INDEX IF NOT EXISTS craton_tables_live ON craton_tables (tenant, name) WHERE dropped_at IS NULL",
)


def quote(name: str) -> str:
    """A checked identifier in double quotes (identifiers never contain quotes; see module doc)."""
    invariant(name.replace("_", "a").isalnum() and name.isascii(), "identifiers are checked by the parser")
    return f'"{name}"'


def physical_name(table_id: int) -> str:
    invariant(table_id > 0, "table ids start at 1")
    return f"craton_t_{table_id}"


def _column_sql(column: ColumnDef) -> str:
    # The declared type is the user's type name, so SQLite gives each column the same affinity
    # it would give a plain table created with the user's own CREATE TABLE.
    not_null = " NOT NULL" if column.not_null else ""
    return f"{quote(column.name)} {column.type}{not_null}"


def table_ddl(table_id: int, definition: CreateTable) -> list[str]:
    """CREATE statements for one incarnation: the versioned table, its live-key and history indexes."""
    name = physical_name(table_id)
    columns = ", ".join(_column_sql(c) for c in definition.columns)
    key = ", ".join(quote(k) for k in definition.primary_key)
    return [
        f"CREATE TABLE {name} ({columns}, {CREATED_AT} INTEGER NOT NULL,"
        f" {CREATED_HASH} BLOB NOT NULL, {DELETED_AT} INTEGER)",
        # The primary key holds among live versions only; history keeps every old version.
        f"CREATE UNIQUE INDEX {name}_live ON {name} ({key}) WHERE {DELETED_AT} IS NULL",
        f"CREATE INDEX {name}_history ON {name} ({key}, {CREATED_AT})",
    ]


def visible_sql(at_offset_slot: str | None) -> str:
    """The WHERE condition selecting the versions visible now, or at the bound position slot."""
    if at_offset_slot is None:
        return f"{DELETED_AT} IS NULL"
    return f"{CREATED_AT} <= {at_offset_slot} AND ({DELETED_AT} IS NULL OR {DELETED_AT} > {at_offset_slot})"


def as_int(value: object) -> int:
    """A bookkeeping integer read back from SQLite (checked: the file is input too)."""
    invariant(isinstance(value, int) and not isinstance(value, bool), "bookkeeping column holds an integer")
    assert isinstance(value, int)  # narrows the type for mypy; the invariant above checks it
    return value


def as_optional_int(value: object) -> int | None:
    return None if value is None else as_int(value)


def as_blob(value: object) -> bytes:
    """A bookkeeping blob read back from SQLite (checked: the file is input too)."""
    invariant(isinstance(value, bytes), "bookkeeping column holds bytes")
    assert isinstance(value, bytes)  # narrows the type for mypy; the invariant above checks it
    return value
