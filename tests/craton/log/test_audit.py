"""The audit log: complete, hash-chained, and an edit is reported at its exact index (§8.2 item 28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.craton.audit import AuditBody, AuditLog, verify_file
from appliance.craton.engine import Engine
from appliance.craton.types import QueryExecutionError, StorageError


def _audit_path(engine: Engine) -> Path:
    return Path(engine.status()["journal_path"]).parent.parent / "audit" / "audit.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_ddl_dml_auth_and_export_is_audited(engine: Engine, tmp_path: Path) -> None:
    """One entry per decision, with its outcome, and the chain verifies."""
    stream = engine.create_stream(1, "s")
    engine.append(1, stream, [b"x"], None)
    engine.execute(1, "CREATE TABLE t (id BIGINT PRIMARY KEY)", [])
    engine.execute(1, "INSERT INTO t VALUES (1)", [])
    with pytest.raises(QueryExecutionError):
        engine.execute(1, "INSERT INTO t VALUES (1)", [])
    engine.execute(1, "UPDATE t SET id = 2", [])
    engine.execute(1, "DELETE FROM t", [])
    engine.execute(1, "DROP TABLE t", [])
    engine.audit_auth(1, "alice", True, "jwt")
    engine.audit_auth(None, "mallory", False, "bad signature")
    engine.export(1, stream, 0, 0, tmp_path / "e.jsonl")
    actions = [(e["body"]["action"], e["body"]["outcome"]) for e in _lines(_audit_path(engine))]
    assert actions == [
        ("stream.create", "ok"),
        ("sql.createtable", "ok"),
        ("sql.insert", "ok"),
        ("sql.insert", "rejected"),
        ("sql.update", "ok"),
        ("sql.delete", "ok"),
        ("sql.droptable", "ok"),
        ("auth", "ok"),
        ("auth", "denied"),
        ("export", "ok"),
    ]
    report = engine.verify_audit()
    assert (report.ok, report.entries_checked) == (True, 10)


def _log_with(path: Path, count: int) -> None:
    log, _ = AuditLog.open(path)
    for index in range(count):
        log.append(AuditBody(1_000 + index, 1, "sql.insert", "t", "ok", f"entry {index}", index + 1))
    log.close()


@pytest.mark.parametrize("index", [0, 3, 7])
def test_editing_one_entry_is_reported_at_that_index(tmp_path: Path, index: int) -> None:
    """Changing any field of entry k (even keeping valid JSON) fails verification at exactly k."""
    path = tmp_path / "audit.jsonl"
    _log_with(path, 8)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[index])
    entry["body"]["outcome"] = "rejected"
    lines[index] = json.dumps(entry, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    report = verify_file(path)
    assert (report.ok, report.first_bad_index) == (False, index)
    assert "edited" in (report.reason or "")


def test_removing_or_inserting_an_entry_is_reported_where_it_happened(tmp_path: Path) -> None:
    """A removed line breaks the index sequence at its position; so does a duplicated one."""
    path = tmp_path / "audit.jsonl"
    _log_with(path, 6)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert verify_file(path).first_bad_index == 2
    path.write_text("\n".join([*lines[:4], lines[3], *lines[4:]]) + "\n")
    assert verify_file(path).first_bad_index == 4


def test_an_unfinished_last_line_is_cut_and_the_chain_continues(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line: it is cut on open, reported, and appends chain on."""
    path = tmp_path / "audit.jsonl"
    _log_with(path, 3)
    with path.open("a") as file:
        file.write('{"index":3,"prev_hash":"ab')
    log, repairs = AuditLog.open(path)
    assert [r.subject for r in repairs] == ["audit"]
    assert log.last_op == 3
    log.append(AuditBody(5, 1, "auth", "bob", "ok"))
    log.close()
    report = verify_file(path)
    assert (report.ok, report.entries_checked) == (True, 4)


def test_a_damaged_complete_line_refuses_to_open(tmp_path: Path) -> None:
    """Damage before the end is never cut: opening fails with the index instead."""
    path = tmp_path / "audit.jsonl"
    _log_with(path, 3)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("entry 1", "entry X")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StorageError, match="entry 1"):
        AuditLog.open(path)
