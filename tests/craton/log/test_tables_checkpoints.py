"""Checkpoint records in a tenant's `__tables` stream take offsets; `AT OFFSET` answers at them,
live, after a reopen, and after the projections are rebuilt from the log."""

from __future__ import annotations

from pathlib import Path

from appliance.craton.engine import Engine
from appliance.craton.store import TableStore
from appliance.craton.types import TenantId

TENANT = TenantId(1)
# checkpoint_every=2: 0 CREATE, 1 INSERT, 2 checkpoint, 3 INSERT, 4 INSERT, 5 checkpoint
EXPECTED_COUNTS = [0, 1, 1, 2, 3, 3]


def counts(engine: Engine) -> list[int]:
    return [engine.query_at(TENANT, "SELECT COUNT(*) FROM t", [], offset).rows[0][0] for offset in range(6)]


def test_at_offset_of_checkpoint_records(tmp_path: Path) -> None:
    """Every offset answers, including a checkpoint that is the stream's last record."""
    data = tmp_path / "replica"
    engine = Engine.open(data, checkpoint_every=2)
    engine.execute(TENANT, "CREATE TABLE t (id BIGINT NOT NULL, PRIMARY KEY (id))", [])
    offsets = [engine.execute(TENANT, "INSERT INTO t (id) VALUES ($1)", [i]).offset for i in range(3)]
    assert offsets == [1, 3, 4]
    assert counts(engine) == EXPECTED_COUNTS
    engine.close()

    reopened = Engine.open(data, checkpoint_every=2)
    assert counts(reopened) == EXPECTED_COUNTS
    reopened.close()

    TableStore.remove_files(data / "projections.sqlite3")
    rebuilt = Engine.open(data, checkpoint_every=2)
    assert counts(rebuilt) == EXPECTED_COUNTS
    rebuilt.close()
