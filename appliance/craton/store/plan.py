"""Compilation of a `Query` over resolved tables into one SQLite SELECT over the versioned tables.

Owns: `Plan` (SQL text, literal values, result column names, which result columns are BOOLEAN)
and `compile_query`. Each table in FROM/JOIN becomes a subquery selecting its visible versions
under the user's own table name or alias, so every other clause runs unchanged and SQLite gives
exactly the answer it would give on a plain table holding those rows.
Must never: read data; plans are pure functions of the query and the catalog entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.craton.query import limits
from appliance.craton.query.statements import Column, Expr, Lit, Ordinal, Param, Query, SelectItem, Star
from appliance.craton.store.catalog import TableEntry
from appliance.craton.store.layout import physical_name, quote, visible_sql
from appliance.craton.store.sqlgen import Compiler, Reject, Slots, Source, display
from appliance.craton.types import Value, invariant


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled SELECT: run `sql` with `params + (offset?) + literals`.

    `capped` plans carry `LIMIT result_rows_max + 1` themselves, so all their rows can be fetched.
    """

    sql: str
    literals: tuple[Value, ...]
    capped: bool
    with_offset: bool
    names: tuple[str, ...]
    boolean_columns: tuple[int, ...]


def compile_query(
    query: Query, entries: list[TableEntry], param_count: int, *, with_offset: bool, reject: Reject
) -> Plan:
    """Compile `query`; `entries` are its FROM and JOIN tables in order, already resolved.

    `param_count` is the number of bound parameters (at least `query.param_count`: an
    `AT OFFSET $n` parameter may come on top); they occupy slots ?1..?param_count.
    """
    invariant(param_count >= query.param_count, "every parameter the query uses is bound")
    refs = ([query.from_table] if query.from_table is not None else []) + [j.table for j in query.joins]
    sources = [Source(ref.binding, entry) for ref, entry in zip(refs, entries, strict=True)]
    slots = Slots(param_count, with_offset=with_offset)
    compiler = Compiler(sources, slots, reject)
    parts = ["SELECT DISTINCT" if query.distinct else "SELECT"]
    select_list, names, booleans = _select_list(query.items, compiler)
    parts.append(select_list)
    parts.extend(_from(query, sources, compiler))
    compiler.aliases = frozenset(item.alias for item in query.items if item.alias is not None)
    parts.extend(_tail(query, compiler, len(names)))
    capped = query.limit is None
    return Plan(" ".join(parts), tuple(slots.literals), capped, with_offset, tuple(names), tuple(booleans))


def _select_list(items: tuple[SelectItem, ...], compiler: Compiler) -> tuple[str, list[str], list[int]]:
    sql: list[str] = []
    names: list[str] = []
    booleans: list[int] = []
    for item in items:
        if isinstance(item.expr, Star):
            for source in _star_sources(item.expr, compiler):
                for column in source.entry.definition.columns:
                    if column.type == "BOOLEAN":
                        booleans.append(len(names))
                    sql.append(f"{quote(source.binding)}.{quote(column.name)}")
                    names.append(column.name)
            continue
        if isinstance(item.expr, Column):
            _, column_def = compiler.resolve(item.expr)
            if column_def is not None and column_def.type == "BOOLEAN":
                booleans.append(len(names))
        text = compiler.expr(item.expr)
        sql.append(f"{text} AS {quote(item.alias)}" if item.alias is not None else text)
        names.append(item.alias if item.alias is not None else display(item.expr))
    return ", ".join(sql), names, booleans


def _star_sources(star: Star, compiler: Compiler) -> list[Source]:
    if star.table is None:
        return compiler.sources
    source = compiler.by_binding.get(star.table)
    if source is None:
        raise compiler.reject(f"unknown table or alias {star.table}", "unknown_table")
    return [source]


def _source_sql(source: Source, compiler: Compiler) -> str:
    columns = ", ".join(quote(c.name) for c in source.entry.definition.columns)
    visible = visible_sql(compiler.slots.offset_slot)
    table = physical_name(source.entry.table_id)
    return f"(SELECT {columns} FROM {table} WHERE {visible}) AS {quote(source.binding)}"  # noqa: S608 (checked identifiers only; values are bound)


def _from(query: Query, sources: list[Source], compiler: Compiler) -> list[str]:
    if not sources:
        return []
    parts = ["FROM", _source_sql(sources[0], compiler)]
    for join, source in zip(query.joins, sources[1:], strict=True):
        keyword = "LEFT JOIN" if join.kind == "LEFT" else "JOIN"
        parts.extend([keyword, _source_sql(source, compiler), "ON", compiler.expr(join.on)])
    if query.where is not None:
        # WHERE sees table columns only (select aliases are not in scope yet).
        parts.extend(["WHERE", compiler.expr(query.where)])
    return parts


def _tail(query: Query, compiler: Compiler, result_width: int) -> list[str]:
    parts: list[str] = []
    if query.group_by:
        parts.extend(["GROUP BY", ", ".join(_positional(e, compiler, result_width) for e in query.group_by)])
    if query.having is not None:
        parts.extend(["HAVING", compiler.expr(query.having)])
    if query.order_by:
        keys = [_positional(o.expr, compiler, result_width) + (" DESC" if o.descending else "") for o in query.order_by]
        parts.extend(["ORDER BY", ", ".join(keys)])
    # Without a LIMIT of its own, a query gets one just above the result cap, so SQLite stops
    # early and the caller can fetch everything at once and still detect an oversized answer.
    limit = _bound(query.limit, compiler) if query.limit is not None else str(limits.result_rows_max + 1)
    parts.extend(["LIMIT", limit])
    if query.offset is not None:
        parts.extend(["OFFSET", _bound(query.offset, compiler)])
    return parts


def _positional(expr: Expr, compiler: Compiler, result_width: int) -> str:
    if isinstance(expr, Ordinal) and expr.position > result_width:
        raise compiler.reject(f"position {expr.position} is beyond the {result_width} result columns", "position")
    return compiler.expr(expr)


def _bound(value: Lit | Param, compiler: Compiler) -> str:
    return compiler.expr(value)
