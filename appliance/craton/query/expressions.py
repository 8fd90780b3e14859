"""Translation of sqlglot expression trees into the engine's own `Expr` nodes, refusing the rest.

Owns: the whitelist of expression constructs, identifier rules, literal rules, and the error
messages that name a refused construct.
Must never: accept a node it does not know (everything unlisted is refused by name), or let a
non-deterministic function into a write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import expressions as exp

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.precedence import check_grouping
from appliance.craton.query.statements import (
    Aggregate,
    AggregateFunc,
    Between,
    Binary,
    BinaryOp,
    Column,
    Expr,
    InList,
    IsNull,
    Like,
    Lit,
    Param,
    Star,
    Unary,
)

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
RESERVED_PREFIX = "craton_"
_RESERVED_WORDS = frozenset(
    {
        "all", "and", "as", "between", "by", "case", "cast", "collate", "distinct", "else", "end", "escape",
        "exists", "false", "from", "glob", "group", "having", "in", "is", "isnull", "join", "like", "limit",
        "not", "notnull", "null", "offset", "on", "or", "order", "select", "then", "true", "union", "when",
        "where",
    }
)  # fmt: skip
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

_BINARY: dict[type[exp.Expression], BinaryOp] = {
    exp.And: "AND",
    exp.Or: "OR",
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.DPipe: "||",
    # SQLite's `a IS b` / `a IS NOT b` (NULL-safe equality); `a IS NULL` arrives as exp.Is instead.
    exp.NullSafeEQ: "IS",
    exp.NullSafeNEQ: "IS NOT",
}
_AGGREGATES: dict[type[exp.Expression], AggregateFunc] = {
    exp.Count: "COUNT",
    exp.Sum: "SUM",
    exp.Avg: "AVG",
    exp.Min: "MIN",
    exp.Max: "MAX",
}
# Functions whose value depends on the clock, entropy or connection state: a write that used
# one would give each replica, and each replay, a different result.
_NON_DETERMINISTIC_NAMES = frozenset(
    {
        "random", "randomblob", "rand", "uuid", "gen_random_uuid", "now", "clock_timestamp",
        "statement_timestamp", "transaction_timestamp", "timeofday", "changes", "total_changes",
        "last_insert_rowid", "sqlite_version", "current_timestamp", "current_date", "current_time",
        "localtime", "localtimestamp", "date", "time", "datetime", "julianday", "unixepoch", "strftime",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Context:
    """Where an expression sits: whether columns and aggregates may appear, and if it is a write."""

    clause: str
    write: bool
    columns: bool = True
    aggregates: bool = False


def identifier(node: exp.Expression | str | None, what: str) -> str:
    """A checked, lower-cased name; quoted and unquoted names follow the same rule."""
    if isinstance(node, exp.Identifier):
        text = node.this
    elif isinstance(node, str):
        text = node
    else:
        raise SqlParseError(f"expected a {what} name", reason="syntax")
    if not isinstance(text, str) or len(text) > limits.identifier_chars_max:
        raise SqlParseError(
            f"{what} name is longer than {limits.identifier_chars_max} characters", reason="bad_identifier"
        )
    name = text.lower()
    if isinstance(node, exp.Identifier) and not node.quoted and name in _RESERVED_WORDS:
        # The parser sometimes falls back to reading a misplaced keyword as a name (for example
        # `0 BETWEEN 0 IS -3 AND 1`); SQLite never does, so an unquoted keyword is never a name.
        raise SqlParseError(f"{text!r} is a reserved word, not a {what} name here", reason="syntax")
    if not _IDENTIFIER.fullmatch(name):
        raise SqlParseError(
            f"{what} name {text!r} must be letters, digits and underscores, not starting with a digit",
            reason="bad_identifier",
        )
    if name.startswith(RESERVED_PREFIX):
        raise SqlParseError(
            f"{what} name {text!r} uses the reserved prefix {RESERVED_PREFIX!r}", reason="bad_identifier"
        )
    return name


_KEYWORD_CONSTRUCTS = (exp.Case, exp.Cast, exp.If)


def construct_name(node: exp.Expression) -> str:
    """How an error message names a refused node: its function name or its SQL keyword."""
    if isinstance(node, exp.Exists):
        name = "EXISTS (subquery)"
    elif isinstance(node, exp.Rand):
        name = "random()"
    elif isinstance(node, exp.CurrentTimestamp | exp.CurrentDate | exp.CurrentTime):
        name = f"{node.sql_name().lower()} (now())"
    elif isinstance(node, _KEYWORD_CONSTRUCTS):
        name = node.key.upper()
    elif isinstance(node, exp.HexString | exp.ByteString | exp.BitString):
        name = "a hex or byte-string literal (pass bytes as a $n parameter)"
    elif isinstance(node, exp.Anonymous):
        name = f"{str(node.name).lower()}()"
    elif isinstance(node, exp.Func):
        name = f"{node.sql_name().lower()}()"
    elif isinstance(node, exp.SetOperation):
        name = node.key.upper()
    elif isinstance(node, exp.Subquery | exp.Select | exp.Exists):
        name = "subquery"
    else:
        name = node.key.upper()
    return name


def is_non_deterministic(node: exp.Expression) -> bool:
    """True for clock, entropy and connection-state functions (refused in writes)."""
    if isinstance(node, exp.Rand | exp.CurrentTimestamp | exp.CurrentDate | exp.CurrentTime):
        return True
    if isinstance(node, exp.Func):
        names = {node.sql_name().lower(), str(node.name).lower()}
        return bool(names & _NON_DETERMINISTIC_NAMES)
    return False


def refuse(node: exp.Expression, context: Context) -> SqlParseError:
    """The error for a construct outside the subset, naming it (and why, for writes)."""
    name = construct_name(node)
    if context.write and is_non_deterministic(node):
        return SqlParseError(
            f"non-deterministic function {name} is refused in writes (every replica must compute "
            "the same value); pass the value as a $n parameter",
            reason="non_deterministic",
        )
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Case, exp.Cast, exp.If, exp.Exists, *_AGGREGATES)):
        return SqlParseError(f"function {name} is not supported in {context.clause}", reason="unsupported")
    return SqlParseError(f"{name} is not supported in {context.clause}", reason="unsupported")


def convert(node: exp.Expression, context: Context, depth: int = 0) -> Expr:
    """Translate one sqlglot expression; raises `SqlParseError` naming any refused construct."""
    if depth > limits.expression_depth_max:
        raise SqlParseError(f"the expression nests deeper than {limits.expression_depth_max} levels", reason="too_deep")
    check_grouping(node)
    op = _BINARY.get(type(node))
    if op is not None:
        left = convert(node.this, context, depth + 1)
        return Binary(op, left, convert(node.expression, context, depth + 1))
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise refuse(node, context)
    return handler(node, context, depth + 1)


def _placeholder(node: exp.Expression, context: Context, depth: int) -> Expr:
    raise SqlParseError(f"use numbered parameters $1, $2, … instead of {node.sql()!r}", reason="bad_parameter")


def _not(node: exp.Expression, context: Context, depth: int) -> Expr:
    return Unary("NOT", convert(node.this, context, depth))


def _neg(node: exp.Expression, context: Context, depth: int) -> Expr:
    return _negate(convert(node.this, context, depth))


def _paren(node: exp.Expression, context: Context, depth: int) -> Expr:
    return convert(node.this, context, depth)


def _literal(node: exp.Expression) -> int | str:
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    if not text.isascii() or not text.isdigit():
        raise SqlParseError(
            f"numeric literal {text} is not supported: only integers (there is no floating-point type)",
            reason="unsupported",
        )
    value = int(text)
    if value > INT64_MAX + 1:
        # INT64_MAX + 1 is let through so that -9223372036854775808 can be written.
        raise SqlParseError(f"integer literal {text} is out of the 64-bit range", reason="out_of_range")
    return value


def check_literal_range(expr: Expr) -> None:
    """Reject the one unnegated literal `_literal` lets through (2**63) once negation is folded."""
    value = expr.value if isinstance(expr, Lit) else None
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise SqlParseError(f"integer literal {value} is out of the 64-bit range", reason="out_of_range")


def _negate(operand: Expr) -> Expr:
    if isinstance(operand, Lit) and isinstance(operand.value, int) and not isinstance(operand.value, bool):
        return Lit(-operand.value)
    check_literal_range(operand)
    return Unary("NEG", operand)


def parameter(node: exp.Expression) -> Param | None:
    """`$n` (1-based in the text) as a 0-based `Param`, or None if `node` is not a `$…` word.

    The SQLite dialect reads `$1` as an unquoted column name; no valid identifier starts with `$`.
    """
    if not isinstance(node, exp.Column) or node.args.get("table") or not isinstance(node.this, exp.Identifier):
        return None
    word = node.this
    if word.quoted or not str(word.this).startswith("$"):
        return None
    text = str(word.this)[1:]
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise SqlParseError(f"bad parameter {word.this!r}: use $1, $2, …", reason="bad_parameter")
    number = int(text)
    if not 1 <= number <= limits.params_max:
        raise SqlParseError(f"parameter ${number} is out of range 1..{limits.params_max}", reason="bad_parameter")
    return Param(number - 1)


def _column(node: exp.Column, context: Context) -> Expr:
    param = parameter(node)
    if param is not None:
        return param
    if node.args.get("db") or node.args.get("catalog"):
        raise SqlParseError("schema-qualified names are not supported", reason="unsupported")
    table = identifier(node.args["table"], "table") if node.args.get("table") else None
    if isinstance(node.this, exp.Star):
        return Star(table)
    if not context.columns:
        raise SqlParseError(f"column references are not allowed in {context.clause}", reason="unsupported")
    return Column(identifier(node.this, "column"), table)


def _is_null(node: exp.Is, context: Context, depth: int) -> Expr:
    if not isinstance(node.expression, exp.Null):
        # SQLite's `x IS TRUE` tests truthiness (2 IS TRUE holds) rather than equality; refused
        # so nobody meets that surprise: write the condition itself, or `= TRUE`.
        shown = node.expression.sql(dialect="sqlite")
        raise SqlParseError(f"IS {shown} is not supported; only IS [NOT] NULL or IS <expression>", reason="unsupported")
    return IsNull(convert(node.this, context, depth), negated=bool(node.args.get("negate")))


def _in_list(node: exp.In, context: Context, depth: int) -> Expr:
    if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
        raise SqlParseError(f"IN with a subquery is not supported in {context.clause}", reason="unsupported")
    items = node.expressions
    if not items:
        raise SqlParseError("IN needs at least one value", reason="syntax")
    if len(items) > limits.in_list_items_max:
        raise SqlParseError(f"IN lists are limited to {limits.in_list_items_max} items", reason="too_many_items")
    converted = tuple(convert(item, context, depth) for item in items)
    return InList(convert(node.this, context, depth), converted)


def _between(node: exp.Between, context: Context, depth: int) -> Expr:
    if node.args.get("symmetric"):
        raise SqlParseError("BETWEEN SYMMETRIC is not supported", reason="unsupported")
    return Between(
        convert(node.this, context, depth),
        convert(node.args["low"], context, depth),
        convert(node.args["high"], context, depth),
    )


def _like(node: exp.Like, context: Context, depth: int) -> Expr:
    return Like(
        convert(node.this, context, depth),
        convert(node.expression, context, depth),
        negated=bool(node.args.get("negate")),
    )


def _aggregate(node: exp.Expression, context: Context, depth: int) -> Expr:
    func = _AGGREGATES[type(node)]
    if not context.aggregates:
        raise SqlParseError(f"aggregate {func}() is not allowed in {context.clause}", reason="unsupported")
    if node.expressions or any(k not in ("this", "big_int") and v for k, v in node.args.items()):
        raise SqlParseError(f"{func}() takes exactly one argument here", reason="unsupported")
    inner_context = Context(f"the argument of {func}()", context.write, context.columns, aggregates=False)
    argument = node.this
    distinct = isinstance(argument, exp.Distinct)
    if distinct:
        values = argument.expressions
        if len(values) != 1 or argument.args.get("on"):
            raise SqlParseError(f"{func}(DISTINCT …) takes exactly one argument", reason="unsupported")
        argument = values[0]
    if argument is None:
        raise SqlParseError(f"{func}() needs an argument", reason="syntax")
    converted = convert(argument, inner_context, depth)
    if isinstance(converted, Star) and (func != "COUNT" or distinct or converted.table is not None):
        raise SqlParseError(f"{func}(*) is not supported; only COUNT(*)", reason="unsupported")
    return Aggregate(func, converted, distinct)


_Handler = Callable[[Any, Context, int], Expr]
_HANDLERS: dict[type[exp.Expression], _Handler] = {
    exp.Literal: lambda node, context, depth: Lit(_literal(node)),
    exp.Boolean: lambda node, context, depth: Lit(bool(node.this)),
    exp.Null: lambda node, context, depth: Lit(None),
    exp.Parameter: _placeholder,
    exp.Placeholder: _placeholder,
    exp.Column: lambda node, context, depth: _column(node, context),
    exp.Star: lambda node, context, depth: Star(),
    exp.Paren: _paren,
    exp.Not: _not,
    exp.Neg: _neg,
    exp.Is: _is_null,
    exp.In: _in_list,
    exp.Between: _between,
    exp.Like: _like,
    **dict.fromkeys(_AGGREGATES, _aggregate),
}
