"""Refusal of operator mixes whose grouping sqlglot and SQLite may read differently.

Owns: the rule that a comparison-level operator (`= <> < <= > >= IS IN LIKE BETWEEN`) never takes
another comparison as an operand, and that a prefix `NOT` is never the operand of an operator
other than AND, OR and NOT.
Why: the engine rebuilds each expression from sqlglot's tree, so the tree must group operands
exactly as SQLite groups the same text. SQLite puts `< <= > >=` above `= IS IN LIKE BETWEEN`,
left-associative, and gives `NOT` a low precedence; sqlglot's SQLite dialect differs in some of
these chains (it reads `2 >= '1' BETWEEN '1' AND 0` as `2 >= ('1' BETWEEN …)`), and it adds
parentheses of its own when it rewrites `NOT IN`/`NOT LIKE`, so written and synthetic parentheses
cannot be told apart. Rather than compute a silently different answer, every such mix is refused
(a differential fuzz against SQLite found no other disagreement; see tests/craton/sql).
Must never: let through an operand shape the differential test has not covered.
"""

from __future__ import annotations

from sqlglot import expressions as exp

from appliance.craton.query.errors import SqlParseError

_COMPARISONS: tuple[type[exp.Expression], ...] = (
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Is,
    exp.In,
    exp.Like,
    exp.Between,
)
_OPERATORS: tuple[type[exp.Expression], ...] = (
    *_COMPARISONS,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.DPipe,
    exp.Neg,
)


def _is_comparison(node: exp.Expression) -> bool:
    # `x NOT IN (…)`, `x NOT LIKE …` and `x NOT BETWEEN …` arrive as Not(comparison).
    if isinstance(node, exp.Not):
        return isinstance(node.this, _COMPARISONS)
    return isinstance(node, _COMPARISONS)


def _operands(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Between):
        parts = [node.this, node.args.get("low"), node.args.get("high")]
    elif isinstance(node, exp.In):
        parts = [node.this, *node.expressions]
    else:
        parts = [node.this, node.args.get("expression")]
    return [_unwrap(part) for part in parts if isinstance(part, exp.Expression)]


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def check_grouping(node: exp.Expression) -> None:
    """Raise `SqlParseError` when `node` has an operand whose grouping would be ambiguous."""
    if not isinstance(node, _OPERATORS):
        return
    comparison = isinstance(node, _COMPARISONS)
    for operand in _operands(node):
        if comparison and _is_comparison(operand):
            raise SqlParseError(
                f"a comparison of comparisons is not supported ({node.sql(dialect='sqlite')[:80]!r}): "
                "chains of =, <, IS, IN, LIKE, BETWEEN… are grouped differently by different SQL engines; "
                "combine conditions with AND/OR instead",
                reason="ambiguous_precedence",
            )
        if isinstance(operand, exp.Not):
            raise SqlParseError(
                f"NOT as an operand of {node.key.upper()} is not supported ({node.sql(dialect='sqlite')[:80]!r}); "
                "use NOT only around whole conditions joined by AND/OR",
                reason="ambiguous_precedence",
            )
