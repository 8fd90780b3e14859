"""Golden bytes of the §1.3 record format and the §1.2 chain hash (§8.2 item 1)."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

from appliance.craton.crypto import chain_hash, record_hash
from appliance.craton.storage import StreamLog
from appliance.craton.storage.record import encode_batch
from appliance.craton.types import GENESIS_HASH, StreamId


def _open(tmp_path: Path) -> StreamLog:
    log, _repairs = StreamLog.open(tmp_path / "s", StreamId(7), create=True)
    return log


def test_two_records_have_the_exact_golden_layout(tmp_path: Path) -> None:
    """Appending "a" then "bc" writes exactly offset|prev|kind|length|payload|crc, little-endian, twice."""
    log = _open(tmp_path)
    log.append([b"a"])
    log.append([b"bc"])
    log.close()
    h0 = hashlib.sha256(b"\x00a").digest()
    h1 = hashlib.sha256(h0 + b"\x00bc").digest()
    first = (0).to_bytes(8, "little") + bytes(32) + b"\x00" + (1).to_bytes(4, "little") + b"a"
    first += zlib.crc32(first).to_bytes(4, "little")
    second = (1).to_bytes(8, "little") + h0 + b"\x00" + (2).to_bytes(4, "little") + b"bc"
    second += zlib.crc32(second).to_bytes(4, "little")
    assert (tmp_path / "s" / "segment_000000.log").read_bytes() == first + second
    assert len(first) == 45 + 1 + 4
    reopened = _open(tmp_path)
    assert reopened.last_hash == h1
    assert reopened.read(0, 1 << 20) == ([b"a", b"bc"], None)
    reopened.close()


def test_genesis_hashes_kind_and_payload_only() -> None:
    """The genesis record's hash has no zero prefix; later records hash prev ‖ kind ‖ payload."""
    assert record_hash(GENESIS_HASH, 0, b"a") == hashlib.sha256(b"\x00a").digest()
    assert chain_hash(None, b"\x00a") == hashlib.sha256(b"\x00a").digest()
    h0 = record_hash(GENESIS_HASH, 0, b"a")
    assert record_hash(h0, 1, b"xy") == hashlib.sha256(h0 + b"\x01xy").digest()


def test_the_inlined_batch_hash_equals_record_hash() -> None:
    """encode_batch inlines the record hash for speed; it must agree with crypto.record_hash."""
    payloads = [b"", b"x", bytes(range(256)) * 3]
    for first, prev, kind in ((0, GENESIS_HASH, 0), (17, b"\x07" * 32, 0), (5, b"\x01" * 32, 2)):
        batch = encode_batch(first, prev, kind, payloads)
        head = prev
        for payload in payloads:
            head = record_hash(head, kind, payload)
        assert batch.last_hash == head
        assert batch.record_bytes == [49, 50, 49 + 768]


def test_a_seven_byte_payload_makes_a_56_byte_record(tmp_path: Path) -> None:
    """The header is 45 bytes and the CRC 4, as §1.3 says."""
    log = _open(tmp_path)
    log.append([b"1234567"])
    log.close()
    assert (tmp_path / "s" / "segment_000000.log").stat().st_size == 56


def test_the_stdlib_scan_module_hashes_like_crypto() -> None:
    """scan.py keeps its own copy of the record hash (it runs without site-packages): pinned equal."""
    from appliance.craton.storage import scan

    for prev in (GENESIS_HASH, b"\x09" * 32):
        for kind in (0, 1, 2):
            assert scan.record_hash(prev, kind, b"payload") == record_hash(prev, kind, b"payload")
