"""Parser tests: the accepted subset, every refused construct by name, parameters and AT OFFSET."""

from __future__ import annotations

import msgspec
import pytest

from appliance.craton.query import (
    Aggregate,
    Assignment,
    Between,
    Binary,
    Column,
    ColumnDef,
    CreateTable,
    Delete,
    DropTable,
    InList,
    Insert,
    IsNull,
    Like,
    Lit,
    Ordinal,
    Param,
    Select,
    SqlParseError,
    Star,
    Unary,
    Update,
    decode_statement,
    encode_statement,
    parse_statement,
)
from appliance.craton.types import ErrorCode


def test_create_table_with_every_type_and_composite_key() -> None:
    """CREATE TABLE accepts the five types, NOT NULL and a composite key, and makes key columns NOT NULL."""
    statement = parse_statement(
        "CREATE TABLE Events (id BIGINT, kind TEXT NOT NULL, ok BOOLEAN, at TIMESTAMP, body BYTES,"
        " PRIMARY KEY (id, kind))"
    )
    assert statement == CreateTable(
        "events",
        (
            ColumnDef("id", "BIGINT", True),
            ColumnDef("kind", "TEXT", True),
            ColumnDef("ok", "BOOLEAN", False),
            ColumnDef("at", "TIMESTAMP", False),
            ColumnDef("body", "BYTES", False),
        ),
        ("id", "kind"),
    )


def test_inline_primary_key_and_if_not_exists() -> None:
    """An inline PRIMARY KEY and IF [NOT] EXISTS are understood."""
    assert parse_statement("CREATE TABLE IF NOT EXISTS t (a BIGINT PRIMARY KEY, b TEXT NULL)") == CreateTable(
        "t", (ColumnDef("a", "BIGINT", True), ColumnDef("b", "TEXT", False)), ("a",), True
    )
    assert parse_statement("DROP TABLE IF EXISTS t") == DropTable("t", True)
    assert parse_statement("drop table T;") == DropTable("t", False)


def test_insert_binds_parameters_and_folds_negative_literals() -> None:
    """INSERT rows hold plain bound values, including -2**63 and bytes from a parameter."""
    statement = parse_statement(
        "INSERT INTO t (a, b, c) VALUES ($1, -9223372036854775808, NULL), (2, 'x''y', $2)", [b"\x00\xff", True]
    )
    assert statement == Insert("t", ("a", "b", "c"), ((b"\x00\xff", -(2**63), None), (2, "x'y", True)))


def test_update_and_delete_have_parameters_substituted() -> None:
    """UPDATE and DELETE trees carry literals in place of $n (writes never hold a Param)."""
    update = parse_statement("UPDATE t SET a = a + $1, b = 'z' WHERE b LIKE $2 AND NOT c", [5, "x%"])
    assert update == Update(
        "t",
        (
            Assignment("a", Binary("+", Column("a"), Lit(5))),
            Assignment("b", Lit("z")),
        ),
        Binary("AND", Like(Column("b"), Lit("x%")), Unary("NOT", Column("c"))),
    )
    delete = parse_statement("DELETE FROM t WHERE a BETWEEN $1 AND 3 OR b IS NOT NULL", [1])
    assert delete == Delete("t", Binary("OR", Between(Column("a"), Lit(1), Lit(3)), Unary("NOT", IsNull(Column("b")))))


def test_select_keeps_a_template_with_params() -> None:
    """A SELECT keeps Param nodes and the bound values beside them, so one plan serves every call."""
    first = parse_statement("SELECT a FROM t WHERE a IN ($1, 2) AND b = $2", [1, "x"])
    second = parse_statement("SELECT a FROM t WHERE a IN ($1, 2) AND b = $2", [7, "y"])
    assert isinstance(first, Select)
    assert isinstance(second, Select)
    assert first.query is second.query  # the template came from the cache
    assert first.params == (1, "x")
    assert second.params == (7, "y")
    assert first.query.where == Binary(
        "AND", InList(Column("a"), (Param(0), Lit(2))), Binary("=", Column("b"), Param(1))
    )


