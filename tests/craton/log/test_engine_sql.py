"""SQL through the log: MVCC with log positions and hashes, rebuild equals live (§8.2 items 22, 23)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.engine import Engine
from appliance.craton.types import (
    PositionAhead,
    QueryExecutionError,
    QueryParseError,
    TableNotFound,
    stream_id,
    tenant_id,
)

TABLES = (1 << 32) | 0  # tenant 1's __tables stream


def _workload(engine: Engine) -> dict[str, int]:
    offsets = {}
    offsets["create"] = engine.execute(
        1, "CREATE TABLE acct (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, n BIGINT)", []
    ).offset
    offsets["insert"] = engine.execute(
        1, "INSERT INTO acct VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', 30)", []
    ).offset
    offsets["update"] = engine.execute(1, "UPDATE acct SET n = n + $1 WHERE id <= $2", [5, 2]).offset
    offsets["delete"] = engine.execute(1, "DELETE FROM acct WHERE owner = 'cy'", []).offset
    with pytest.raises(QueryExecutionError):
        engine.execute(1, "INSERT INTO acct VALUES (1, 'dup', 0)", [])  # logged, rejected by the store
    offsets["last"] = engine.execute(1, "INSERT INTO acct (id, owner) VALUES (4, 'dee')", []).offset
    return offsets


ALL = "SELECT id, owner, n FROM acct ORDER BY id"


def test_old_values_stay_visible_at_old_offsets(engine: Engine) -> None:
    """AT OFFSET reads the table as it was after that record; later changes are invisible there."""
    offsets = _workload(engine)
    assert engine.query_at(1, ALL, [], offsets["insert"]).rows == [[1, "ann", 10], [2, "bob", 20], [3, "cy", 30]]
    assert engine.query_at(1, ALL, [], offsets["update"]).rows == [[1, "ann", 15], [2, "bob", 25], [3, "cy", 30]]
    assert engine.query(1, f"SELECT id FROM acct ORDER BY id AT OFFSET {offsets['delete']}", []).rows == [[1], [2]]
    assert engine.query(1, ALL, []).rows == [[1, "ann", 15], [2, "bob", 25], [4, "dee", None]]
    with pytest.raises(TableNotFound):
        engine.query(2, ALL, [])  # another tenant has no such table
    with pytest.raises(PositionAhead):
        engine.query_at(1, ALL, [], 10_000)


def test_every_row_version_names_the_log_record_that_made_it(engine: Engine) -> None:
    """Each version's (created_at, created_hash) is an offset of __tables and that record's hash."""
    _workload(engine)
    versions = engine._applier.store.row_versions(1, "acct")
    log = engine._storage.get(stream_id(tenant_id(1), 0))
    assert len(versions) == 3 + 2 + 1  # three inserts, two updated copies, one more insert
    for version in versions:
        record = log.read_records(version.created_at, version.created_at)[0]
        assert record.hash == version.created_hash
        assert record.kind == 0


def test_deleting_the_projections_rebuilds_identical_results(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """Remove projections.sqlite3 and reopen: the same answers at every offset, the same content hash."""
    data = tmp_path / "r"
    engine = Engine.open(data, checkpoint_every=3, signing_key=signing_key)
    offsets = _workload(engine)
    live = {name: engine.query_at(1, ALL, [], offset) for name, offset in offsets.items() if name != "create"}
    live_now = engine.query(1, ALL, [])
    live_hash = engine._applier.store.content_hash()
    engine.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data / 'projections.sqlite3'}{suffix}").unlink(missing_ok=True)
    rebuilt = Engine.open(data, checkpoint_every=3, signing_key=signing_key)
    assert rebuilt.status()["projections"] == "caught up (6 records)"  # every statement replayed from offset 0
    assert rebuilt._applier.store.content_hash() == live_hash
    assert rebuilt.query(1, ALL, []) == live_now
    for name, result in live.items():
        assert rebuilt.query_at(1, ALL, [], offsets[name]) == result
    rebuilt.close()


def test_a_store_that_disagrees_with_the_log_is_rebuilt(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """A projection file from another history (ahead of this log) is thrown away and rebuilt."""
    other, mine = tmp_path / "other", tmp_path / "mine"
    engine = Engine.open(other, signing_key=signing_key)
    _workload(engine)
    engine.execute(1, "INSERT INTO acct VALUES (9, 'extra', 1)", [])
    engine.close()
    engine = Engine.open(mine, signing_key=signing_key)
    _workload(engine)
    expected = engine.query(1, ALL, [])
    engine.close()
    shutil.copy(other / "projections.sqlite3", mine / "projections.sqlite3")
    reopened = Engine.open(mine, signing_key=signing_key)
    assert reopened.status()["projections"].startswith("rebuilt")
    assert reopened.query(1, ALL, []) == expected
    reopened.close()


def test_reads_and_writes_are_kept_apart(engine: Engine) -> None:
    """execute refuses SELECT and query refuses writes, with a parse error naming the mistake."""
    engine.execute(1, "CREATE TABLE t (id BIGINT PRIMARY KEY)", [])
    with pytest.raises(QueryParseError, match="query"):
        engine.execute(1, "SELECT * FROM t", [])
    with pytest.raises(QueryParseError, match="execute"):
        engine.query(1, "DELETE FROM t", [])
    with pytest.raises(QueryParseError):
        engine.execute(1, "INSERT INTO t VALUES (random())", [])


def test_tenants_have_separate_tables_of_the_same_name(engine: Engine) -> None:
    """Two tenants create `t`; each sees only its own rows, and a forged tenant sees nothing."""
    for tenant in (1, 2):
        engine.execute(tenant, "CREATE TABLE t (id BIGINT PRIMARY KEY, who TEXT)", [])
        engine.execute(tenant, "INSERT INTO t VALUES (1, $1)", [f"tenant {tenant}"])
    assert engine.query(1, "SELECT who FROM t", []).rows == [["tenant 1"]]
    assert engine.query(2, "SELECT who FROM t", []).rows == [["tenant 2"]]
    with pytest.raises(TableNotFound):
        engine.query(3, "SELECT who FROM t", [])
    with pytest.raises(TableNotFound):
        engine.execute(3, "DELETE FROM t", [])
