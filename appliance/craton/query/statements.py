"""Parsed SQL statements: frozen, msgpack-encodable, deterministic data shared by kernel, store and server.

Owns: the statement and expression Structs, the column types, and their canonical msgpack encoding.
Must never: parse text, touch storage, or hold anything that is not plain data (two equal
statements must encode to the same bytes, since the kernel journals and hashes them).

Writes (`CreateTable`, `DropTable`, `Insert`, `Update`, `Delete`) carry their parameters already
bound: their trees hold only `Lit` values, never `Param`. A `Select` keeps its `Query` as a
template with `Param` nodes plus the bound `params`, so the store can cache one compiled plan per
template and reuse it for every parameter set.

Identifiers are lower-cased at parse time and match `[a-z_][a-z0-9_]*`; the prefix `craton_` is
reserved for the store's own bookkeeping columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import msgspec

if TYPE_CHECKING:
    # A SQL value as stored and bound: NULL, BOOLEAN, BIGINT or TIMESTAMP (int, ns), TEXT, BYTES.
    from appliance.craton.types import Value
else:
    # msgspec cannot decode a union holding both str and bytes, but msgpack itself keeps them
    # apart (str and bin types), so at run time values decode as Any and `codec.decode_statement`
    # checks every one of them.
    Value = Any
# What a query can return: a stored value, or a float produced by AVG (or arithmetic on it).
ResultValue: TypeAlias = bool | int | float | str | bytes | None

ColumnType = Literal["BIGINT", "TEXT", "BOOLEAN", "TIMESTAMP", "BYTES"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("BIGINT", "TEXT", "BOOLEAN", "TIMESTAMP", "BYTES")

BinaryOp = Literal["AND", "OR", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "||", "IS", "IS NOT"]
UnaryOp = Literal["NOT", "NEG"]
AggregateFunc = Literal["COUNT", "SUM", "AVG", "MIN", "MAX"]
JoinKind = Literal["INNER", "LEFT"]


class _Node(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    """Base of every expression node: frozen, tagged by class name in msgpack."""


class Lit(_Node, frozen=True):
    """A literal value (or, in writes, a bound parameter)."""

    value: Value


class Param(_Node, frozen=True):
    """A `$n` placeholder; `index` is 0-based (`$1` is index 0). Only ever inside a `Select`."""

    index: int


class Column(_Node, frozen=True):
    """A column reference, optionally qualified by a table name or alias."""

    name: str
    table: str | None = None


class Star(_Node, frozen=True):
    """`*` or `t.*` in a select list, or the argument of `COUNT(*)`."""

    table: str | None = None


class Ordinal(_Node, frozen=True):
    """`ORDER BY 2` / `GROUP BY 1`: a 1-based position in the select list (not a constant)."""

    position: int


class Unary(_Node, frozen=True):
    """`NOT x` or `-x`."""

    op: UnaryOp
    operand: Expr


class Binary(_Node, frozen=True):
    """Logical, comparison, arithmetic and concatenation operators; IS / IS NOT compare NULL-safely."""

    op: BinaryOp
    left: Expr
    right: Expr


class InList(_Node, frozen=True):
    """`x [NOT] IN (a, b, …)` over a list of expressions (no subqueries)."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False


class Between(_Node, frozen=True):
    """`x [NOT] BETWEEN low AND high`."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False


class IsNull(_Node, frozen=True):
    """`x IS [NOT] NULL`."""

    operand: Expr
    negated: bool = False


class Like(_Node, frozen=True):
    """`x [NOT] LIKE pattern` with SQLite semantics (ASCII case-insensitive, `%` and `_`)."""

    operand: Expr
    pattern: Expr
    negated: bool = False


class Aggregate(_Node, frozen=True):
    """COUNT/SUM/AVG/MIN/MAX; `arg` is `Star()` for `COUNT(*)`."""

    func: AggregateFunc
    arg: Expr
    distinct: bool = False


Expr: TypeAlias = Lit | Param | Column | Star | Ordinal | Unary | Binary | InList | Between | IsNull | Like | Aggregate


class _Statement(msgspec.Struct, frozen=True, tag=True, forbid_unknown_fields=True):
    """Base of every statement: frozen, tagged by class name in msgpack."""


class ColumnDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One column of a CREATE TABLE; primary-key columns are always `not_null`."""

    name: str
    type: ColumnType
    not_null: bool = False


class CreateTable(_Statement, frozen=True):
    """`CREATE TABLE [IF NOT EXISTS] t (cols…, PRIMARY KEY (…))`; a primary key is required."""

    table: str
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...]
    if_not_exists: bool = False


class DropTable(_Statement, frozen=True):
    """`DROP TABLE [IF EXISTS] t`; the table's history stays readable with AT OFFSET."""

    table: str
    if_exists: bool = False


class Insert(_Statement, frozen=True):
    """`INSERT INTO t [(cols)] VALUES (…), (…)`; empty `columns` means every column in table order."""

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]


class Assignment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`column = expression` in an UPDATE."""

    column: str
    value: Expr


class Update(_Statement, frozen=True):
    """`UPDATE t SET … [WHERE …]`."""

    table: str
    assignments: tuple[Assignment, ...]
    where: Expr | None = None


class Delete(_Statement, frozen=True):
    """`DELETE FROM t [WHERE …]`."""

    table: str
    where: Expr | None = None


class SelectItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One entry of the select list; `expr` may be a `Star`."""

    expr: Expr
    alias: str | None = None


class TableRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A table in FROM or JOIN; `binding` is the name other clauses use to qualify its columns."""

    name: str
    alias: str | None = None

    @property
    def binding(self) -> str:
        return self.alias if self.alias is not None else self.name


class Join(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`[INNER|LEFT] JOIN table ON condition`."""

    kind: JoinKind
    table: TableRef
    on: Expr


class OrderItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ORDER BY key (SQLite order: NULLs first ascending, last descending)."""

    expr: Expr
    descending: bool = False


class Query(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The shape of a SELECT with `Param` placeholders: the unit the store compiles and caches."""

    items: tuple[SelectItem, ...]
    from_table: TableRef | None = None
    joins: tuple[Join, ...] = ()
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: Lit | Param | None = None
    offset: Lit | Param | None = None
    distinct: bool = False
    param_count: int = 0


class Select(_Statement, frozen=True):
    """A read: the template `query`, its bound `params`, and the log offset to read at (None = now)."""

    query: Query
    params: tuple[Value, ...] = ()
    at_offset: int | None = None


WriteStatement: TypeAlias = CreateTable | DropTable | Insert | Update | Delete
Statement: TypeAlias = CreateTable | DropTable | Insert | Update | Delete | Select
