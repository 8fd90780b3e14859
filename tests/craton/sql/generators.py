"""Hypothesis strategies for SQL over two fixed tables, rendered for Craton (`$n`) and for stdlib sqlite3 (`?n`).

Every generated piece is a `Sql` (text with parameter markers, plus the parameter values, left to
right), so the very same text runs on both sides; only the parameter spelling differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

MARK = "\x01"

SCHEMA = [
    "CREATE TABLE t0 (k BIGINT PRIMARY KEY, a BIGINT, b TEXT, c BOOLEAN, d BYTES, e TIMESTAMP NOT NULL)",
    "CREATE TABLE t1 (k BIGINT, j BIGINT, a BIGINT, b TEXT, PRIMARY KEY (k, j))",
]
COLUMNS = {
    "t0": [("k", "int"), ("a", "int"), ("b", "text"), ("c", "bool"), ("d", "bytes"), ("e", "int")],
    "t1": [("k", "int"), ("j", "int"), ("a", "int"), ("b", "text")],
}

# Big enough to exercise 64-bit arithmetic, small enough that a few doublings never overflow into
# a REAL (which SQLite would store silently and Craton refuses; tested in test_store.py).
INTS = st.one_of(st.integers(-3, 3), st.sampled_from([7, 100, 2**40, -(2**40)]))
TEXTS = st.sampled_from(["", "a", "A", "ab", "aB", "Ab", "b", "ba", "a%", "_", "é", "É", "z z", "it's"])
BYTES = st.sampled_from([b"", b"\x00", b"a", b"ab", b"\xff", b"\x00\x01"])
BOOLS = st.booleans()


@dataclass(frozen=True)
class Sql:
    """SQL text with `MARK` where each parameter goes, and the parameter values in order."""

    text: str
    params: tuple[object, ...] = ()

    def __add__(self, other: Sql | str) -> Sql:
        if isinstance(other, str):
            return Sql(self.text + other, self.params)
        return Sql(self.text + other.text, self.params + other.params)

    def craton(self) -> str:
        return _number(self.text, "$")

    def oracle(self) -> str:
        return _number(self.text, "?")


def _number(text: str, prefix: str) -> str:
    parts = text.split(MARK)
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"{prefix}{i}{part}")
    return "".join(out)


def join(pieces: list[Sql], separator: str) -> Sql:
    result = Sql("")
    for i, piece in enumerate(pieces):
        result = result + (separator if i else "") + piece
    return result


def text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal(kind: str) -> st.SearchStrategy[Sql]:
    """A literal or a parameter of the given kind (NULL sometimes)."""
    values: st.SearchStrategy[object] = {"int": INTS, "text": TEXTS, "bool": BOOLS, "bytes": BYTES}[kind]
    as_text = {
        "int": lambda v: Sql(str(v)),
        "text": lambda v: Sql(text_literal(v)),
        "bool": lambda v: Sql("TRUE" if v else "FALSE"),
        "bytes": lambda v: Sql(MARK, (v,)),
    }[kind]
    return st.one_of(
        values.map(as_text),
        values.map(lambda v: Sql(MARK, (v,))),
        st.just(Sql("NULL")),
    )


def leaf(scope: list[tuple[str | None, str, str]]) -> st.SearchStrategy[Sql]:
    """A column in scope or a literal/parameter of any kind."""
    columns = st.sampled_from(scope).map(lambda c: Sql(f"{c[0]}.{c[1]}" if c[0] else c[1]))
    literals = st.sampled_from(["int", "text", "bool"]).flatmap(literal)
    return st.one_of(columns, columns, literals)


_ARITHMETIC = ["+", "-", "*", "/", "%", "||"]
_COMPARE = ["=", "<>", "<", "<=", ">", ">=", "!=", "==", "IS", "IS NOT"]


def value(scope: list[tuple[str | None, str, str]], depth: int = 2) -> st.SearchStrategy[Sql]:
    """Value expressions: leaves, arithmetic and concatenation, often without parentheses."""
    base = leaf(scope)
    if depth == 0:
        return base
    sub = value(scope, depth - 1)
    arithmetic = st.tuples(sub, st.sampled_from(_ARITHMETIC), sub, st.booleans()).map(
        lambda t: Sql("(") + t[0] + f" {t[1]} " + t[2] + ")" if t[3] else t[0] + f" {t[1]} " + t[2]
    )
    negated = sub.map(lambda v: Sql("- (") + v + ")")
    return st.one_of(base, arithmetic, arithmetic, negated)


def condition(scope: list[tuple[str | None, str, str]], depth: int = 2) -> st.SearchStrategy[Sql]:
    """Conditions: comparisons, IS NULL, IN, BETWEEN, LIKE over values, joined by AND/OR/NOT."""
    operand = value(scope, 1)
    # `x IS TRUE` / `x IS FALSE` are refused (SQLite reads them as truth tests), so the right side of
    # IS is never a bare boolean keyword here.
    right = operand.filter(lambda v: v.text not in ("TRUE", "FALSE"))
    comparison = st.tuples(operand, st.sampled_from(_COMPARE), right).map(lambda t: t[0] + f" {t[1]} " + t[2])
    is_null = st.tuples(operand, st.sampled_from([" IS NULL", " IS NOT NULL"])).map(lambda t: t[0] + t[1])
    in_list = st.tuples(operand, st.booleans(), st.lists(leaf(scope), min_size=1, max_size=4)).map(
        lambda t: t[0] + (" NOT IN (" if t[1] else " IN (") + join(t[2], ", ") + ")"
    )
    between = st.tuples(operand, st.booleans(), operand, operand).map(
        lambda t: t[0] + (" NOT BETWEEN " if t[1] else " BETWEEN ") + t[2] + " AND " + t[3]
    )
    patterns = st.sampled_from(["a%", "%a", "_", "%", "A_", "%b%", "é", "É%", ""]).map(lambda p: Sql(text_literal(p)))
    like = st.tuples(operand, st.booleans(), st.one_of(patterns, leaf(scope))).map(
        lambda t: t[0] + (" NOT LIKE " if t[1] else " LIKE ") + t[2]
    )
    atom = st.one_of(comparison, comparison, is_null, in_list, between, like, leaf(scope))
    if depth == 0:
        return atom
    sub = condition(scope, depth - 1)
    logical = st.tuples(sub, st.sampled_from(["AND", "OR"]), sub, st.booleans()).map(
        lambda t: Sql("(") + t[0] + f" {t[1]} " + t[2] + ")" if t[3] else t[0] + f" {t[1]} " + t[2]
    )
    negation = sub.map(lambda c: Sql("NOT ") + c)
    return st.one_of(atom, logical, logical, negation)


def expression(scope: list[tuple[str | None, str, str]], depth: int = 2) -> st.SearchStrategy[Sql]:
    """A value or a condition (select-list entries may be either)."""
    return st.one_of(value(scope, depth), condition(scope, depth))


def scope_of(table: str, qualifier: str | None) -> list[tuple[str | None, str, str]]:
    return [(qualifier, name, kind) for name, kind in COLUMNS[table]]


@st.composite
def t0_rows(draw: st.DrawFn, max_rows: int = 8) -> list[tuple[object, ...]]:
    keys = draw(st.lists(st.integers(0, 12), min_size=1, max_size=max_rows))
    nullable = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return [
        (k, draw(nullable(INTS)), draw(nullable(TEXTS)), draw(nullable(BOOLS)), draw(nullable(BYTES)), draw(INTS))
        for k in keys
    ]


@st.composite
def t1_rows(draw: st.DrawFn, max_rows: int = 8) -> list[tuple[object, ...]]:
    keys = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2)), min_size=1, max_size=max_rows))
    nullable = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return [(k, j, draw(nullable(INTS)), draw(nullable(TEXTS))) for k, j in keys]


def insert(table: str, rows: list[tuple[object, ...]]) -> Sql:
    names = ", ".join(name for name, _ in COLUMNS[table])
    values = join([Sql("(" + ", ".join(MARK for _ in row) + ")", tuple(row)) for row in rows], ", ")
    return Sql(f"INSERT INTO {table} ({names}) VALUES ") + values


# Assignments that keep each column's type (so SQLite, which would coerce silently, and Craton,
# which refuses a type change, agree); `e = NULL` is a NOT NULL violation on both sides.
_ASSIGNMENTS = {
    "a": ["a + 1", "a * 2", "-a", "NULL", "k", "e - a"],
    "b": ["b || 'x'", "'new'", "NULL", "b || b"],
    "c": ["NOT c", "TRUE", "NULL", "c AND (a > 0)"],
    "e": ["e + 1", "e * 2", "NULL"],
}


@st.composite
def dml(draw: st.DrawFn) -> Sql:
    """One INSERT, UPDATE or DELETE on t0 or t1."""
    kind = draw(st.sampled_from(["insert0", "insert0", "insert1", "update", "update", "delete", "delete1"]))
    if kind == "insert0":
        return insert("t0", draw(t0_rows(4)))
    if kind == "insert1":
        return insert("t1", draw(t1_rows(4)))
    where = draw(st.one_of(st.none(), condition(scope_of("t0", None), 2)))
    suffix = Sql("") if where is None else Sql(" WHERE ") + where
    if kind == "update":
        columns = draw(st.lists(st.sampled_from(sorted(_ASSIGNMENTS)), min_size=1, max_size=3, unique=True))
        sets = ", ".join(f"{c} = {draw(st.sampled_from(_ASSIGNMENTS[c]))}" for c in columns)
        return Sql(f"UPDATE t0 SET {sets}") + suffix
    if kind == "delete1":
        where1 = draw(condition(scope_of("t1", None), 2))
        return Sql("DELETE FROM t1 WHERE ") + where1
    return Sql("DELETE FROM t0") + suffix


@st.composite
def plain_query(draw: st.DrawFn) -> tuple[Sql, bool]:
    """SELECT over t0; returns the query and whether its row order is fully determined."""
    scope = scope_of("t0", None)
    star = draw(st.booleans()) and draw(st.booleans())
    items = [Sql("*")] if star else draw(st.lists(expression(scope, 2), min_size=1, max_size=3))
    width = len(COLUMNS["t0"]) if star else len(items)
    query = Sql("SELECT ") + join(items, ", ") + " FROM t0"
    if draw(st.booleans()):
        query = query + " WHERE " + draw(condition(scope))
    ordered = draw(st.booleans())
    if ordered:
        directions = [draw(st.sampled_from(["", " DESC"])) for _ in range(width)]
        query = query + " ORDER BY " + ", ".join(f"{i + 1}{d}" for i, d in enumerate(directions))
        if draw(st.booleans()):
            query = query + f" LIMIT {draw(st.integers(0, 5))}"
            if draw(st.booleans()):
                query = query + f" OFFSET {draw(st.integers(0, 3))}"
    return query, ordered


@st.composite
def aggregate_query(draw: st.DrawFn) -> tuple[Sql, bool]:
    """Aggregates over t0, grouped or not, with optional WHERE and HAVING."""
    scope = scope_of("t0", None)
    measure = draw(st.sampled_from(["a", "e", "k", "b", "c", "a + e"]))
    aggregates = draw(
        st.lists(
            st.sampled_from(
                ["COUNT(*)", f"COUNT({measure})", f"SUM({measure})", f"MIN({measure})", f"MAX({measure})",
                 f"AVG({measure})", f"COUNT(DISTINCT {measure})"]
            ),
            min_size=1,
            max_size=4,
        )
    )  # fmt: skip
    group = draw(st.one_of(st.none(), st.sampled_from(["b", "c", "a % 2", "e > 0", "c, b"])))
    items = ([group] if group else []) + aggregates
    query = Sql("SELECT " + ", ".join(items) + " FROM t0")
    if draw(st.booleans()):
        query = query + " WHERE " + draw(condition(scope, 2))
    if group:
        query = query + f" GROUP BY {group}"
        if draw(st.booleans()):
            query = query + f" HAVING COUNT(*) > {draw(st.integers(0, 2))}"
    return query, False


@st.composite
def join_query(draw: st.DrawFn) -> tuple[Sql, bool]:
    """INNER or LEFT join of t0 and t1 on the key, with extra conditions in ON and WHERE."""
    scope = scope_of("t0", "x") + scope_of("t1", "y")
    kind = draw(st.sampled_from(["JOIN", "INNER JOIN", "LEFT JOIN", "LEFT OUTER JOIN"]))
    items = draw(st.lists(expression(scope, 1), min_size=1, max_size=4))
    on = Sql("x.k = y.k")
    if draw(st.booleans()):
        on = on + " AND " + draw(condition(scope, 1))
    query = Sql("SELECT ") + join(items, ", ") + f" FROM t0 AS x {kind} t1 AS y ON " + on
    if draw(st.booleans()):
        query = query + " WHERE " + draw(condition(scope, 2))
    return query, False


QUERIES = st.one_of(plain_query(), plain_query(), aggregate_query(), join_query())
