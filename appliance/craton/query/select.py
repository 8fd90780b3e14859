"""Translation of SELECT into a `Query` template, and the grouping rule for aggregate queries.

Owns: the read subset: select list (with `*`, `t.*`, aliases, DISTINCT), FROM one table, INNER
and LEFT joins with ON, WHERE, GROUP BY, HAVING, ORDER BY (with 1-based positions), LIMIT and
OFFSET (integers or $n), and COUNT/SUM/AVG/MIN/MAX.
Must never: let a column outside GROUP BY and outside any aggregate into an aggregate query: SQLite
would answer with the value of an arbitrary row, which depends on the plan and is not
reproducible across replicas or against another copy of the data.
"""

from __future__ import annotations

import msgspec
from sqlglot import expressions as exp

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.expressions import Context, convert, identifier, parameter
from appliance.craton.query.shape import only_args, table_name
from appliance.craton.query.statements import (
    Aggregate,
    Column,
    Expr,
    Join,
    Lit,
    OrderItem,
    Ordinal,
    Param,
    Query,
    SelectItem,
    Star,
    TableRef,
)
from appliance.craton.query.tree import children, max_param_index, query_roots, walk_all

_SELECT_ARGS = frozenset(
    {"expressions", "from_", "joins", "where", "group", "having", "order", "limit", "offset", "distinct"}
)


def select(node: exp.Select) -> Query:
    """Translate a SELECT; parameters stay as `Param` placeholders."""
    only_args(node, _SELECT_ARGS, "SELECT")
    items = _items(node)
    # With `*` the width of the result is known only against the schema (checked by the store).
    width = None if any(isinstance(i.expr, Star) for i in items) else len(items)
    from_table, joins = _sources(node)
    where = _clause(node.args.get("where"), Context("WHERE", write=False))
    group_by = _group_by(node, width)
    having = _clause(node.args.get("having"), Context("HAVING", write=False, aggregates=True))
    order_by = _order_by(node, width)
    query = Query(
        items=items,
        from_table=from_table,
        joins=joins,
        where=where,
        group_by=group_by,
        having=having,
        order_by=order_by,
        limit=_bound(node.args.get("limit"), "LIMIT"),
        offset=_bound(node.args.get("offset"), "OFFSET"),
        distinct=_distinct(node),
    )
    _check_sources(query)
    _check_grouping(query)
    return msgspec.structs.replace(query, param_count=max_param_index(query_roots(query)) + 1)


def _items(node: exp.Select) -> tuple[SelectItem, ...]:
    if not node.expressions:
        raise SqlParseError("SELECT needs at least one column", reason="syntax")
    if len(node.expressions) > limits.select_items_max:
        raise SqlParseError(f"a select list has at most {limits.select_items_max} entries", reason="too_many_items")
    context = Context("the select list", write=False, aggregates=True)
    items = []
    for entry in node.expressions:
        if isinstance(entry, exp.Alias):
            only_args(entry, frozenset({"this", "alias"}), "a select alias")
            items.append(SelectItem(convert(entry.this, context), identifier(entry.args["alias"], "alias")))
        else:
            items.append(SelectItem(convert(entry, context)))
    return tuple(items)


def _sources(node: exp.Select) -> tuple[TableRef | None, tuple[Join, ...]]:
    source = node.args.get("from_")
    joins = node.args.get("joins") or []
    if source is None:
        if joins:
            raise SqlParseError("JOIN needs a FROM table", reason="syntax")
        return None, ()
    only_args(source, frozenset({"this"}), "FROM")
    if isinstance(source.this, exp.Subquery | exp.Select):
        raise SqlParseError("subquery in FROM is not supported", reason="unsupported")
    name, alias = table_name(source.this, "FROM", alias=True)
    if len(joins) > limits.joins_max:
        raise SqlParseError(f"a SELECT has at most {limits.joins_max} joins", reason="too_many_joins")
    return TableRef(name, alias), tuple(_join(j) for j in joins)


def _join(node: exp.Join) -> Join:
    side = str(node.args.get("side") or "").upper()
    kind = str(node.args.get("kind") or "").upper()
    only_args(node, frozenset({"this", "on", "side", "kind"}), "JOIN")
    if side == "" and kind in ("", "INNER"):
        join_kind = "INNER"
    elif side == "LEFT" and kind in ("", "OUTER"):
        join_kind = "LEFT"
    else:
        shown = " ".join(p for p in (side, kind) if p) or "this"
        raise SqlParseError(f"{shown} JOIN is not supported; use [INNER] JOIN or LEFT JOIN", reason="unsupported")
    on = node.args.get("on")
    if on is None:
        raise SqlParseError(f"{join_kind} JOIN needs an ON condition (no comma or cross joins)", reason="syntax")
    if isinstance(node.this, exp.Subquery | exp.Select):
        raise SqlParseError("subquery in JOIN is not supported", reason="unsupported")
    name, alias = table_name(node.this, "JOIN", alias=True)
    return Join(join_kind, TableRef(name, alias), convert(on, Context("ON", write=False)))  # type: ignore[arg-type]


