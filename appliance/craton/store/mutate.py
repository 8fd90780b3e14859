"""Applying one write statement to the versioned tables, inside a transaction the caller owns.

Owns: CREATE TABLE, DROP TABLE, INSERT, UPDATE and DELETE as version changes at one log
position: an insert adds live versions, a delete closes them (`craton_deleted_at = position`), an
update closes the matched versions and adds their successors, and a drop marks the catalog entry
while keeping the history readable with AT OFFSET. The primary key is checked among live
versions once the whole statement has run (SQL-standard statement-level uniqueness).
Must never: commit or roll back (the caller's savepoint makes each statement all-or-nothing),
or read anything but the tenant's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from appliance.craton.query.codec import encode_statement
from appliance.craton.query.errors import StoreRejected, StoreTableNotFound
from appliance.craton.query.statements import ColumnDef, CreateTable, Delete, DropTable, Expr, Insert, Lit, Update
from appliance.craton.store.catalog import Catalog, TableEntry, make_entry
from appliance.craton.store.layout import (
    CREATED_AT,
    CREATED_HASH,
    DELETED_AT,
    as_int,
    physical_name,
    quote,
    table_ddl,
)
from appliance.craton.store.sqlgen import Compiler, Slots, Source
from appliance.craton.store.values import PYTHON_TYPE, check_cell, describe, type_check_sql
from appliance.craton.types import Value

_IDS = "temp.craton_ids"
TEMP_DDL = f"CREATE TEMP TABLE IF NOT EXISTS {_IDS.split('.')[1]} (id INTEGER PRIMARY KEY)"


@dataclass(frozen=True, slots=True)
class Position:
    """Where in the tenant's log a statement sits: its offset and record hash."""

    tenant: int
    offset: int
    record_hash: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """Rows affected, and the catalog change to make once the transaction commits."""

    rows: int
    created: TableEntry | None = None
    dropped: TableEntry | None = None


def _reject(message: str, reason: str) -> Exception:
    return StoreRejected(message, reason=reason)


def _live(catalog: Catalog, at: Position, table: str) -> TableEntry:
    entry = catalog.live(at.tenant, table)
    if entry is None:
        raise StoreTableNotFound(f"table {table} does not exist", reason="unknown_table")
    return entry


def create_table(cursor: apsw.Cursor, catalog: Catalog, at: Position, statement: CreateTable) -> Outcome:
    if catalog.live(at.tenant, statement.table) is not None:
        if statement.if_not_exists:
            return Outcome(0)
        raise StoreRejected(f"table {statement.table} already exists", reason="table_exists")
    table_id = as_int(cursor.execute("SELECT COALESCE(MAX(table_id), 0) + 1 FROM craton_tables").fetchall()[0][0])
    cursor.execute(
        "INSERT INTO craton_tables (table_id, tenant, name, definition, created_at, created_hash)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (table_id, at.tenant, statement.table, encode_statement(statement), at.offset, at.record_hash),
    )
    for ddl in table_ddl(table_id, statement):
        cursor.execute(ddl)
    return Outcome(0, created=make_entry(table_id, at.tenant, statement, at.offset, None))


def drop_table(cursor: apsw.Cursor, catalog: Catalog, at: Position, statement: DropTable) -> Outcome:
    entry = catalog.live(at.tenant, statement.table)
    if entry is None:
        if statement.if_exists:
            return Outcome(0)
        raise StoreTableNotFound(f"table {statement.table} does not exist", reason="unknown_table")
    cursor.execute(
        "UPDATE craton_tables SET dropped_at = ?, dropped_hash = ? WHERE table_id = ?",
        (at.offset, at.record_hash, entry.table_id),
    )
    return Outcome(0, dropped=entry)


def insert(cursor: apsw.Cursor, catalog: Catalog, at: Position, statement: Insert) -> Outcome:
    entry = _live(catalog, at, statement.table)
    definition = entry.definition
    named = statement.columns or tuple(c.name for c in definition.columns)
    unknown = next((n for n in named if n not in entry.columns), None)
    if unknown is not None:
        raise StoreRejected(f"table {statement.table} has no column {unknown}", reason="unknown_column")
    rows = _full_rows(entry, named, statement.rows)
    names = ", ".join(quote(c.name) for c in definition.columns)
    slots = ", ".join("?" for _ in range(len(definition.columns) + 2))
    sql = f"INSERT INTO {physical_name(entry.table_id)} ({names}, {CREATED_AT}, {CREATED_HASH}) VALUES ({slots})"  # noqa: S608 (checked identifiers only; values are bound)
    try:
        cursor.executemany(sql, [(*row, at.offset, at.record_hash) for row in rows])
    except apsw.ConstraintError:
        raise _duplicate_key(entry, rows) from None
    return Outcome(len(rows))


def _full_rows(
    entry: TableEntry, named: tuple[str, ...], rows: tuple[tuple[Value, ...], ...]
) -> list[tuple[Value, ...]]:
    """Every row in table column order (missing columns NULL), each value checked against its column."""
    columns = entry.definition.columns
    order = tuple(named.index(c.name) if c.name in named else -1 for c in columns)
    kinds = tuple(PYTHON_TYPE[c.type] for c in columns)
    result = []
    for row in rows:
        if len(row) != len(named):
            count = f"{len(row)} values for {len(named)} columns"
            raise StoreRejected(f"an INSERT row has {count}", reason="arity")
        values = tuple(row[i] if i >= 0 else None for i in order)
        for value, kind, column in zip(values, kinds, columns, strict=True):
            # The exact type is the common case; anything else (NULL, a wrong type) is checked in full.
            if type(value) is not kind:
                check_cell(entry.name, column, value)
        result.append(values)
    return result


