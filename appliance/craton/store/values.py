"""Type rules for stored values: what each column type accepts, in Python and in SQL.

Owns: `check_cell` (a value written by INSERT or a literal UPDATE) and `type_check_sql` (the
same rule as a SQL condition, applied to rows an UPDATE computed inside SQLite).
Must never: convert a value: a wrong type is a rejection, not a coercion.
"""

from __future__ import annotations

from appliance.craton.query.errors import StoreRejected
from appliance.craton.query.statements import ColumnDef
from appliance.craton.store.layout import quote
from appliance.craton.types import Value

_SQL_TYPE_OF = {
    "BIGINT": "typeof({c}) = 'integer'",
    "TIMESTAMP": "typeof({c}) = 'integer'",
    "TEXT": "typeof({c}) = 'text'",
    "BYTES": "typeof({c}) = 'blob'",
    # BOOLEAN is stored as the integers 0 and 1.
    "BOOLEAN": "(typeof({c}) = 'integer' AND {c} IN (0, 1))",
}


# The one Python type each column type holds (bool is not accepted where int is, and vice versa).
PYTHON_TYPE: dict[str, type] = {"BIGINT": int, "TIMESTAMP": int, "TEXT": str, "BOOLEAN": bool, "BYTES": bytes}


def _matches(column: ColumnDef, value: Value) -> bool:
    if column.type in ("BIGINT", "TIMESTAMP"):
        return isinstance(value, int) and not isinstance(value, bool)
    if column.type == "TEXT":
        return isinstance(value, str)
    if column.type == "BOOLEAN":
        return isinstance(value, bool)
    return isinstance(value, bytes)


def describe(value: object) -> str:
    """A short description of a value for error messages (bounded length)."""
    if value is None:
        return "NULL"
    kind = {bool: "boolean", int: "integer", str: "text", bytes: "bytes"}.get(type(value), type(value).__name__)
    shown = repr(value)
    return f"{kind} {shown[:40]}{'…' if len(shown) > 40 else ''}"


def check_cell(table: str, column: ColumnDef, value: Value) -> None:
    """Reject a value the column cannot hold (wrong type, or NULL in a NOT NULL column)."""
    if value is None:
        if column.not_null:
            raise StoreRejected(f"column {table}.{column.name} is NOT NULL", reason="not_null")
        return
    if not _matches(column, value):
        raise StoreRejected(
            f"column {table}.{column.name} is {column.type}; got {describe(value)}", reason="type_mismatch"
        )


def type_check_sql(column: ColumnDef) -> str:
    """A SQL condition true when the column's value in a row has the column's type (or is NULL)."""
    name = quote(column.name)
    return f"({name} IS NULL OR {_SQL_TYPE_OF[column.type].format(c=name)})"
