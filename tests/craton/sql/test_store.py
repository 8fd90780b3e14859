"""TableStore tests on a real SQLite file: writes, rejections, versions, isolation, limits and damage."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.craton.query import StoreRejected, StoreTableNotFound, limits, parse_statement
from appliance.craton.store import StoreDamaged, TableStore
from appliance.craton.types import ErrorCode, InvariantViolation, PositionAhead, QueryExecutionError, TableNotFound

from .harness import Driver, record_hash

USERS = "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, ok BOOLEAN, blob BYTES, at TIMESTAMP)"


@pytest.fixture
def driver(tmp_path: Path) -> Driver:
    d = Driver(tmp_path / "projections.sqlite3")
    yield d  # type: ignore[misc]
    d.close()


def test_insert_select_update_delete(driver: Driver) -> None:
    """Rows round-trip with their types (BOOLEAN comes back as bool) and each write reports rows affected."""
    assert driver.write(USERS) == 0
    assert (
        driver.write("INSERT INTO users VALUES (1, 'ann', TRUE, $1, 10), (2, 'bob', FALSE, NULL, NULL)", [b"\x00"]) == 2
    )
    result = driver.query("SELECT * FROM users ORDER BY id")
    assert result.columns == ["id", "name", "ok", "blob", "at"]
    assert result.rows == [[1, "ann", True, b"\x00", 10], [2, "bob", False, None, None]]
    assert driver.write("UPDATE users SET name = name || '!' WHERE ok") == 1
    assert driver.write("DELETE FROM users WHERE id = 2") == 1
    assert driver.write("DELETE FROM users WHERE id = 99") == 0
    assert driver.rows("SELECT id, name FROM users") == [[1, "ann!"]]
    counted = driver.query("SELECT COUNT(*) AS n, 1 + 1, name FROM users GROUP BY name")
    assert counted.columns == ["n", "1 + 1", "name"]


@pytest.mark.parametrize(
    ("sql", "params", "code", "reason"),
    [
        ("INSERT INTO users (id, name) VALUES (1, 'again')", [], ErrorCode.QUERY_EXECUTION_ERROR, "duplicate_key"),
        (
            "INSERT INTO users (id, name) VALUES (7, 'a'), (7, 'b')",
            [],
            ErrorCode.QUERY_EXECUTION_ERROR,
            "duplicate_key",
        ),
        ("INSERT INTO users (id) VALUES (8)", [], ErrorCode.QUERY_EXECUTION_ERROR, "not_null"),
        ("INSERT INTO users (id, name) VALUES (8, $1)", [5], ErrorCode.QUERY_EXECUTION_ERROR, "type_mismatch"),
        ("INSERT INTO users (id, name, ok) VALUES (8, 'x', 1)", [], ErrorCode.QUERY_EXECUTION_ERROR, "type_mismatch"),
        (
            "INSERT INTO users (id, name, blob) VALUES (8, 'x', 'text')",
            [],
            ErrorCode.QUERY_EXECUTION_ERROR,
            "type_mismatch",
        ),
        ("INSERT INTO users (id, nope) VALUES (8, 1)", [], ErrorCode.QUERY_EXECUTION_ERROR, "unknown_column"),
        ("INSERT INTO users VALUES (8, 'x')", [], ErrorCode.QUERY_EXECUTION_ERROR, "arity"),
        ("INSERT INTO ghosts (id) VALUES (1)", [], ErrorCode.TABLE_NOT_FOUND, "unknown_table"),
        ("UPDATE users SET at = name", [], ErrorCode.QUERY_EXECUTION_ERROR, "type_mismatch"),
        ("UPDATE users SET name = NULL WHERE id = 1", [], ErrorCode.QUERY_EXECUTION_ERROR, "not_null"),
        ("UPDATE users SET name = CASE_OF_NULL", [], ErrorCode.QUERY_EXECUTION_ERROR, "unknown_column"),
        ("UPDATE users SET id = 2 WHERE id = 1", [], ErrorCode.QUERY_EXECUTION_ERROR, "duplicate_key"),
        ("UPDATE users SET id = 5", [], ErrorCode.QUERY_EXECUTION_ERROR, "duplicate_key"),
        ("UPDATE users SET nope = 1", [], ErrorCode.QUERY_EXECUTION_ERROR, "unknown_column"),
        ("DELETE FROM users WHERE nope = 1", [], ErrorCode.QUERY_EXECUTION_ERROR, "unknown_column"),
        ("DELETE FROM users WHERE users.id = other.id", [], ErrorCode.QUERY_EXECUTION_ERROR, "unknown_table"),
        ("CREATE TABLE users (id BIGINT PRIMARY KEY)", [], ErrorCode.QUERY_EXECUTION_ERROR, "table_exists"),
        ("DROP TABLE ghosts", [], ErrorCode.TABLE_NOT_FOUND, "unknown_table"),
    ],
)
def test_rejection_changes_nothing_and_does_not_stall(
    driver: Driver, sql: str, params: list[object], code: int, reason: str
) -> None:
    """A refused write leaves every row as it was, advances the position, and the next write works."""
    driver.write(USERS)
    driver.write("INSERT INTO users (id, name, at) VALUES (1, 'ann', 1), (2, 'bob', 2)")
    before = driver.rows("SELECT * FROM users ORDER BY id")
    with pytest.raises(StoreRejected) as caught:
        driver.write(sql, params)
    assert caught.value.code == code
    assert caught.value.reason == reason
    assert driver.store.applied_position(1) == driver.position()
    assert driver.rows("SELECT * FROM users ORDER BY id") == before
    assert driver.write("INSERT INTO users (id, name) VALUES (3, 'cy')") == 1


def test_unknown_table_write_is_table_not_found(driver: Driver) -> None:
    """A write to a missing table is code 6 and a StoreRejected (one class for every write refusal)."""
    with pytest.raises(StoreTableNotFound) as caught:
        driver.write("DELETE FROM nowhere")
    assert isinstance(caught.value, StoreRejected)
    assert caught.value.code == ErrorCode.TABLE_NOT_FOUND


def test_update_may_shift_keys_in_one_statement(driver: Driver) -> None:
    """Key uniqueness is checked once the statement is done, so `SET id = id + 1` over 1..3 works."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)")
    driver.write("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    assert driver.write("UPDATE t SET id = id + 1") == 3
    assert driver.rows("SELECT id, v FROM t ORDER BY id") == [[2, "a"], [3, "b"], [4, "c"]]


def test_positions_only_move_forward(driver: Driver) -> None:
    """Applying at or below the applied position is a loud invariant failure that changes nothing."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY)")
    statement = parse_statement("INSERT INTO t VALUES (1)")
    with pytest.raises(InvariantViolation):
        driver.store.apply(1, driver.position(), record_hash(1, 0), statement)  # type: ignore[arg-type]
    with pytest.raises(InvariantViolation):
        driver.store.apply(1, driver.position() + 1, b"short", statement)  # type: ignore[arg-type]
    assert driver.rows("SELECT * FROM t") == []


def test_time_travel_sees_every_past_state(driver: Driver) -> None:
    """AT OFFSET n shows the rows as of position n, including across a drop and a re-creation."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)")  # 0
    driver.write("INSERT INTO t VALUES (1, 'a'), (2, 'b')")  # 1
    driver.write("UPDATE t SET v = 'a2' WHERE id = 1", gap=2)  # 4 (2 and 3 are not table records)
    driver.write("DELETE FROM t WHERE id = 2")  # 5
    driver.write("DROP TABLE t")  # 6
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, w BIGINT)")  # 7
    driver.write("INSERT INTO t VALUES (9, 9)")  # 8
    seen = {n: driver.rows(f"SELECT * FROM t ORDER BY id AT OFFSET {n}") for n in (0, 1, 3, 4, 5, 7, 8)}
    assert seen[0] == []
    assert seen[1] == [[1, "a"], [2, "b"]] == seen[3]
    assert seen[4] == [[1, "a2"], [2, "b"]]
    assert seen[5] == [[1, "a2"]]
    assert seen[7] == []
    assert seen[8] == [[9, 9]]
    with pytest.raises(TableNotFound, match="at offset 6"):
        driver.query("SELECT * FROM t AT OFFSET 6")
    with pytest.raises(PositionAhead):
        driver.query("SELECT * FROM t AT OFFSET 9")
    assert driver.rows("SELECT id FROM t WHERE id = $1 AT OFFSET $2", [1, 0]) == []
    assert driver.rows("SELECT v FROM t WHERE id = $2 AT OFFSET $1", [4, 1]) == [["a2"]]