def test_select_clauses() -> None:
    """Joins, grouping, HAVING, ORDER BY positions, DISTINCT, LIMIT and OFFSET are translated."""
    statement = parse_statement(
        "SELECT DISTINCT u.name, COUNT(*) AS n, SUM(o.total) FROM users AS u LEFT JOIN orders o ON o.uid = u.id"
        " INNER JOIN x ON 1 WHERE u.id > 0 GROUP BY u.name HAVING COUNT(*) > 1 ORDER BY 2 DESC, u.name LIMIT 5 OFFSET $1",
        [3],
    )
    assert isinstance(statement, Select)
    query = statement.query
    assert query.distinct
    assert [j.kind for j in query.joins] == ["LEFT", "INNER"]
    assert query.from_table is not None
    assert query.from_table.binding == "u"
    assert query.items[1].alias == "n"
    assert query.items[1].expr == Aggregate("COUNT", Star())
    assert query.order_by[0].expr == Ordinal(2)
    assert query.order_by[0].descending
    assert query.limit == Lit(5)
    assert query.offset == Param(0)


def test_select_without_from() -> None:
    """`SELECT 1` needs no table."""
    statement = parse_statement("SELECT 1, 'a' || 'b' AS ab")
    assert isinstance(statement, Select)
    assert statement.query.from_table is None


@pytest.mark.parametrize(
    ("sql", "params", "at_offset"),
    [
        ("SELECT a FROM t AT OFFSET 5", [], 5),
        ("SELECT a FROM t at offset 0;", [], 0),
        ("SELECT a FROM t WHERE a = $1 AT OFFSET $2", [1, 9], 9),
        ("SELECT 'AT OFFSET 3' FROM t -- AT OFFSET 4\n AT  OFFSET 7", [], 7),
        ("SELECT a FROM t", [], None),
        ("SELECT a FROM t LIMIT 2 OFFSET 1 AT OFFSET 3", [], 3),
        ('SELECT "at" FROM t AT OFFSET 1', [], 1),
    ],
)
def test_at_offset_is_recognised(sql: str, params: list[object], at_offset: int | None) -> None:
    """A trailing AT OFFSET (literal or $n) becomes `at_offset`; the same words in strings or comments do not."""
    statement = parse_statement(sql, params)
    assert isinstance(statement, Select)
    assert statement.at_offset == at_offset


