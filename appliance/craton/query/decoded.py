"""Checks on a statement decoded from bytes (a journal or log record), as strict as the parser's.

Owns: `check_decoded`: names follow the identifier rule, trees are bounded, parameters are in
range, and CREATE TABLE definitions are in the parser's normal form.
Why: the store spells identifiers into SQL text, trusting that the parser checked them; a
statement that did not come from the parser (a damaged or forged record) must meet the same rules
before it reaches the store.
Must never: accept what `parse_statement` could not have produced.
"""

from __future__ import annotations

from collections.abc import Iterator

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.expressions import identifier
from appliance.craton.query.statements import (
    Column,
    CreateTable,
    Delete,
    DropTable,
    Expr,
    InList,
    Insert,
    Ordinal,
    Param,
    Select,
    Star,
    Statement,
    Update,
)
from appliance.craton.query.tree import children, query_roots
from appliance.craton.query.writes import checked_table


def check_decoded(statement: Statement) -> None:
    """Raise `SqlParseError` unless `statement` is one the parser could have produced."""
    if isinstance(statement, CreateTable):
        columns, key = list(statement.columns), list(statement.primary_key)
        for name in [statement.table, *(c.name for c in columns), *key]:
            _name(name)
        if checked_table(statement.table, columns, key, statement.if_not_exists) != statement:
            raise SqlParseError("an encoded CREATE TABLE is not in normal form", reason="bad_encoding")
        return
    for name in _names(statement):
        _name(name)
    if isinstance(statement, Insert):
        width = len(statement.columns)
        if not 0 < len(statement.rows) <= limits.insert_rows_max or (
            width and any(len(row) != width for row in statement.rows)
        ):
            raise SqlParseError("an encoded INSERT has a bad shape", reason="bad_encoding")
    roots: list[Expr | None] = []
    params = -1  # writes hold no parameters
    if isinstance(statement, Select):
        roots, params = query_roots(statement.query), len(statement.params)
    elif isinstance(statement, Update):
        roots.extend(a.value for a in statement.assignments)
        roots.append(statement.where)
    elif isinstance(statement, Delete):
        roots = [statement.where]
    for root in roots:
        if root is not None:
            _check_tree(root, params)


def _name(name: str) -> None:
    if not isinstance(name, str) or identifier(name, "encoded") != name:
        raise SqlParseError(f"an encoded name {name!r} breaks the identifier rule", reason="bad_encoding")


def _names(statement: Statement) -> Iterator[str]:
    if isinstance(statement, DropTable | Insert | Update | Delete):
        yield statement.table
    if isinstance(statement, Insert):
        yield from statement.columns
    if isinstance(statement, Update):
        yield from (a.column for a in statement.assignments)
    if isinstance(statement, Select):
        query = statement.query
        refs = ([query.from_table] if query.from_table is not None else []) + [j.table for j in query.joins]
        for ref in refs:
            yield ref.name
            if ref.alias is not None:
                yield ref.alias
        yield from (item.alias for item in query.items if item.alias is not None)


def _check_tree(root: Expr, params: int) -> None:
    stack: list[tuple[Expr, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.expression_depth_max:
            raise SqlParseError("an encoded expression nests too deeply", reason="bad_encoding")
        if isinstance(node, Column):
            _name(node.name)
        if isinstance(node, Column | Star) and node.table is not None:
            _name(node.table)
        bad_param = isinstance(node, Param) and not 0 <= node.index < params
        bad_ordinal = isinstance(node, Ordinal) and node.position < 1
        too_long = isinstance(node, InList) and not 0 < len(node.items) <= limits.in_list_items_max
        if bad_param or bad_ordinal or too_long:
            raise SqlParseError(f"an encoded {type(node).__name__} is out of range", reason="bad_encoding")
        stack.extend((child, depth + 1) for child in children(node))