def test_every_version_records_its_position_and_hash(driver: Driver) -> None:
    """Each row version carries the position and record hash that created it, and where it ended."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)")
    driver.write("INSERT INTO t VALUES (1, 'a')")
    driver.write("UPDATE t SET v = 'b'")
    versions = driver.store.row_versions(1, "t")
    assert [(v.values, v.created_at, v.deleted_at) for v in versions] == [((1, "a"), 1, 2), ((1, "b"), 2, None)]
    assert all(v.created_hash == record_hash(1, v.created_at) for v in versions)
    assert driver.store.applied_hash(1) == record_hash(1, 2)


def test_tenants_are_isolated(driver: Driver) -> None:
    """Two tenants with a table of the same name never see or change each other's rows."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, secret TEXT)", tenant=1)
    driver.write("INSERT INTO t VALUES (1, 'tenant one')", tenant=1)
    with pytest.raises(TableNotFound):
        driver.query("SELECT * FROM t", tenant=2)
    with pytest.raises(StoreTableNotFound):
        driver.write("DELETE FROM t", tenant=2)
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, other BIGINT)", tenant=2)
    driver.write("INSERT INTO t VALUES (1, 2)", tenant=2)
    driver.write("DELETE FROM t", tenant=2)
    assert driver.rows("SELECT * FROM t", tenant=1) == [[1, "tenant one"]]
    assert driver.rows("SELECT * FROM t", tenant=2) == []
    assert driver.store.tables(2)["t"].columns[1].name == "other"
    assert driver.store.applied_positions() == {1: 1, 2: 3}
    with pytest.raises(PositionAhead):
        driver.query("SELECT * FROM t AT OFFSET 0", tenant=3)