def _clause(node: exp.Expression | None, context: Context) -> Expr | None:
    if node is None:
        return None
    return convert(node.this, context)


def _group_by(node: exp.Select, item_count: int | None) -> tuple[Expr, ...]:
    group = node.args.get("group")
    if group is None:
        return ()
    only_args(group, frozenset({"expressions"}), "GROUP BY")
    context = Context("GROUP BY", write=False)
    return tuple(_positional(e, context, item_count, "GROUP BY") for e in group.expressions)


def _order_by(node: exp.Select, item_count: int | None) -> tuple[OrderItem, ...]:
    order = node.args.get("order")
    if order is None:
        return ()
    only_args(order, frozenset({"expressions"}), "ORDER BY")
    context = Context("ORDER BY", write=False, aggregates=True)
    result = []
    for entry in order.expressions:
        only_args(entry, frozenset({"this", "desc", "nulls_first"}), "ORDER BY")
        expr = _positional(entry.this, context, item_count, "ORDER BY")
        result.append(OrderItem(expr, bool(entry.args.get("desc"))))
    return tuple(result)


def _positional(node: exp.Expression, context: Context, item_count: int | None, clause: str) -> Expr:
    # SQLite reads an integer constant in ORDER BY / GROUP BY as a position in the select list.
    if isinstance(node, exp.Literal) and not node.is_string:
        text = str(node.this)
        if not text.isdigit() or int(text) < 1 or (item_count is not None and int(text) > item_count):
            shown = f"1..{item_count}" if item_count is not None else "the result columns"
            raise SqlParseError(f"{clause} position {text} is not in {shown}", reason="bad_position")
        return Ordinal(int(text))
    return convert(node, context)


def _bound(node: exp.Expression | None, clause: str) -> Lit | Param | None:
    if node is None:
        return None
    value = node.args.get("expression")
    if isinstance(value, exp.Literal) and not value.is_string and str(value.this).isdigit():
        return Lit(int(str(value.this)))
    param = parameter(value) if value is not None else None
    if param is not None:
        return param
    raise SqlParseError(f"{clause} takes a non-negative integer or a $n parameter", reason="syntax")


def _distinct(node: exp.Select) -> bool:
    distinct = node.args.get("distinct")
    if distinct is None:
        return False
    if distinct.args.get("on") is not None:
        raise SqlParseError("DISTINCT ON is not supported", reason="unsupported")
    return True


def _check_sources(query: Query) -> None:
    tables = [query.from_table] if query.from_table is not None else []
    tables += [join.table for join in query.joins]
    bindings = [t.binding for t in tables]
    duplicate = next((b for b in bindings if bindings.count(b) > 1), None)
    if duplicate is not None:
        raise SqlParseError(f"table name {duplicate} is used twice; give each an alias", reason="ambiguous")
    for item in query.items:
        if isinstance(item.expr, Star) and not tables:
            raise SqlParseError("SELECT * needs a FROM table", reason="syntax")
        if isinstance(item.expr, Star) and item.alias is not None:
            raise SqlParseError("* cannot take an alias", reason="syntax")


def _check_grouping(query: Query) -> None:
    roots: list[Expr | None] = [i.expr for i in query.items]
    roots.extend(o.expr for o in query.order_by)
    roots.append(query.having)
    aggregated = any(isinstance(n, Aggregate) for n in walk_all(roots)) or bool(query.group_by)
    if not aggregated:
        return
    keys = {query.items[k.position - 1].expr if isinstance(k, Ordinal) else k for k in query.group_by}
    aliases = {i.alias for i in query.items if i.alias is not None}
    # GROUP BY may name a select alias; the aliased expression is then a grouping key too.
    keys |= {i.expr for i in query.items if i.alias is not None and Column(i.alias) in keys}
    for item in query.items:
        if isinstance(item.expr, Star):
            raise SqlParseError("SELECT * cannot be combined with GROUP BY or aggregates", reason="grouping")
        _check_grouped(item.expr, keys, set())
    for expr in [o.expr for o in query.order_by] + ([query.having] if query.having is not None else []):
        _check_grouped(expr, keys, aliases)


def _check_grouped(expr: Expr, keys: set[Expr], aliases: set[str]) -> None:
    stack = [expr]
    while stack:
        node = stack.pop()
        if node in keys or isinstance(node, Aggregate | Ordinal):
            continue
        if isinstance(node, Column):
            if node.table is None and node.name in aliases:
                continue
            raise SqlParseError(f"column {node.name} must appear in GROUP BY or inside an aggregate", reason="grouping")
        stack.extend(children(node))