@pytest.mark.parametrize(
    ("sql", "params", "reason"),
    [
        ("SELECT a FROM t AT OFFSET -1", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET 1.5", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET 99999999999999999999", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET 1 AT OFFSET 2", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET 1 WHERE a = 1", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET 'x'", [], "at_offset"),
        ("SELECT a FROM t AT OFFSET $1", ["x"], "bad_parameter"),
        ("SELECT a FROM t AT OFFSET $1", [-3], "bad_parameter"),
        ("SELECT a FROM t AT OFFSET $1", [True], "bad_parameter"),
        ("DELETE FROM t AT OFFSET 1", [], "at_offset"),
        ("INSERT INTO t VALUES (1) AT OFFSET 1", [], "at_offset"),
        ("SELECT 1; SELECT 2 AT OFFSET 1", [], "multiple_statements"),
    ],
)
def test_hostile_at_offset(sql: str, params: list[object], reason: str) -> None:
    """Malformed, repeated, misplaced or non-integer AT OFFSET clauses are refused with code 7."""
    with pytest.raises(SqlParseError) as caught:
        parse_statement(sql, params)
    assert caught.value.code == ErrorCode.QUERY_PARSE_ERROR
    assert caught.value.reason == reason


REFUSED = [
    # (sql, reason, words the message must contain)
    ("SELECT random()", "unsupported", "random()"),
    ("INSERT INTO t VALUES (random())", "non_deterministic", "random()"),
    ("UPDATE t SET a = now()", "non_deterministic", "now()"),
    ("UPDATE t SET a = CURRENT_TIMESTAMP", "non_deterministic", "current_timestamp"),
    ("DELETE FROM t WHERE a < randomblob(4)", "non_deterministic", "randomblob()"),
    ("UPDATE t SET a = datetime('now')", "non_deterministic", "datetime()"),
    ("SELECT 1; SELECT 2", "multiple_statements", "one statement"),
    ("", "empty", "empty"),
    (";", "empty", "got 0"),
    ("SELECT * FROM (SELECT 1)", "unsupported", "subquery"),
    ("SELECT a FROM t WHERE a IN (SELECT b FROM u)", "unsupported", "subquery"),
    ("SELECT a FROM t WHERE EXISTS (SELECT 1)", "unsupported", "EXISTS (subquery)"),
    ("SELECT 1 UNION SELECT 2", "unsupported", "UNION"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "unsupported", "WITH"),
    ("ALTER TABLE t ADD COLUMN b TEXT", "unsupported", "ALTER"),
    ("CREATE INDEX i ON t (a)", "unsupported", "CREATE"),
    ("CREATE VIEW v AS SELECT 1", "unsupported", "CREATE"),
    ("CREATE TABLE t (a INT PRIMARY KEY)", "unsupported", "type INT"),
    ("CREATE TABLE t (a VARCHAR(10) PRIMARY KEY)", "unsupported", "VARCHAR"),
    ("CREATE TABLE t (a BIGINT)", "no_primary_key", "PRIMARY KEY"),
    ("CREATE TABLE t (a BIGINT PRIMARY KEY DEFAULT 1)", "unsupported", "DEFAULT"),
    ("CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT UNIQUE)", "unsupported", "UNIQUE"),
    ("CREATE TABLE t (a BIGINT PRIMARY KEY CHECK (a > 0))", "unsupported", "CHECK"),
    ("CREATE TABLE t (a BIGINT PRIMARY KEY, b BIGINT REFERENCES u (id))", "unsupported", "REFERENCES"),
    ("CREATE TEMP TABLE t (a BIGINT PRIMARY KEY)", "unsupported", "TEMPORARY"),
    ("CREATE TABLE t AS SELECT 1", "unsupported", "AS SELECT"),
    ("CREATE TABLE t (a BIGINT, a TEXT, PRIMARY KEY (a))", "duplicate_column", "twice"),
    ("CREATE TABLE t (a BIGINT, PRIMARY KEY (b))", "unknown_column", "b"),
    ("CREATE TABLE t (a BIGINT PRIMARY KEY, b BIGINT PRIMARY KEY)", "syntax", "one PRIMARY KEY"),
    ("DROP INDEX i", "unsupported", "DROP INDEX"),
    ("INSERT INTO t SELECT 1", "unsupported", "INSERT … SELECT"),
    ("INSERT INTO t VALUES (1 + 1)", "unsupported", "literals"),
    ("INSERT INTO t VALUES (1) RETURNING a", "unsupported", "RETURNING"),
    ("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", "unsupported", "ON CONFLICT"),
    ("INSERT OR REPLACE INTO t VALUES (1)", "unsupported", "INSERT OR REPLACE"),
    ("REPLACE INTO t VALUES (1)", "unsupported", "REPLACE"),
    ("INSERT INTO t (a, a) VALUES (1, 2)", "duplicate_column", "twice"),
    ("INSERT INTO t (a, b) VALUES (1)", "arity", "1 values for 2 columns"),
    ("UPDATE t SET a = 1 RETURNING a", "unsupported", "RETURNING"),
    ("UPDATE t SET a = 1, a = 2", "duplicate_column", "twice"),
    ("DELETE FROM t WHERE a IN (SELECT 1)", "unsupported", "subquery"),
    ("SELECT a, COUNT(*) FROM t", "grouping", "GROUP BY"),
    ("SELECT * FROM t GROUP BY a", "grouping", "*"),
    ("SELECT a FROM t WHERE SUM(a) > 1", "unsupported", "SUM()"),
    ("SELECT MAX(MAX(a)) FROM t", "unsupported", "MAX()"),
    ("SELECT SUM(*) FROM t", "unsupported", "SUM(*)"),
    ("SELECT CASE WHEN a THEN 1 END FROM t", "unsupported", "CASE"),
    ("SELECT CAST(a AS TEXT) FROM t", "unsupported", "CAST"),
    ("SELECT lower(a) FROM t", "unsupported", "lower()"),
    ("SELECT a FROM main.t", "unsupported", "schema-qualified"),
    ("SELECT * FROM t RIGHT JOIN u ON 1", "unsupported", "RIGHT"),
    ("SELECT * FROM t FULL JOIN u ON 1", "unsupported", "FULL"),
    ("SELECT * FROM t CROSS JOIN u", "unsupported", "CROSS"),
    ("SELECT * FROM t, u", "unsupported", "JOIN"),
    ("SELECT * FROM t JOIN u USING (a)", "unsupported", "USING"),
    ("SELECT a FROM t JOIN t ON 1", "ambiguous", "alias"),
    ("SELECT a FROM t ORDER BY a NULLS LAST", "unsupported", "NULLS"),
    ("SELECT a FROM t ORDER BY 0", "bad_position", "position 0"),
    ("SELECT a FROM t GROUP BY 2", "bad_position", "position 2"),
    ("SELECT a FROM t WHERE a GLOB 'x'", "unsupported", "GLOB"),
    ("SELECT 1.5", "unsupported", "1.5"),
    ("SELECT 1e3", "unsupported", "1e3"),
    ("SELECT X'ab'", "unsupported", "hex"),
    ("SELECT 9223372036854775808", "out_of_range", "64-bit"),
    ("SELECT ?", "bad_parameter", "$1"),
    ("SELECT :name", "bad_parameter", "$1"),
    ("SELECT $a", "bad_parameter", "$1"),
    ("SELECT $0", "bad_parameter", "$0"),
    ("SELECT craton_created_at FROM t", "bad_identifier", "reserved"),
    ("SELECT a FROM craton_t_1", "bad_identifier", "reserved"),
    ('SELECT "a b" FROM t', "bad_identifier", "letters"),
    ("SELECT a FROM t LIMIT -1", "syntax", "LIMIT"),
    ("SELECT a FROM t FOR UPDATE", "unsupported", "FOR UPDATE"),
    ("BEGIN", "unsupported", ""),
    ("PRAGMA journal_mode = DELETE", "unsupported", "PRAGMA"),
    ("ATTACH DATABASE 'x' AS y", "unsupported", "ATTACH"),
    ("VACUUM", "unsupported", "VACUUM"),
    ("EXPLAIN SELECT 1", "unsupported", "EXPLAIN"),
    ("SELECT 'unterminated", "syntax", ""),
]


@pytest.mark.parametrize(("sql", "reason", "words"), REFUSED)
def test_refused_construct_is_named(sql: str, reason: str, words: str) -> None:
    """Every construct outside the subset is a QueryParseError (code 7) whose message names it."""
    with pytest.raises(SqlParseError) as caught:
        parse_statement(sql)
    assert caught.value.code == ErrorCode.QUERY_PARSE_ERROR
    assert caught.value.reason == reason, caught.value.message
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ([1.5], "float"),
        ([bytearray(b"x")], "bytearray"),
        ([2**63], "64-bit"),
        ([-(2**63) - 1], "64-bit"),
        (["\ud800"], "Unicode"),
        ([[1]], "list"),
        ([{"a": 1}], "dict"),
        ([object()], "object"),
    ],
)
def test_bad_parameter_values(params: list[object], words: str) -> None:
    """Parameters that are not NULL/bool/64-bit int/text/bytes are refused, never coerced."""
    with pytest.raises(SqlParseError) as caught:
        parse_statement("SELECT $1", params)
    assert caught.value.reason == "bad_parameter"
    assert words in caught.value.message


