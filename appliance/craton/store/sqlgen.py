"""Compilation of checked `Expr` trees into SQLite SQL text with numbered, bound parameters.

Owns: name resolution of columns against the tables in scope (with clear errors for unknown or
ambiguous names), the SQL spelling of every operator, and the numbering of parameter slots:
`$n` parameters are `?n`; an `AT OFFSET` position, when present, takes the next slot; literals
written in the statement take the slots after that.
Must never: put a value into SQL text. Only checked identifiers (see `layout.quote`), operator
keywords and digits of select-list positions are ever spelled out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.craton.query.statements import (
    Aggregate,
    Between,
    Binary,
    Column,
    ColumnDef,
    Expr,
    InList,
    IsNull,
    Like,
    Lit,
    Ordinal,
    Param,
    Star,
    Unary,
)
from appliance.craton.store.catalog import TableEntry
from appliance.craton.store.layout import quote
from appliance.craton.types import InvariantViolation, Value

Reject = Callable[[str, str], Exception]


@dataclass(frozen=True, slots=True)
class Source:
    """A table in scope under the name other clauses use for it (its alias or its own name)."""

    binding: str
    entry: TableEntry


class Slots:
    """Numbered SQLite parameters for one compiled statement."""

    __slots__ = ("_first_free", "literals", "offset_slot")

    def __init__(self, param_count: int, *, with_offset: bool) -> None:
        self.offset_slot = f"?{param_count + 1}" if with_offset else None
        self._first_free = param_count + (2 if with_offset else 1)
        self.literals: list[Value] = []

    def literal(self, value: Value) -> str:
        self.literals.append(value)
        return f"?{self._first_free + len(self.literals) - 1}"


class Compiler:
    """Compiles expressions for one statement: its tables, its select aliases, its slots."""

    __slots__ = ("aliases", "by_binding", "reject", "slots", "sources")

    def __init__(self, sources: list[Source], slots: Slots, reject: Reject) -> None:
        self.sources = sources
        self.by_binding = {s.binding: s for s in sources}
        self.slots = slots
        self.reject = reject
        self.aliases: frozenset[str] = frozenset()

    def resolve(self, node: Column) -> tuple[Source | None, ColumnDef | None]:
        """The table and column a reference names; (None, None) for a select alias."""
        if node.table is not None:
            source = self.by_binding.get(node.table)
            if source is None:
                raise self.reject(f"unknown table or alias {node.table}", "unknown_table")
            column = source.entry.columns.get(node.name)
            if column is None:
                raise self.reject(f"table {node.table} has no column {node.name}", "unknown_column")
            return source, column
        owners = [s for s in self.sources if node.name in s.entry.columns]
        if len(owners) > 1:
            raise self.reject(f"column {node.name} is ambiguous; qualify it with a table name", "ambiguous")
        if owners:
            return owners[0], owners[0].entry.columns[node.name]
        if node.name in self.aliases:
            return None, None
        raise self.reject(f"unknown column {node.name}", "unknown_column")

    def expr(self, node: Expr) -> str:
        """SQL for one expression, fully parenthesised so the tree's shape is kept exactly."""
        if isinstance(node, Lit):
            return "NULL" if node.value is None else self.slots.literal(node.value)
        if isinstance(node, Param):
            return f"?{node.index + 1}"
        if isinstance(node, Column):
            self.resolve(node)
            return quote(node.name) if node.table is None else f"{quote(node.table)}.{quote(node.name)}"
        if isinstance(node, Ordinal):
            return str(node.position)
        if isinstance(node, Star):
            raise self.reject("* is allowed only in the select list and in COUNT(*)", "star")
        return self._compound(node)

    def _compound(self, node: Expr) -> str:
        if isinstance(node, Binary):
            return f"({self.expr(node.left)} {node.op} {self.expr(node.right)})"
        if isinstance(node, Unary):
            return f"(NOT {self.expr(node.operand)})" if node.op == "NOT" else f"(- {self.expr(node.operand)})"
        if isinstance(node, Aggregate):
            if isinstance(node.arg, Star):
                return "COUNT(*)"
            return f"{node.func}({'DISTINCT ' if node.distinct else ''}{self.expr(node.arg)})"
        return self._predicate(node)

    def _predicate(self, node: Expr) -> str:
        operand = self.expr(node.operand) if isinstance(node, IsNull | InList | Between | Like) else ""
        negation = "NOT " if isinstance(node, IsNull | InList | Between | Like) and node.negated else ""
        if isinstance(node, IsNull):
            text = f"{operand} IS {negation}NULL"
        elif isinstance(node, InList):
            text = f"{operand} {negation}IN ({', '.join(self.expr(item) for item in node.items)})"
        elif isinstance(node, Between):
            text = f"{operand} {negation}BETWEEN {self.expr(node.low)} AND {self.expr(node.high)}"
        elif isinstance(node, Like):
            text = f"{operand} {negation}LIKE {self.expr(node.pattern)}"
        else:
            raise InvariantViolation(f"every expression node is compiled: {type(node).__name__}")
        return f"({text})"


def display(node: Expr) -> str:
    """A readable name for an unnamed select-list entry (the result's column header)."""
    if isinstance(node, Column):
        text = node.name
    elif isinstance(node, Lit):
        text = _display_value(node.value)
    elif isinstance(node, Param):
        text = f"${node.index + 1}"
    elif isinstance(node, Binary):
        text = f"{display(node.left)} {node.op} {display(node.right)}"
    elif isinstance(node, Unary):
        text = f"NOT {display(node.operand)}" if node.op == "NOT" else f"-{display(node.operand)}"
    elif isinstance(node, Aggregate):
        inner = "*" if isinstance(node.arg, Star) else display(node.arg)
        text = f"{node.func}({'DISTINCT ' if node.distinct else ''}{inner})"
    else:
        text = type(node).__name__.lower()
    return text


def _display_value(value: Value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return str(value)
