"""Checkpoints shorten verification, reads skip them, and signed ones expose edits (§8.2 items 5, 26)."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.crypto import CheckpointFields, verify_checkpoint
from appliance.craton.storage import StreamLog
from appliance.craton.storage.record import HEADER
from appliance.craton.types import CheckpointPolicy, StreamId
from tests.craton.log.segment_bytes import flip_payload_byte, record_spans

POLICY = CheckpointPolicy(every_records=10)


def _append_with_policy(log: StreamLog, events: list[bytes], batch: int) -> None:
    since = 0
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        since += len(chunk)
        due = POLICY.due(since)
        log.append(chunk, checkpoint=due)
        if due:
            since = 0


def _log(tmp_path: Path, key: Ed25519PrivateKey | None = None) -> StreamLog:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(5), signing_key=key, create=True)
    return log


def test_checkpoint_follows_every_ten_data_records_and_reads_skip_it(tmp_path: Path) -> None:
    """With every(10) and single-event appends, offsets 10, 21, 32 are checkpoints; reads see data only."""
    log = _log(tmp_path)
    events = [f"e{i}".encode() for i in range(35)]
    _append_with_policy(log, events, 1)
    assert log.checkpoint_offsets == [10, 21, 32]
    assert log.read(0, 1 << 20) == (events, None)
    assert log.read(10, 1)[0] == [events[10]]  # reading from a checkpoint offset starts at the next event
    log.close()


def test_a_read_verifies_from_the_nearest_checkpoint_not_from_genesis(tmp_path: Path) -> None:
    """Reading offset 25 hashes records 21..26 only (count hash operations), far fewer than a full scan."""
    log = _log(tmp_path)
    _append_with_policy(log, [f"e{i}".encode() for i in range(35)], 1)
    log.hash_operations = 0
    events, next_offset = log.read(25, 1)
    assert events == [b"e23"]
    assert next_offset == 26
    assert log.hash_operations == 26 - 21 + 1  # 21 (checkpoint) .. 26 (the record that proves 25)
    log.hash_operations = 0
    assert log.verify_chain().ok
    assert log.hash_operations == log.next_offset
    log.close()


def test_checkpoint_payload_is_the_previous_hash_and_the_record_count(tmp_path: Path) -> None:
    """Kind 1, a 40-byte payload: chain hash of the record before it, then the count (u64 LE)."""
    log = _log(tmp_path)
    log.append([b"a", b"b"], checkpoint=True)
    log.close()
    path = tmp_path / "s" / "segment_000000.log"
    start, end = record_spans(path)[2]
    data = path.read_bytes()[start:end]
    offset, prev, kind, length = HEADER.unpack_from(data)
    h0 = hashlib.sha256(b"\x00a").digest()
    h1 = hashlib.sha256(h0 + b"\x00b").digest()
    assert (offset, prev, kind, length) == (2, h1, 1, 40)
    assert data[45:85] == h1 + (2).to_bytes(8, "little")


def test_signed_checkpoint_verifies_with_the_replica_key(tmp_path: Path) -> None:
    """Each checkpoint gets an Ed25519 signature over its chain hash, which verifies with the public key."""
    key = Ed25519PrivateKey.generate()
    log = _log(tmp_path, key)
    _append_with_policy(log, [bytes([i]) * 20 for i in range(30)], 5)
    signed = log.signed_checkpoints
    assert sorted(signed) == log.checkpoint_offsets == [10, 21, 32]
    for offset, entry in signed.items():
        fields = CheckpointFields(5, offset, entry.chain_hash, offset)
        assert verify_checkpoint(key.public_key(), fields, entry.signature)
        assert not verify_checkpoint(Ed25519PrivateKey.generate().public_key(), fields, entry.signature)
    report = log.verify_chain()
    assert (report.ok, report.signed_checkpoints) == (True, 3)
    log.close()


def _rechain(path: Path) -> None:
    """Recompute every prev_hash, checkpoint payload and CRC: a forger with write access but no key."""
    data = bytearray(path.read_bytes())
    head = bytes(32)
    for start, end in record_spans(path):
        offset, _prev, kind, length = HEADER.unpack_from(data, start)
        payload = bytes(data[start + 45 : start + 45 + length])
        if kind == 1:
            payload = head + offset.to_bytes(8, "little")
        data[start : end - 4] = HEADER.pack(offset, head, kind, length) + payload
        data[end - 4 : end] = zlib.crc32(bytes(data[start : end - 4])).to_bytes(4, "little")
        digest = hashlib.sha256(bytes([kind]) if offset == 0 else head + bytes([kind]))
        digest.update(payload)
        head = digest.digest()
    path.write_bytes(bytes(data))


def test_one_changed_byte_fails_even_after_the_whole_chain_is_recomputed(tmp_path: Path) -> None:
    """A consistent forged chain still cannot match the stored signature of the checkpoint after the edit."""
    key = Ed25519PrivateKey.generate()
    log = _log(tmp_path, key)
    _append_with_policy(log, [bytes([i]) * 20 for i in range(30)], 5)
    log.close()
    path = tmp_path / "s" / "segment_000000.log"
    flip_payload_byte(path, 13, fix=False)
    _rechain(path)
    reopened, _ = StreamLog.open(tmp_path / "s", StreamId(5), signing_key=key)
    report = reopened.verify_chain()
    assert not report.ok
    assert report.first_bad_offset == 21  # the first signed checkpoint after the edit
    assert "signed checkpoint" in (report.reason or "")
    reopened.close()


def test_missing_signatures_are_restored_only_after_the_chain_verifies(tmp_path: Path) -> None:
    """Losing checkpoints.sig (a crash before its fsync) re-signs checkpoints whose chain verifies."""
    key = Ed25519PrivateKey.generate()
    log = _log(tmp_path, key)
    _append_with_policy(log, [bytes([i]) * 20 for i in range(30)], 5)
    before = log.signed_checkpoints
    log.close()
    (tmp_path / "s" / "checkpoints.sig").unlink()
    reopened, _ = StreamLog.open(tmp_path / "s", StreamId(5), signing_key=key)
    assert reopened.signed_checkpoints.keys() == before.keys()
    assert reopened.verify_chain().signed_checkpoints == 3
    reopened.close()