def test_read_errors_name_the_problem(driver: Driver) -> None:
    """Unknown, ambiguous and out-of-range names in a read are code-8 errors that say what is wrong."""
    driver.write("CREATE TABLE a (id BIGINT PRIMARY KEY, v TEXT)")
    driver.write("CREATE TABLE b (id BIGINT PRIMARY KEY, v TEXT)")
    for sql, words in [
        ("SELECT nope FROM a", "unknown column nope"),
        ("SELECT v FROM a JOIN b ON a.id = b.id", "ambiguous"),
        ("SELECT c.v FROM a", "unknown table or alias c"),
        ("SELECT a.nope FROM a", "no column nope"),
        ("SELECT * FROM a ORDER BY 3", "position 3"),
        ("SELECT a.* FROM a WHERE a.* = 1", r"\*"),
    ]:
        with pytest.raises(QueryExecutionError, match=words):
            driver.query(sql)
    with pytest.raises(TableNotFound):
        driver.query("SELECT * FROM nowhere")


def test_store_survives_reopen(driver: Driver) -> None:
    """Closing and reopening keeps rows, history, catalog, positions and the content hash."""
    driver.write(USERS)
    driver.write("INSERT INTO users (id, name) VALUES (1, 'ann')")
    driver.write("UPDATE users SET name = 'anne'")
    digest = driver.store.content_hash()
    driver.reopen()
    assert driver.store.content_hash() == digest
    assert driver.rows("SELECT name FROM users AT OFFSET 1") == [["ann"]]
    assert driver.rows("SELECT name FROM users") == [["anne"]]
    assert driver.store.applied_position(1) == 2


