"""Kernel rules for SQL writes: each tenant's table schemas decide what reaches the log.

The kernel refuses what it can decide from schemas alone (unknown table or column, an inserted
value of the wrong type or NULL in a NOT NULL column, a table that already exists) before anything
is written. What needs the rows themselves (a duplicate primary key, the values an UPDATE gives
the rows it matches) is decided by the store when it applies the logged statement: just as deterministic, so every
replica and every rebuild reaches the same verdict.

Owns: table schemas in the kernel state and the checks above. Must never: do I/O, or accept a
DDL statement the store would refuse (the two would disagree about which tables exist).
"""

from __future__ import annotations

import msgspec

from appliance.craton import query
from appliance.craton.kernel import limits
from appliance.craton.kernel.commands import CreateTable, Delete, DropTable, Insert, SqlCommand, Update
from appliance.craton.kernel.effects import Effect, NoChange, TableChange
from appliance.craton.kernel.state import KernelState, TableSchema
from appliance.craton.kernel.streams import advance, tables_stream
from appliance.craton.query.tree import walk_all
from appliance.craton.types import QueryExecutionError, TableNotFound, TenantId, Value, tenant_id


def apply_sql(state: KernelState, command: SqlCommand) -> tuple[KernelState, list[Effect]]:
    tenant = tenant_id(command.tenant)
    tables = state.tenant(tenant).tables
    if isinstance(command, CreateTable):
        if command.statement.table in tables:
            if command.statement.if_not_exists:
                return state, [NoChange(f"table {command.statement.table} already exists")]
            raise QueryExecutionError(f"table {command.statement.table} already exists")
        _check_definition(command.statement, len(tables))
        schema = TableSchema(command.statement.columns, command.statement.primary_key)
        state = _with_tables(state, tenant, {**tables, command.statement.table: schema})
    elif isinstance(command, DropTable):
        if command.statement.table not in tables:
            if command.statement.if_exists:
                return state, [NoChange(f"table {command.statement.table} does not exist")]
            raise TableNotFound(f"table {command.statement.table} does not exist")
        state = _with_tables(state, tenant, {k: v for k, v in tables.items() if k != command.statement.table})
    else:
        _check_dml(tables, command)
    return _record(state, tenant, command.statement)


def _with_tables(state: KernelState, tenant: TenantId, tables: dict[str, TableSchema]) -> KernelState:
    updated = msgspec.structs.replace(state.tenant(tenant), tables=tables)
    return msgspec.structs.replace(state, tenants={**state.tenants, tenant: updated})


def _record(state: KernelState, tenant: TenantId, statement: query.WriteStatement) -> tuple[KernelState, list[Effect]]:
    state, created, stream = tables_stream(state, tenant)
    offset = state.streams[stream].next_offset
    state, appended = advance(state, stream, (query.encode_statement(statement),))
    return state, [*created, TableChange(tenant, stream, offset, statement, appended.checkpoint_offset)]


def _check_definition(statement: query.CreateTable, table_count: int) -> None:
    if table_count >= limits.tables_per_tenant_max:
        raise QueryExecutionError(f"a tenant may have at most {limits.tables_per_tenant_max} tables")
    names = [c.name for c in statement.columns]
    if not names or len(set(names)) != len(names):
        raise QueryExecutionError(f"table {statement.table} needs columns with distinct names")
    if not statement.primary_key or any(k not in names for k in statement.primary_key):
        raise QueryExecutionError(f"the primary key of {statement.table} must name its columns")


def _schema(tables: dict[str, TableSchema], table: str) -> TableSchema:
    schema = tables.get(table)
    if schema is None:
        raise TableNotFound(f"table {table} does not exist")
    return schema


def _check_dml(tables: dict[str, TableSchema], command: Insert | Update | Delete) -> None:
    statement = command.statement
    schema = _schema(tables, statement.table)
    if isinstance(statement, query.Insert):
        _check_insert(statement, schema)
        return
    roots: list[query.Expr | None] = [statement.where]
    if isinstance(statement, query.Update):
        for assignment in statement.assignments:
            _column(schema, statement.table, assignment.column)
            # A new value's type and NOT NULL are judged on the rows it reaches, which only the
            # store knows (like SQLite, `UPDATE … SET n = NULL WHERE false` changes nothing and is fine).
            roots.append(assignment.value)
    for node in walk_all(roots):
        if isinstance(node, query.Column):
            if node.table is not None and node.table != statement.table:
                raise QueryExecutionError(f"column {node.table}.{node.name} is not in table {statement.table}")
            _column(schema, statement.table, node.name)


def _check_insert(statement: query.Insert, schema: TableSchema) -> None:
    named = statement.columns or tuple(c.name for c in schema.columns)
    if len(set(named)) != len(named):
        raise QueryExecutionError(f"an INSERT into {statement.table} names a column twice")
    columns = [_column(schema, statement.table, name) for name in named]
    omitted = [c for c in schema.columns if c.name not in named]
    for row in statement.rows:
        if len(row) != len(columns):
            message = f"a new row of {statement.table} gives {len(row)} of {len(columns)} named columns"
            raise QueryExecutionError(message)
        for column, value in zip(columns, row, strict=True):
            _check_cell(statement.table, column, value)
    for column in omitted:
        _check_cell(statement.table, column, None)


def _column(schema: TableSchema, table: str, name: str) -> query.ColumnDef:
    column = schema.column(name)
    if column is None:
        raise QueryExecutionError(f"table {table} has no column {name}")
    return column


def _check_cell(table: str, column: query.ColumnDef, value: Value) -> None:
    if value is None:
        if column.not_null:
            raise QueryExecutionError(f"column {table}.{column.name} is NOT NULL")
        return
    if column.type in ("BIGINT", "TIMESTAMP"):
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif column.type == "TEXT":
        fits = isinstance(value, str)
    elif column.type == "BOOLEAN":
        fits = isinstance(value, bool)
    else:
        fits = isinstance(value, bytes)
    if not fits:
        raise QueryExecutionError(f"column {table}.{column.name} is {column.type}; got {type(value).__name__}")
