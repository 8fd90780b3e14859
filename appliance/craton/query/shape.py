"""Structural checks shared by the statement parsers: allowed sqlglot arguments and table names.

Owns: the rule that a sqlglot node may carry only the arguments we translate (anything else,
such as RETURNING, WITH, ON CONFLICT or TABLESAMPLE, is refused by name instead of being dropped).
Must never: translate expressions (see `expressions.py`).
"""

from __future__ import annotations

from typing import Any

from sqlglot import expressions as exp

from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.expressions import identifier

_ARG_NAMES = {
    "with_": "WITH",
    "with": "WITH",
    "locks": "FOR UPDATE/SHARE",
    "windows": "WINDOW",
    "returning": "RETURNING",
    "conflict": "ON CONFLICT",
    "using": "USING",
    "properties": "table options such as TEMPORARY",
    "expression": "an AS SELECT or other source",
    "sample": "TABLESAMPLE",
    "laterals": "LATERAL",
    "pivots": "PIVOT",
    "qualify": "QUALIFY",
    "kind": "a statement modifier",
    "hint": "optimizer hints",
    "into": "SELECT INTO",
    "cluster": "CLUSTER",
    "order": "ORDER BY",
    "limit": "LIMIT",
    "cascade": "CASCADE",
    "db": "schema-qualified names (schema.table)",
    "catalog": "schema-qualified names (schema.table)",
    "alias": "an alias",
    "joins": "JOIN",
    "from_": "FROM",
    "tables": "several tables",
    "exclude": "EXCLUDE",
    "overwrite": "OVERWRITE",
    "ignore": "IGNORE",
    "replace": "OR REPLACE",
    "temporary": "TEMPORARY",
    "alternative": "INSERT OR REPLACE/IGNORE",
}


def is_empty(value: Any) -> bool:
    """sqlglot leaves absent arguments as None, False, an empty string or an empty list."""
    return value is None or value is False or value in ("", [])


def only_args(node: exp.Expression, allowed: frozenset[str], where: str) -> None:
    """Refuse, by name, any argument of `node` we do not translate."""
    for key, value in node.args.items():
        if key in allowed or is_empty(value):
            continue
        name = _ARG_NAMES.get(key, key.upper().rstrip("_"))
        raise SqlParseError(f"{where} does not support {name}", reason="unsupported")


_TABLE_ARGS = frozenset({"this", "alias"})


def table_name(node: exp.Expression, where: str, *, alias: bool = False) -> tuple[str, str | None]:
    """The checked name (and optional alias) of a plain table reference."""
    if not isinstance(node, exp.Table):
        raise SqlParseError(f"{where} needs a table name, not {node.key.upper()}", reason="unsupported")
    only_args(node, _TABLE_ARGS if alias else frozenset({"this"}), where)
    if not isinstance(node.this, exp.Identifier):
        raise SqlParseError(f"{where} needs a plain table name", reason="unsupported")
    name = identifier(node.this, "table")
    table_alias = node.args.get("alias")
    if table_alias is None:
        return name, None
    only_args(table_alias, frozenset({"this"}), "a table alias")
    return name, identifier(table_alias.this, "alias")
