"""Export with a signed proof, verified offline; removed, added or edited lines fail (§8.2 item 27)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.craton.engine import Engine, verify_export
from appliance.craton.types import InvalidOffset


@pytest.fixture
def exported(engine: Engine, tmp_path: Path) -> tuple[Path, bytes, int]:
    stream = engine.create_stream(1, "ledger")
    for start in range(0, 40, 6):
        engine.append(1, stream, [f"entry {i}".encode() for i in range(start, min(start + 6, 40))], None)
    out = tmp_path / "ledger.jsonl"
    summary = engine.export(1, stream, 3, 30, out)
    assert summary.records == 28
    return out, engine.public_key(), stream


def _independent_check(path: Path, public_key: bytes) -> bool:
    """A verifier written from the format description alone: hashlib, json, base64 and the raw key."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    proof = lines[-1]
    head = bytes.fromhex(proof["first_prev_hash"])
    for line in lines[1:-1]:
        if bytes.fromhex(line["prev_hash"]) != head:
            return False
        kind = bytes([line["kind"]])
        digest = hashlib.sha256(kind if head == bytes(32) else head + kind)
        digest.update(base64.b64decode(line["payload"]))
        head = digest.digest()
    if head.hex() != proof["last_hash"]:
        return False
    unsigned = dict(proof, signature="")
    body = json.dumps(unsigned, separators=(",", ":")).encode()
    key = Ed25519PublicKey.from_public_bytes(public_key)
    key.verify(bytes.fromhex(proof["signature"]), b"Craton-Export-v1\x00" + body)
    return True


def test_export_verifies_offline_with_the_public_key(exported: tuple[Path, bytes, int]) -> None:
    """verify_export and an independent re-implementation both accept the untouched file."""
    path, public_key, _stream = exported
    report = verify_export(path, public_key)
    assert (report.ok, report.records, report.first_bad_line) == (True, 28, None)
    assert _independent_check(path, public_key)


def _rewrite(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def _edit_payload(lines: list[str]) -> list[str]:
    record = json.loads(lines[5])
    record["payload"] = base64.b64encode(b"entry 999").decode()
    return [*lines[:5], json.dumps(record, separators=(",", ":")), *lines[6:]]


def _edit_payload_and_hash(lines: list[str]) -> list[str]:
    record = json.loads(lines[5])
    payload = b"forged"
    record["payload"] = base64.b64encode(payload).decode()
    digest = hashlib.sha256(bytes.fromhex(record["prev_hash"]) + bytes([record["kind"]]) + payload)
    record["hash"] = digest.hexdigest()
    return [*lines[:5], json.dumps(record, separators=(",", ":")), *lines[6:]]


def _edit_proof_range(lines: list[str]) -> list[str]:
    proof = json.loads(lines[-1])
    proof["tenant"] = 2
    return [*lines[:-1], json.dumps(proof, separators=(",", ":"))]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (lambda lines: [*lines[:5], *lines[6:]], 6),  # a record removed
        (lambda lines: [*lines[:5], lines[4], *lines[5:]], 6),  # a record duplicated
        (lambda lines: [*lines[:5], lines[6], lines[5], *lines[7:]], 6),  # two swapped
        (_edit_payload, 6),  # an edited payload
        (_edit_payload_and_hash, 7),  # an edited payload with its hash recomputed: the next link breaks
        (lambda lines: lines[:-2] + lines[-1:], 29),  # the last record dropped
        (_edit_proof_range, 30),  # the proof claims another tenant
    ],
)
def test_any_change_to_the_file_fails_verification(exported: tuple[Path, bytes, int], change, line: int) -> None:
    """Each tampering is found, at the line where the chain or the signature first disagrees."""
    path, public_key, _stream = exported
    _rewrite(path, change)
    report = verify_export(path, public_key)
    assert not report.ok
    assert report.first_bad_line == line


def test_another_key_does_not_verify(exported: tuple[Path, bytes, int]) -> None:
    """The proof is bound to the replica's key."""
    path, _public_key, _stream = exported
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_export(path, other).ok


def test_export_range_outside_the_stream_is_refused(engine: Engine, tmp_path: Path) -> None:
    """An export past the end is a clear InvalidOffset, and no file is left behind."""
    stream = engine.create_stream(1, "s")
    engine.append(1, stream, [b"a"], None)
    with pytest.raises(InvalidOffset):
        engine.export(1, stream, 0, 5, tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()


def test_garbage_file_is_a_report_not_a_crash(tmp_path: Path, engine: Engine) -> None:
    """Random bytes, an empty file and a truncated proof each give ok=False with a reason."""
    for content in (b"", b"\xff\xfe not json\n", b'{"type":"header"}\n{"type":"proof"}\n'):
        path = tmp_path / "bad.jsonl"
        path.write_bytes(content)
        report = verify_export(path, engine.public_key())
        assert not report.ok
        assert report.reason
