"""`craton export` and `craton verify-export` as real processes on a real replica's data dir."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from appliance.craton.client import Client
from tests.craton.net.replica_process import run_cli, start_replica


def _prepare(tmp_path: Path) -> tuple[Path, int]:
    """A stopped replica whose tenant-1 stream holds 25 events."""
    data = tmp_path / "replica"
    replica = start_replica(data)
    client = Client(replica.address, token=replica.token)
    stream = client.create_stream("audit-me")
    for batch in range(5):
        client.append(stream, [f"event {batch}-{i}".encode() for i in range(5)])
    client.close()
    assert replica.stop()[0] == 0
    return data, stream


def test_export_verifies_offline_and_any_tampering_is_caught(tmp_path: Path) -> None:
    """The export verifies with the replica's public key; a removed, added or edited line, or a wrong key, fails."""
    data, stream = _prepare(tmp_path)
    out = tmp_path / "export.jsonl"
    exported = run_cli("export", "--data-dir", str(data), "--tenant", "1", "--stream", str(stream), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "exported" in exported.stdout
    key = str(data / "replica-public-key.pem")
    verified = run_cli("verify-export", str(out), "--public-key", key, "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True

    lines = out.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["payload"] = base64.b64encode(b"forged").decode()
    edited = [*lines[:3], (json.dumps(record) + "\n").encode(), *lines[4:]]
    variants = {
        "removed": lines[:3] + lines[4:],
        "added": [*lines[:4], lines[3], *lines[4:]],
        "edited": edited,
    }
    for name, content in variants.items():
        tampered = tmp_path / f"{name}.jsonl"
        tampered.write_bytes(b"".join(content))
        result = run_cli("verify-export", str(tampered), "--public-key", key)
        assert result.returncode == 1, name
        assert "FAILED at line" in result.stderr, (name, result.stderr)
    wrong_key = run_cli("verify-export", str(out), "--public-key", str(data / "dev-control-plane-public-key.pem"))
    assert wrong_key.returncode == 1
    assert "FAILED" in wrong_key.stderr


def test_export_refuses_a_running_replica_and_bad_arguments(tmp_path: Path) -> None:
    """Export needs the replica stopped (one line, exit 1); an unknown stream or missing dir is one line too."""
    data, stream = _prepare(tmp_path)
    replica = start_replica(data)
    try:
        busy = run_cli(
            "export", "--data-dir", str(data), "--tenant", "1", "--stream", str(stream), "--out", str(tmp_path / "x")
        )
        assert busy.returncode == 1
        assert "in use by another engine" in busy.stderr
    finally:
        replica.stop()
    unknown = run_cli(
        "export", "--data-dir", str(data), "--tenant", "1", "--stream", "999", "--out", str(tmp_path / "y")
    )
    assert unknown.returncode == 1
    assert len(unknown.stderr.strip().splitlines()) == 1
    missing = run_cli("export", "--data-dir", str(tmp_path / "nope"), "--tenant", "1", "--stream", "1", "--out", "z")
    assert missing.returncode == 1
    assert "no replica data" in missing.stderr
    no_key = run_cli("verify-export", str(tmp_path / "y"), "--public-key", str(tmp_path / "absent.pem"))
    assert no_key.returncode == 1
    assert "cannot read a public key" in no_key.stderr