def test_parameter_count_must_match() -> None:
    """Too few or too many parameters is an error naming both counts."""
    with pytest.raises(SqlParseError, match="uses 2 parameter"):
        parse_statement("SELECT $1, $2", [1])
    with pytest.raises(SqlParseError, match="but 3 were given"):
        parse_statement("SELECT $1, $2", [1, 2, 3])
    with pytest.raises(SqlParseError, match="list of values"):
        parse_statement("SELECT $1", "x")  # type: ignore[arg-type]


def test_injection_through_parameters_stays_data() -> None:
    """SQL in a parameter is a plain value of the statement, never parsed."""
    hostile = "x'); DROP TABLE t; --"
    statement = parse_statement("INSERT INTO t (a) VALUES ($1)", [hostile])
    assert statement == Insert("t", ("a",), ((hostile,),))


def test_unicode_text_is_kept_and_bad_text_refused() -> None:
    """Odd but valid Unicode in literals is kept exactly; lone surrogates and odd identifiers are refused."""
    odd = "é\u0301 ß 𝔘 \u200b\u202e"
    statement = parse_statement(f"SELECT '{odd}'")
    assert isinstance(statement, Select)
    assert statement.query.items[0].expr == Lit(odd)
    with pytest.raises(SqlParseError, match="Unicode"):
        parse_statement("SELECT '\ud800'")
    with pytest.raises(SqlParseError, match="letters"):
        parse_statement('SELECT "naïve" FROM t')
    with pytest.raises(SqlParseError):
        parse_statement(b"SELECT 1")  # type: ignore[arg-type]


