"""`parse_statement`: SQL text and parameters in, one checked and bound `Statement` out.

Owns: the parse pipeline (token checks and AT OFFSET → sqlglot → translation → binding), the
cache of parsed templates by SQL text, and the single-statement rule.
Must never: return a statement with an unchecked value, or let a parser failure escape as
anything other than `SqlParseError` (code 7).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import expressions as exp
from sqlglot.errors import SqlglotError

from appliance.craton.query import limits
from appliance.craton.query.binding import check_params, check_value, non_negative
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.expressions import check_literal_range, construct_name
from appliance.craton.query.select import select
from appliance.craton.query.statements import (
    Assignment,
    CreateTable,
    Delete,
    DropTable,
    Expr,
    Insert,
    Lit,
    Param,
    Query,
    Select,
    Statement,
    Update,
)
from appliance.craton.query.tokens import DIALECT, scan
from appliance.craton.query.tree import max_param_index, query_roots, substitute, walk_all
from appliance.craton.query.writes import InsertTemplate, create_table, delete, drop_table, insert, update
from appliance.craton.types import Value

_Translated = CreateTable | DropTable | InsertTemplate | Update | Delete | Query


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed statement whose parameters are not bound yet (cached by SQL text)."""

    body: _Translated
    param_count: int
    at_offset: Lit | Param | None


def parse_statement(sql: str, params: Sequence[Any] = ()) -> Statement:
    """Parse one SQL statement and bind its `$n` parameters; raises `SqlParseError` (code 7)."""
    if not isinstance(sql, str):
        raise SqlParseError("the statement must be text", reason="not_text")
    template = _template(sql)
    values = check_params(params, template.param_count)
    return _bind(template, values)


def parse_template(sql: str) -> Template:
    """The cached, unbound form of a statement (exposed for tests and tools)."""
    return _template(sql)


@functools.lru_cache(maxsize=limits.parse_cache_entries_max)
def _template(sql: str) -> Template:
    scanned = scan(sql)
    node = _parse_one(scanned.text)
    body = _translate(node)
    if scanned.at_offset is not None and not isinstance(body, Query):
        raise SqlParseError("AT OFFSET applies only to SELECT", reason="at_offset")
    roots = _roots(body)
    for literal in walk_all(roots):
        check_literal_range(literal)
        if isinstance(literal, Lit):
            check_value(literal.value, "a literal")
    count = max(max_param_index(roots), max_param_index([scanned.at_offset])) + 1
    return Template(body, count, scanned.at_offset)


def _parse_one(text: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse(text, dialect=DIALECT)
    except SqlglotError as error:
        raise SqlParseError(f"cannot parse the statement: {_first_line(error)}", reason="syntax") from None
    except RecursionError:
        raise SqlParseError("the statement nests too deeply to parse", reason="too_deep") from None
    statements = [s for s in parsed if s is not None]
    if len(statements) != 1:
        raise SqlParseError(
            f"expected exactly one statement, got {len(statements)}",
            reason="empty" if not statements else "multiple_statements",
        )
    statement = statements[0]
    if not isinstance(statement, exp.Expression):
        raise SqlParseError("cannot parse the statement", reason="syntax")
    return statement


_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+.*?>")
_MISSING_PART = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>")


def _first_line(error: Exception) -> str:
    """sqlglot's first message line, with its internal token objects shown as the user's text."""
    line = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    line = _MISSING_PART.sub(lambda m: f"an incomplete {m.group(1).upper()} clause", line)
    return _TOKEN_REPR.sub(lambda m: "the end of the statement" if m.group(1) == "SENTINEL" else repr(m.group(2)), line)


def _translate(node: exp.Expression) -> _Translated:
    if isinstance(node, exp.Select):
        return select(node)
    if isinstance(node, exp.Create):
        return create_table(node)
    if isinstance(node, exp.Drop):
        return drop_table(node)
    if isinstance(node, exp.Insert):
        return insert(node)
    if isinstance(node, exp.Update):
        return update(node)
    if isinstance(node, exp.Delete):
        return delete(node)
    name = construct_name(node) if not isinstance(node, exp.Command) else str(node.this).upper()
    raise SqlParseError(
        f"{name} statements are not supported (only SELECT, INSERT, UPDATE, DELETE, CREATE TABLE and DROP TABLE)",
        reason="unsupported",
    )


def _roots(body: _Translated) -> list[Expr | None]:
    roots: list[Expr | None] = []
    if isinstance(body, Query):
        roots = query_roots(body)
    elif isinstance(body, InsertTemplate):
        roots.extend(value for row in body.rows for value in row)
    elif isinstance(body, Update):
        roots.extend(a.value for a in body.assignments)
        roots.append(body.where)
    elif isinstance(body, Delete):
        roots.append(body.where)
    return roots


def _bind(template: Template, params: tuple[Value, ...]) -> Statement:
    body = template.body
    if isinstance(body, Query):
        return _bind_select(body, params, template.at_offset)
    if isinstance(body, InsertTemplate):
        rows = tuple(tuple(v.value if isinstance(v, Lit) else params[v.index] for v in row) for row in body.rows)
        return Insert(body.table, body.columns, rows)
    if not params:
        return body
    if isinstance(body, Update):
        assignments = tuple(Assignment(a.column, substitute(a.value, params)) for a in body.assignments)
        where = substitute(body.where, params) if body.where is not None else None
        return Update(body.table, assignments, where)
    if isinstance(body, Delete):
        return Delete(body.table, substitute(body.where, params) if body.where is not None else None)
    return body


def _bind_select(query: Query, params: tuple[Value, ...], at_offset: Lit | Param | None) -> Select:
    if query.limit is not None or query.offset is not None:
        non_negative(query.limit, params, "LIMIT")
        non_negative(query.offset, params, "OFFSET")
    if at_offset is None:
        return Select(query, params)
    return Select(query, params, non_negative(at_offset, params, "AT OFFSET"))
