"""Generic walks over `Expr` trees: children, iteration and parameter substitution.

Owns: the one place that knows every node's child fields.
Must never: give meaning to nodes (that is the parser's and the store's job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from appliance.craton.query.statements import (
    Aggregate,
    Between,
    Binary,
    Expr,
    InList,
    IsNull,
    Like,
    Lit,
    Param,
    Query,
    Unary,
)
from appliance.craton.types import Value

_CHILDREN: dict[type, Callable[[Any], tuple[Expr, ...]]] = {
    Binary: lambda e: (e.left, e.right),
    Unary: lambda e: (e.operand,),
    IsNull: lambda e: (e.operand,),
    InList: lambda e: (e.operand, *e.items),
    Between: lambda e: (e.operand, e.low, e.high),
    Like: lambda e: (e.operand, e.pattern),
    Aggregate: lambda e: (e.arg,),
}

# Rebuild a node from itself and a function applied to each child (same fields as _CHILDREN).
_REBUILD: dict[type, Callable[[Any, Callable[[Expr], Expr]], Expr]] = {
    Binary: lambda e, f: Binary(e.op, f(e.left), f(e.right)),
    Unary: lambda e, f: Unary(e.op, f(e.operand)),
    IsNull: lambda e, f: IsNull(f(e.operand), e.negated),
    InList: lambda e, f: InList(f(e.operand), tuple(f(i) for i in e.items), e.negated),
    Between: lambda e, f: Between(f(e.operand), f(e.low), f(e.high), e.negated),
    Like: lambda e, f: Like(f(e.operand), f(e.pattern), e.negated),
    Aggregate: lambda e, f: Aggregate(e.func, f(e.arg), e.distinct),
}


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node, in source order."""
    get = _CHILDREN.get(type(expr))
    return get(expr) if get is not None else ()


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of the tree, parents before children, without recursion."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def walk_all(exprs: Sequence[Expr | None]) -> Iterator[Expr]:
    """Every node of several optional trees."""
    for expr in exprs:
        if expr is not None:
            yield from walk(expr)


def max_param_index(exprs: Sequence[Expr | None]) -> int:
    """The highest 0-based `Param` index used, or -1 when there is none."""
    return max((node.index for node in walk_all(exprs) if isinstance(node, Param)), default=-1)


def substitute(expr: Expr, params: Sequence[Value]) -> Expr:
    """The same tree with every `Param` replaced by `Lit` of its bound value."""
    if isinstance(expr, Param):
        return Lit(params[expr.index])
    rebuild = _REBUILD.get(type(expr))
    if rebuild is None:
        return expr
    return rebuild(expr, lambda child: substitute(child, params))


def query_roots(query: Query) -> list[Expr | None]:
    """The root of every expression a query holds, in clause order."""
    roots: list[Expr | None] = [item.expr for item in query.items]
    roots.extend((query.where, query.having, query.limit, query.offset))
    roots.extend(query.group_by)
    roots.extend(order.expr for order in query.order_by)
    roots.extend(join.on for join in query.joins)
    return roots
