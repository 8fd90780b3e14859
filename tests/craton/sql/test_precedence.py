"""Operator grouping: whatever expression text Craton accepts, it computes exactly what SQLite computes for that text."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.craton.query import SqlParseError, parse_statement
from appliance.craton.store.sqlgen import Compiler, Slots

_LEAVES = ["0", "1", "2", "-3", "NULL", "'a'", "'A'", "'1'", "''", "TRUE", "FALSE"]
_BINARY = ["=", "==", "<>", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "||", "AND", "OR", "IS", "IS NOT"]


def _compile(sql: str) -> tuple[str, list[object]]:
    statement = parse_statement(sql)
    slots = Slots(0, with_offset=False)

    def reject(message: str, reason: str) -> Exception:
        return AssertionError(message)

    text = Compiler([], slots, reject).expr(statement.query.items[0].expr)  # type: ignore[union-attr]
    return "SELECT " + text, slots.literals


def _typed(value: object) -> tuple[str, object]:
    return (type(value).__name__, value)


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 3) -> str:
    """Unparenthesised operator soup over literals: the hardest case for grouping."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_LEAVES))
    inner = _expressions(depth - 1)
    negated = draw(st.sampled_from(["", "NOT "]))
    items = ", ".join(draw(st.lists(st.sampled_from(_LEAVES), min_size=1, max_size=3)))
    forms = [
        lambda: f"{draw(inner)} {draw(st.sampled_from(_BINARY))} {draw(inner)}",
        lambda: f"{draw(inner)} IS {negated}NULL",
        lambda: f"{draw(inner)} {negated}BETWEEN {draw(inner)} AND {draw(inner)}",
        lambda: f"{draw(inner)} {negated}IN ({items})",
        lambda: f"{draw(inner)} {negated}LIKE {draw(inner)}",
        lambda: f"{draw(st.sampled_from(['NOT ', '- ']))}{draw(inner)}",
    ]
    return draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]).map(lambda i: forms[i]))()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=_expressions())
def test_accepted_expressions_compute_what_sqlite_computes(expression: str) -> None:
    """For random unparenthesised operator mixes, Craton either refuses (code 7) or returns SQLite's value and type."""
    with contextlib.closing(sqlite3.connect(":memory:")) as oracle:
        try:
            expected = oracle.execute("SELECT " + expression).fetchone()[0]
        except sqlite3.Error:
            return  # not valid SQLite to begin with: there is nothing to agree with
        try:
            sql, literals = _compile("SELECT " + expression)
        except SqlParseError:
            return  # refused with code 7: allowed, a refusal is never a wrong answer
        got = oracle.execute(sql, literals).fetchone()[0]
    assert _typed(got) == _typed(expected), (expression, sql)


@pytest.mark.parametrize(
    "expression",
    [
        "1 + 2 * 3 - 4 / 2 % 3",
        "'a' || 1 + 2",
        "2 * 3 || 4",
        "NOT 1 = 2",
        "NOT 0 AND 0",
        "1 OR 0 AND 0",
        "- 1 IS NULL",
        "1 + 1 BETWEEN 2 AND 2",
        "'b' LIKE 'B' || ''",
        "3 NOT IN (1, 2) AND 'x' NOT LIKE 'y%'",
        "1 BETWEEN 0 AND 1 AND 0",
        "NULL IS NULL OR 1 IS NOT 2",
        "5 - 3 - 1 = 1",
    ],
)
def test_common_expressions_are_accepted_and_equal(expression: str) -> None:
    """Everyday operator mixes are accepted (not refused) and agree with SQLite."""
    sql, literals = _compile("SELECT " + expression)
    with contextlib.closing(sqlite3.connect(":memory:")) as oracle:
        expected = oracle.execute("SELECT " + expression).fetchone()[0]
        assert _typed(oracle.execute(sql, literals).fetchone()[0]) == _typed(expected)


@pytest.mark.parametrize(
    "expression",
    ["2 >= '1' BETWEEN '1' AND 0", "1 = 2 < 3", "(1 = 2) = 0", "1 || NOT 0", "1 IS TRUE", "a IN (1) = b"],
)
def test_ambiguous_mixes_are_refused(expression: str) -> None:
    """Comparison chains, NOT inside other operators and IS TRUE are refused with a message, never guessed."""
    with pytest.raises(SqlParseError) as caught:
        parse_statement("SELECT " + expression)
    assert caught.value.code == 7
