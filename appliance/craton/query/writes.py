"""Translation of CREATE TABLE, DROP TABLE, INSERT, UPDATE and DELETE into statement templates.

Owns: the DDL and DML subset: the five column types, NOT NULL, PRIMARY KEY (single or composite,
and required), multi-row INSERT of literals and parameters, UPDATE … SET … WHERE, DELETE … WHERE.
Must never: accept a construct it does not translate, nor any non-deterministic function (a write
is replayed by every replica and on every rebuild, and must give the same result each time).
"""

from __future__ import annotations

from typing import Any

from sqlglot import expressions as exp

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.expressions import Context, convert, identifier
from appliance.craton.query.shape import only_args, table_name
from appliance.craton.query.statements import (
    Assignment,
    ColumnDef,
    ColumnType,
    CreateTable,
    Delete,
    DropTable,
    Expr,
    Lit,
    Param,
    Update,
)

_TYPES: dict[Any, ColumnType] = {
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.TEXT: "TEXT",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP",
}
_TYPE_LIST = "BIGINT, TEXT, BOOLEAN, TIMESTAMP or BYTES"


class InsertTemplate:
    """An INSERT whose row values may still be `Param` placeholders (bound later)."""

    __slots__ = ("columns", "rows", "table")

    def __init__(self, table: str, columns: tuple[str, ...], rows: tuple[tuple[Lit | Param, ...], ...]) -> None:
        self.table = table
        self.columns = columns
        self.rows = rows


def create_table(node: exp.Create) -> CreateTable:
    """CREATE TABLE [IF NOT EXISTS] name (columns…, [PRIMARY KEY (…)])."""
    if str(node.args.get("kind", "")).upper() != "TABLE":
        raise SqlParseError(f"CREATE {node.args.get('kind')} is not supported", reason="unsupported")
    only_args(node, frozenset({"this", "kind", "exists"}), "CREATE TABLE")
    schema = node.this
    if not isinstance(schema, exp.Schema):
        raise SqlParseError("CREATE TABLE needs a column list", reason="syntax")
    table, _ = table_name(schema.this, "CREATE TABLE")
    columns: list[ColumnDef] = []
    key: list[str] = []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            column, inline_key = _column_def(item)
            if inline_key and key:
                raise SqlParseError("a table has one PRIMARY KEY", reason="syntax")
            columns.append(column)
            key.extend([column.name] if inline_key else [])
        elif isinstance(item, exp.PrimaryKey):
            key.extend(_table_key(item, already=bool(key)))
        else:
            raise SqlParseError(f"{item.key.upper()} is not supported in CREATE TABLE", reason="unsupported")
    return checked_table(table, columns, key, bool(node.args.get("exists")))


def _column_def(node: exp.ColumnDef) -> tuple[ColumnDef, bool]:
    only_args(node, frozenset({"this", "kind", "constraints"}), "a column definition")
    name = identifier(node.this, "column")
    column_type = _column_type(node.args.get("kind"), name)
    not_null = primary = False
    for constraint in node.constraints:
        kind = constraint.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint):
            not_null = not_null or not kind.args.get("allow_null")
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint) and not kind.args.get("desc"):
            primary = True
        else:
            shown = kind.sql(dialect="postgres") if kind is not None else constraint.sql()
            raise SqlParseError(
                f"column constraint {shown!r} is not supported (only NOT NULL and PRIMARY KEY)",
                reason="unsupported",
            )
    return ColumnDef(name, column_type, not_null or primary), primary


def _column_type(kind: exp.Expression | None, column: str) -> ColumnType:
    if not isinstance(kind, exp.DataType):
        raise SqlParseError(f"column {column} needs a type: {_TYPE_LIST}", reason="syntax")
    if kind.expressions or kind.args.get("values") or kind.args.get("nested"):
        raise SqlParseError(
            f"type {kind.sql()} of column {column} is not supported; use {_TYPE_LIST}", reason="unsupported"
        )
    if kind.this == exp.DataType.Type.USERDEFINED:
        written = str(kind.args.get("kind", "")).upper()
        if written == "BYTES":
            return "BYTES"
    elif kind.this in _TYPES:
        return _TYPES[kind.this]
    raise SqlParseError(
        f"type {kind.sql(dialect='postgres')} of column {column} is not supported; use {_TYPE_LIST}",
        reason="unsupported",
    )


def _table_key(node: exp.PrimaryKey, *, already: bool) -> list[str]:
    only_args(node, frozenset({"expressions", "include"}), "PRIMARY KEY")
    include = node.args.get("include")
    if include is not None and any(not _empty_arg(v) for v in include.args.values() if v is not False):
        raise SqlParseError("PRIMARY KEY options are not supported", reason="unsupported")
    if already:
        raise SqlParseError("a table has one PRIMARY KEY", reason="syntax")
    names = []
    for part in node.expressions:
        target = part.this if isinstance(part, exp.Ordered) else part
        if isinstance(part, exp.Ordered) and part.args.get("desc"):
            raise SqlParseError("PRIMARY KEY columns take no ordering", reason="unsupported")
        names.append(identifier(target if isinstance(target, exp.Identifier) else target.this, "column"))
    return names


def _empty_arg(value: object) -> bool:
    return value is None or value in ([], "")


