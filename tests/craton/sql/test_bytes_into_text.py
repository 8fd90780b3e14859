"""BYTES concatenated into TEXT that is not UTF-8 is a clear query error, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.craton.engine import Engine
from appliance.craton.types import QueryExecutionError, TenantId


def test_invalid_utf8_from_concatenation_is_refused(tmp_path: Path) -> None:
    """`bytes || text` yielding invalid UTF-8 is QueryExecutionError; valid results still return."""
    tenant = TenantId(1)
    engine = Engine.open(tmp_path / "r")
    try:
        engine.execute(tenant, "CREATE TABLE x (k BIGINT NOT NULL, b BYTES, d TEXT, PRIMARY KEY (k))", [])
        engine.execute(tenant, "INSERT INTO x (k, b, d) VALUES (1, $1, 'Ab')", [b"\xc3"])
        engine.execute(tenant, "INSERT INTO x (k, b, d) VALUES (2, $1, 'Ab')", [b"ab"])
        with pytest.raises(QueryExecutionError, match="UTF-8"):
            engine.query(tenant, "SELECT b || d FROM x ORDER BY k", [])
        assert engine.query(tenant, "SELECT k FROM x WHERE b || d = 'abAb'", []).rows == [[2]]
        assert engine.query(tenant, "SELECT b || d FROM x WHERE k = 2", []).rows == [["abAb"]]
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM", "Expected table name but got the end of the statement"),
        ("SELECT * FROM t WHERE", "an incomplete WHERE clause"),
    ],
)
def test_parse_errors_speak_in_the_user_s_terms(sql: str, expected: str) -> None:
    """Parse errors name the user's text, not the parser's internal token or class names."""
    from appliance.craton.query import parse_statement
    from appliance.craton.query.errors import SqlParseError

    with pytest.raises(SqlParseError) as refused:
        parse_statement(sql, [])
    assert expected in str(refused.value)
    assert "Token" not in str(refused.value)
    assert "sqlglot" not in str(refused.value)