def test_result_row_limit(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A result bigger than `result_rows_max` is an error, not a silent truncation."""
    monkeypatch.setattr(limits, "result_rows_max", 5)
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY)")
    driver.write("INSERT INTO t VALUES (1), (2), (3), (4), (5), (6)")
    with pytest.raises(QueryExecutionError, match="more than 5 rows"):
        driver.query("SELECT * FROM t")
    assert len(driver.rows("SELECT * FROM t LIMIT 5")) == 5


def test_work_limit_stops_runaway_joins_but_never_writes(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A join that exceeds the VM-step budget is stopped with an error; writes are never interrupted."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY)")
    driver.write("INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(300)))
    monkeypatch.setattr(limits, "query_vm_steps_max", 50_000)
    with pytest.raises(QueryExecutionError, match="steps of work"):
        driver.query("SELECT COUNT(*) FROM t AS x JOIN t AS y ON x.id + y.id >= 0")
    assert driver.write("UPDATE t SET id = id + 1000") == 300
    assert driver.rows("SELECT COUNT(*) FROM t") == [[300]]


def test_damaged_file_is_reported(tmp_path: Path) -> None:
    """A projection file that is not a database raises StoreDamaged (the engine then rebuilds it)."""
    path = tmp_path / "projections.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreDamaged, match="rebuild"):
        TableStore.open(path)
    TableStore.remove_files(path)
    store = TableStore.open(path)
    assert store.applied_positions() == {}
    store.close()


def test_update_overflowing_into_real_is_refused(driver: Driver) -> None:
    """`SET n = n * 2` past 2**63 would make SQLite store a REAL; Craton refuses the type change instead."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT)")
    driver.write("INSERT INTO t VALUES (1, 4611686018427387904)")
    with pytest.raises(StoreRejected, match="BIGINT") as caught:
        driver.write("UPDATE t SET n = n * 2")
    assert caught.value.reason == "type_mismatch"
    assert driver.rows("SELECT n FROM t") == [[2**62]]


def test_skip_to_makes_a_checkpoint_position_readable(driver: Driver) -> None:
    """A position that holds no table change (a checkpoint record) can be skipped to, then read AT and survives reopen."""
    driver.write("CREATE TABLE t (id BIGINT PRIMARY KEY)")
    driver.write("INSERT INTO t VALUES (1)")
    with pytest.raises(PositionAhead):
        driver.query("SELECT * FROM t AT OFFSET 2")
    driver.store.skip_to(1, 2, record_hash(1, 2))
    assert driver.rows("SELECT * FROM t AT OFFSET 2") == [[1]]
    with pytest.raises(InvariantViolation):
        driver.store.skip_to(1, 2, record_hash(1, 2))
    driver.reopen()
    assert driver.store.applied_position(1) == 2
    assert driver.store.applied_hash(1) == record_hash(1, 2)


def test_hostile_values_are_stored_as_data(driver: Driver) -> None:
    """SQL fragments, quotes, NULs, odd Unicode and LIKE wildcards in values are stored and matched as plain data."""
    driver.write("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT, raw BYTES)")
    hostile = [
        "x'); DROP TABLE notes; --",
        'a"b\\c',
        "nul\x00inside",
        "é\u0301 ß 𝔘 \u200b\u202e",
        "%_%",
        "craton_t_1",
    ]
    for i, text in enumerate(hostile):
        driver.write("INSERT INTO notes VALUES ($1, $2, $3)", [i, text, text.encode("utf-8")])
    assert driver.rows("SELECT body FROM notes ORDER BY id") == [[t] for t in hostile]
    assert driver.rows("SELECT id FROM notes WHERE body = $1", [hostile[0]]) == [[0]]
    assert driver.rows("SELECT id FROM notes WHERE raw = $1", [b"nul\x00inside"]) == [[2]]
    assert driver.rows("SELECT COUNT(*) FROM notes WHERE body LIKE $1", ["%DROP TABLE%"]) == [[1]]
    assert driver.store.tables(1).keys() == {"notes"}