def checked_table(table: str, columns: list[ColumnDef], key: list[str], if_not_exists: bool) -> CreateTable:
    """The normal form of a table definition (key columns NOT NULL), or `SqlParseError`."""
    if not columns:
        raise SqlParseError(f"table {table} needs at least one column", reason="syntax")
    if len(columns) > limits.table_columns_max:
        raise SqlParseError(f"a table has at most {limits.table_columns_max} columns", reason="too_many_columns")
    names = [column.name for column in columns]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise SqlParseError(f"column {duplicate} is defined twice", reason="duplicate_column")
    if not key:
        raise SqlParseError(f"table {table} needs a PRIMARY KEY", reason="no_primary_key")
    if len(set(key)) != len(key):
        raise SqlParseError("a PRIMARY KEY column is listed twice", reason="duplicate_column")
    unknown = next((k for k in key if k not in names), None)
    if unknown is not None:
        raise SqlParseError(f"PRIMARY KEY column {unknown} is not a column of {table}", reason="unknown_column")
    # Key columns are NOT NULL: SQLite would otherwise allow NULLs in a non-INTEGER key.
    fixed = tuple(ColumnDef(c.name, c.type, c.not_null or c.name in key) for c in columns)
    return CreateTable(table, fixed, tuple(key), if_not_exists)


def drop_table(node: exp.Drop) -> DropTable:
    """DROP TABLE [IF EXISTS] name."""
    if str(node.args.get("kind", "")).upper() != "TABLE":
        raise SqlParseError(f"DROP {node.args.get('kind')} is not supported", reason="unsupported")
    only_args(node, frozenset({"this", "kind", "exists", "tables"}), "DROP TABLE")
    tables = node.args.get("tables") or ([node.this] if node.this is not None else [])
    if len(tables) != 1:
        raise SqlParseError("DROP TABLE takes exactly one table", reason="unsupported")
    name, _ = table_name(tables[0], "DROP TABLE")
    return DropTable(name, bool(node.args.get("exists")))


def insert(node: exp.Insert) -> InsertTemplate:
    """INSERT INTO name [(columns)] VALUES (…), (…) with literals and $n parameters."""
    only_args(node, frozenset({"this", "expression"}), "INSERT")
    target = node.this
    columns: tuple[str, ...] = ()
    if isinstance(target, exp.Schema):
        columns = tuple(identifier(c, "column") for c in target.expressions)
        if len(set(columns)) != len(columns):
            raise SqlParseError("INSERT lists a column twice", reason="duplicate_column")
        target = target.this
    table, _ = table_name(target, "INSERT")
    source = node.expression
    if not isinstance(source, exp.Values):
        shown = "INSERT … SELECT" if isinstance(source, exp.Query) else "this INSERT source"
        raise SqlParseError(f"{shown} is not supported; use VALUES", reason="unsupported")
    rows = tuple(_insert_row(row, columns) for row in source.expressions)
    if not rows or len(rows) > limits.insert_rows_max:
        raise SqlParseError(f"INSERT takes 1 to {limits.insert_rows_max} rows", reason="too_many_rows")
    return InsertTemplate(table, columns, rows)


def _insert_row(row: exp.Expression, columns: tuple[str, ...]) -> tuple[Lit | Param, ...]:
    values = row.expressions if isinstance(row, exp.Tuple) else [row]
    if columns and len(values) != len(columns):
        count = f"{len(values)} values for {len(columns)} columns"
        raise SqlParseError(f"an INSERT row has {count}", reason="arity")
    context = Context("INSERT values", write=True, columns=False)
    converted: list[Lit | Param] = []
    for value in values:
        expr = convert(value, context)
        if not isinstance(expr, Lit | Param):
            raise SqlParseError("INSERT values must be literals or $n parameters", reason="unsupported")
        converted.append(expr)
    return tuple(converted)


def update(node: exp.Update) -> Update:
    """UPDATE name SET column = expression, … [WHERE condition] (parameters unbound)."""
    only_args(node, frozenset({"this", "expressions", "where"}), "UPDATE")
    table, _ = table_name(node.this, "UPDATE")
    context = Context("UPDATE", write=True)
    assignments: list[Assignment] = []
    for item in node.expressions:
        if not isinstance(item, exp.EQ) or not isinstance(item.this, exp.Column) or item.this.table:
            raise SqlParseError("UPDATE assignments are written column = expression", reason="syntax")
        column = identifier(item.this.this, "column")
        if any(a.column == column for a in assignments):
            raise SqlParseError(f"UPDATE assigns column {column} twice", reason="duplicate_column")
        assignments.append(Assignment(column, convert(item.expression, context)))
    return Update(table, tuple(assignments), _where(node, context))


def delete(node: exp.Delete) -> Delete:
    """DELETE FROM name [WHERE condition] (parameters unbound)."""
    only_args(node, frozenset({"this", "where"}), "DELETE")
    table, _ = table_name(node.this, "DELETE")
    return Delete(table, _where(node, Context("DELETE", write=True)))


def _where(node: exp.Expression, context: Context) -> Expr | None:
    where = node.args.get("where")
    if where is None:
        return None
    return convert(where.this, Context(f"the WHERE of {context.clause}", write=True))