def _duplicate_key(entry: TableEntry, rows: list[tuple[Value, ...]]) -> StoreRejected:
    # Name the first key that repeats within the statement; otherwise the clash is with a live row.
    positions = [i for i, c in enumerate(entry.definition.columns) if c.name in entry.definition.primary_key]
    seen: set[tuple[Value, ...]] = set()
    for row in rows:
        key = tuple(row[i] for i in positions)
        if key in seen:
            break
        seen.add(key)
    shown = ", ".join(describe(v) for v in key)
    return StoreRejected(f"duplicate primary key ({shown}) in table {entry.name}", reason="duplicate_key")


def _where_sql(entry: TableEntry, where: Expr | None, slots: Slots) -> str:
    compiler = Compiler([Source(entry.name, entry)], slots, _reject)
    live = f"{quote(entry.name)}.{DELETED_AT} IS NULL"
    return live if where is None else f"{live} AND {compiler.expr(where)}"


def delete(cursor: apsw.Cursor, catalog: Catalog, at: Position, statement: Delete) -> Outcome:
    entry = _live(catalog, at, statement.table)
    slots = Slots(0, with_offset=False)
    condition = _where_sql(entry, statement.where, slots)
    sql = (
        f"UPDATE {physical_name(entry.table_id)} AS {quote(entry.name)}"  # noqa: S608 (checked identifiers only; values are bound)
        f" SET {DELETED_AT} = ?{len(slots.literals) + 1} WHERE {condition}"
    )
    cursor.execute(sql, (*slots.literals, at.offset))
    return Outcome(cursor.connection.changes())


def update(cursor: apsw.Cursor, catalog: Catalog, at: Position, statement: Update) -> Outcome:
    entry = _live(catalog, at, statement.table)
    table, alias = physical_name(entry.table_id), quote(entry.name)
    assigned = _assignments(entry, statement)
    value_slots = Slots(0, with_offset=False)
    compiler = Compiler([Source(entry.name, entry)], value_slots, _reject)
    new_values = [
        compiler.expr(assigned[c.name]) if c.name in assigned else f"{alias}.{quote(c.name)}"
        for c in entry.definition.columns
    ]
    where_slots = Slots(0, with_offset=False)
    condition = _where_sql(entry, statement.where, where_slots)
    cursor.execute(f"DELETE FROM {_IDS}")  # noqa: S608 (checked identifiers only; values are bound)
    cursor.execute(f"INSERT INTO {_IDS} SELECT rowid FROM {table} AS {alias} WHERE {condition}", where_slots.literals)  # noqa: S608 (checked identifiers only; values are bound)
    matched, last_rowid = cursor.execute(f"SELECT COUNT(*), (SELECT MAX(rowid) FROM {table}) FROM {_IDS}").fetchall()[0]  # noqa: S608 (checked identifiers only; values are bound)
    if matched == 0:
        return Outcome(0)
    # Like SQL, a value is only checked when a row would hold it: no match, no error.
    for name, value in assigned.items():
        if isinstance(value, Lit):
            check_cell(entry.name, entry.columns[name], value.value)
    cursor.execute(f"UPDATE {table} SET {DELETED_AT} = ?1 WHERE rowid IN (SELECT id FROM {_IDS})", (at.offset,))  # noqa: S608 (checked identifiers only; values are bound)
    n = len(value_slots.literals)
    names = ", ".join(quote(c.name) for c in entry.definition.columns)
    try:
        cursor.execute(
            f"INSERT INTO {table} ({names}, {CREATED_AT}, {CREATED_HASH})"  # noqa: S608 (checked identifiers only; values are bound)
            f" SELECT {', '.join(new_values)}, ?{n + 1}, ?{n + 2} FROM {table} AS {alias}"
            f" WHERE rowid IN (SELECT id FROM {_IDS}) ORDER BY rowid",
            (*value_slots.literals, at.offset, at.record_hash),
        )
    except apsw.ConstraintError as error:
        raise _update_violation(entry, str(error)) from None
    computed = [c for c in entry.definition.columns if c.name in assigned and not isinstance(assigned[c.name], Lit)]
    _check_types(cursor, entry, computed, as_int(last_rowid))
    return Outcome(as_int(matched))


def _assignments(entry: TableEntry, statement: Update) -> dict[str, Expr]:
    assigned: dict[str, Expr] = {}
    for assignment in statement.assignments:
        column = entry.columns.get(assignment.column)
        if column is None:
            raise StoreRejected(f"table {entry.name} has no column {assignment.column}", reason="unknown_column")
        assigned[assignment.column] = assignment.value
    return assigned


def _update_violation(entry: TableEntry, message: str) -> StoreRejected:
    if "NOT NULL" in message:
        return StoreRejected(f"UPDATE would put NULL in a NOT NULL column of {entry.name}", reason="not_null")
    return StoreRejected(f"UPDATE would give two rows of {entry.name} the same primary key", reason="duplicate_key")


def _check_types(cursor: apsw.Cursor, entry: TableEntry, computed: list[ColumnDef], last_rowid: int) -> None:
    # Values computed inside SQLite (SET n = n || 'x') are checked on the new versions, which are
    # exactly the rows after the table's previous last rowid (physical rows are never removed).
    for column in computed:
        bad = cursor.execute(
            f"SELECT {quote(column.name)} FROM {physical_name(entry.table_id)}"  # noqa: S608 (checked identifiers only; values are bound)
            f" WHERE rowid > ?1 AND NOT {type_check_sql(column)} LIMIT 1",
            (last_rowid,),
        ).fetchall()
        if bad:
            raise StoreRejected(
                f"UPDATE would store {describe(bad[0][0])} in {column.type} column {entry.name}.{column.name}",
                reason="type_mismatch",
            )
