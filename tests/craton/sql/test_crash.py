"""Crash safety: a store process killed with SIGKILL mid-write reopens with rows and applied position in step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from appliance.craton.query import parse_statement
from appliance.craton.store import TableStore

from .harness import record_hash

REPO = Path(__file__).resolve().parents[3]


def _expected_rows(applied: int) -> list[list[int]]:
    """Rows after positions 0..applied: even positions insert id=p, odd ones add 1 to every n."""
    rows = []
    for row_id in range(2, applied + 1, 2):
        bumps = sum(1 for p in range(row_id + 1, applied + 1) if p % 2 == 1)
        rows.append([row_id, bumps])
    return rows


def test_sigkill_mid_write_keeps_rows_and_position_together(tmp_path: Path) -> None:
    """After SIGKILL, every acknowledged write is there, the applied position covers it, and the rows are exactly those of the applied position (no half-applied statement)."""
    path = tmp_path / "projections.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.craton.sql.crash_child", str(path), "100000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = -1
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 150:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert acknowledged >= 150, "the child stopped before acknowledging enough writes"
    store = TableStore.open(path)
    try:
        applied = store.applied_position(1)
        assert applied is not None
        assert applied >= acknowledged
        rows = store.select(1, parse_statement("SELECT id, n FROM t ORDER BY id")).rows  # type: ignore[arg-type]
        assert rows == _expected_rows(applied)
        assert store.applied_hash(1) == record_hash(1, applied)
        versions = store.row_versions(1, "t")
        assert all(v.created_hash == record_hash(1, v.created_at) for v in versions)
    finally:
        store.close()