def test_size_and_nesting_limits() -> None:
    """Huge statements, deep parentheses, deep NOT chains and long operator chains fail cleanly."""
    from appliance.craton.query import limits

    with pytest.raises(SqlParseError, match="bytes"):
        parse_statement("SELECT '" + "x" * limits.statement_bytes_max + "'")
    with pytest.raises(SqlParseError, match="parentheses"):
        parse_statement("SELECT " + "(" * 1000 + "1" + ")" * 1000)
    with pytest.raises(SqlParseError, match="deep"):
        parse_statement("SELECT " + "NOT " * 5000 + "1")
    with pytest.raises(SqlParseError, match="deep"):
        parse_statement("SELECT " + " + ".join(["1"] * 5000))
    with pytest.raises(SqlParseError, match="IN lists"):
        parse_statement("SELECT 1 IN (" + ", ".join(["1"] * (limits.in_list_items_max + 1)) + ")")
    rows = ", ".join(["(1)"] * (limits.insert_rows_max + 1))
    with pytest.raises(SqlParseError, match="rows"):
        parse_statement(f"INSERT INTO t (a) VALUES {rows}")
    assert isinstance(parse_statement("SELECT " + "(" * 20 + "1" + ")" * 20), Select)
    assert isinstance(parse_statement("SELECT " + " AND ".join(["a = 1"] * 200) + " FROM t"), Select)


def test_statement_encoding_round_trips_and_is_canonical() -> None:
    """Statements encode to the same bytes when equal and decode back equal."""
    for sql, params in [
        ("CREATE TABLE t (a BIGINT PRIMARY KEY, b BYTES)", []),
        ("INSERT INTO t VALUES ($1, $2)", [1, b"\x00"]),
        ("UPDATE t SET b = NULL WHERE a IN (1, 2) AND NOT a BETWEEN 3 AND 4", []),
        ("DELETE FROM t WHERE b IS NULL", []),
        ("SELECT COUNT(DISTINCT a) FROM t GROUP BY b HAVING COUNT(*) > $1 AT OFFSET 3", [2]),
    ]:
        statement = parse_statement(sql, params)
        encoded = encode_statement(statement)
        assert encode_statement(parse_statement(sql, params)) == encoded
        assert decode_statement(encoded) == statement


def test_decoding_checks_its_input() -> None:
    """Garbage bytes, unknown tags and out-of-domain values in encoded statements are refused."""
    with pytest.raises(SqlParseError, match="encoded"):
        decode_statement(b"\xc1garbage")
    with pytest.raises(SqlParseError, match="encoded"):
        decode_statement(msgspec.msgpack.encode({"type": "Truncate", "table": "t"}))
    forged = msgspec.msgpack.encode({"type": "Insert", "table": "t", "columns": ["a"], "rows": [[1.5]]})
    with pytest.raises(SqlParseError, match="float"):
        decode_statement(forged)
    forged = msgspec.msgpack.encode({"type": "Insert", "table": "t", "columns": ["a"], "rows": [[2**64 - 1]]})
    with pytest.raises(SqlParseError, match="64-bit"):
        decode_statement(forged)


@pytest.mark.parametrize(
    "forged",
    [
        {"type": "DropTable", "table": 'x"; DROP TABLE y; --'},
        {"type": "DropTable", "table": "craton_tables"},
        {"type": "Insert", "table": "t", "columns": ["a", "b"], "rows": [[1]]},
        {"type": "Insert", "table": "t", "columns": [], "rows": []},
        {"type": "Delete", "table": "t", "where": {"type": "Param", "index": 0}},
        {"type": "Delete", "table": "t", "where": {"type": "Column", "name": "A"}},
        {"type": "CreateTable", "table": "t", "columns": [{"name": "a", "type": "BIGINT"}], "primary_key": ["a"]},
        {
            "type": "CreateTable",
            "table": "t",
            "columns": [{"name": "a", "type": "BIGINT", "not_null": True}],
            "primary_key": [],
        },
        {
            "type": "Select",
            "query": {"items": [{"expr": {"type": "Param", "index": 3}}]},
            "params": [1],
        },
        {"type": "Select", "query": {"items": [{"expr": {"type": "Ordinal", "position": 0}}]}},
    ],
)
def test_decoding_refuses_what_the_parser_could_not_produce(forged: dict[str, object]) -> None:
    """A forged or damaged record (bad names, shapes, parameters, definitions) is refused on decode."""
    with pytest.raises(SqlParseError) as caught:
        decode_statement(msgspec.msgpack.encode(forged))
    assert caught.value.reason == "bad_encoding"


def test_decoding_accepts_deep_but_legal_trees() -> None:
    """A statement the parser produced always decodes, even with long condition chains."""
    sql = "DELETE FROM t WHERE " + " OR ".join(f"a = {i}" for i in range(200))
    statement = parse_statement(sql)
    assert decode_statement(encode_statement(statement)) == statement
