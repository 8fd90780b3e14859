"""Chain verification over a span of segment bytes: the one loop that checks every record.

For each record it checks the CRC, that the offset field is the next offset, that prev_hash is
the hash of the record before it, that a checkpoint's payload names that same hash and the right
record count, and it computes the record's hash for the next step. It can also hand back the data
payloads (or whole records) of an offset range, so verified reads and `verify_chain` share it.

When a link breaks at record k it looks one record further to say which record is at fault: if
record k's own fields still hash to what record k+1 stores, record k−1 was edited; otherwise
record k's prev_hash was.

This module uses the standard library only, because it also runs as a worker process
(`python -S scan.py SEGMENT START END FIRST_OFFSET`) that verifies one slice of a large segment
on another core; it therefore also holds the §1.3 layout constants that `record.py` re-exports.

Owns: the layout constants and the verification loop (the hot path of `verify_chain`, kept flat
on purpose). Must never: skip a record, treat a failure as the end of the data, or read outside
the span; or import anything outside the standard library.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import struct
import sys
import zlib
from typing import Final

HEADER: Final = struct.Struct("<Q32sBI")  # offset, prev_hash, kind, length
HEADER_BYTES: Final = HEADER.size  # 45
CRC_BYTES: Final = 4
RECORD_OVERHEAD_BYTES: Final = HEADER_BYTES + CRC_BYTES  # 49
PAYLOAD_BYTES_MAX: Final = 16 * 1024 * 1024
# CRC-32 of any byte string followed by its own little-endian CRC-32: checking a whole record in
# one call avoids unpacking the stored CRC.
CRC_RESIDUE: Final = 0x2144DF1C
CHECKPOINT_PAYLOAD: Final = struct.Struct("<32sQ")  # chain_hash, record_count
KIND_DATA: Final = 0
KIND_CHECKPOINT: Final = 1
KIND_TOMBSTONE: Final = 2
KNOWN_KINDS: Final = frozenset({KIND_DATA, KIND_CHECKPOINT, KIND_TOMBSTONE})
GENESIS: Final = bytes(32)
_NO_COLLECTION: Final = 1 << 64


@dataclasses.dataclass(frozen=True, slots=True)
class ScanFailure:
    """The first inconsistency: `offset` is the record at fault, `corrupted` when its CRC fails."""

    offset: int
    reason: str
    corrupted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ScanSpan:
    """Where to scan: bytes [`position`, `end`) of a buffer, whose first record is `first_offset`
    and must carry `prev_hash`; data payloads (or whole records) in [`collect_from`, `collect_to`]
    are kept. `last_hash`, when known, is the hash the span's last record must have."""

    position: int
    end: int
    first_offset: int
    prev_hash: bytes
    collect_from: int = _NO_COLLECTION
    collect_to: int = -1
    keep_records: bool = False
    last_hash: bytes | None = None


@dataclasses.dataclass(slots=True)
class ScanResult:
    records_checked: int = 0
    last_hash: bytes = GENESIS
    failure: ScanFailure | None = None
    checkpoints: list[tuple[int, bytes]] = dataclasses.field(default_factory=list)  # (offset, hash before)
    payloads: list[bytes] = dataclasses.field(default_factory=list)
    records: list[tuple[int, bytes, int, bytes, bytes]] = dataclasses.field(default_factory=list)

    @property
    def hash_operations(self) -> int:
        return self.records_checked


def record_hash(prev_hash: bytes, kind: int, payload: bytes) -> bytes:
    """§1.3: SHA-256(prev ‖ kind ‖ payload), or SHA-256(kind ‖ payload) for genesis (prev all zero).
    The same definition as `crypto.record_hash`; a test pins the two equal."""
    digest = hashlib.sha256(bytes([kind])) if prev_hash == GENESIS else hashlib.sha256(prev_hash + bytes([kind]))
    digest.update(payload)
    return digest.digest()


def checkpoint_payload(chain_hash: bytes, record_count: int) -> bytes:
    return CHECKPOINT_PAYLOAD.pack(chain_hash, record_count)


def scan(buffer: bytes | mmap.mmap, span: ScanSpan) -> ScanResult:
    """Verify every record of the span in order and stop at the first failure."""
    result = ScanResult(last_hash=span.prev_hash)
    position, end, expected, head = span.position, span.end, span.first_offset, span.prev_hash
    if expected == 0 and position < end:
        # Genesis hashes kind ‖ payload only; checking it here keeps that case out of the loop.
        failure, position, head = _genesis(buffer, span, result)
        if failure is not None:
            result.failure = failure
            return result
        expected = 1
    unpack, crc32, sha256 = HEADER.unpack_from, zlib.crc32, hashlib.sha256
    collect_from, collect_to = span.collect_from, span.collect_to
    while position < end:
        offset, prev, kind, length = unpack(buffer, position)
        record_end = position + RECORD_OVERHEAD_BYTES + length
        if record_end > end:
            result.failure = ScanFailure(expected, f"record {expected} runs past the segment's end", True)
            break
        record = buffer[position:record_end]
        if kind or offset != expected or prev != head or crc32(record) != CRC_RESIDUE:
            # The uncommon cases (checkpoints, tombstones, damage) take the careful path.
            failure = _check_slowly(buffer, span, position, expected=expected, head=head, result=result)
            if failure is not None:
                result.failure = failure
                break
        digest = sha256(record[8:41])  # prev_hash ‖ kind are adjacent in the header
        digest.update(record[HEADER_BYTES:-4])
        head = digest.digest()
        if collect_from <= expected <= collect_to:
            _collect(result, span, record, expected, head)
        expected += 1
        position = record_end
    result.records_checked = expected - span.first_offset
    result.last_hash = head
    return result


def _genesis(buffer: bytes | mmap.mmap, span: ScanSpan, result: ScanResult) -> tuple[ScanFailure | None, int, bytes]:
    position = span.position
    if span.end - position < RECORD_OVERHEAD_BYTES:
        return ScanFailure(0, "record 0 runs past the segment's end", True), position, GENESIS
    failure = _check_slowly(buffer, span, position, expected=0, head=GENESIS, result=result)
    if failure is not None:
        return failure, position, GENESIS
    _offset, _prev, kind, length = HEADER.unpack_from(buffer, position)
    record_end = position + RECORD_OVERHEAD_BYTES + length
    record = buffer[position:record_end]
    head = record_hash(GENESIS, kind, record[HEADER_BYTES:-4])
    if span.collect_from <= 0 <= span.collect_to:
        _collect(result, span, record, 0, head)
    return None, record_end, head


def _collect(result: ScanResult, span: ScanSpan, record: bytes, offset: int, digest: bytes) -> None:
    payload = bytes(record[HEADER_BYTES:-4])
    kind = record[40]
    if span.keep_records:
        result.records.append((offset, bytes(record[8:40]), kind, payload, digest))
    elif kind == KIND_DATA:
        result.payloads.append(payload)


def _check_slowly(
    buffer: bytes | mmap.mmap, span: ScanSpan, at: int, *, expected: int, head: bytes, result: ScanResult
) -> ScanFailure | None:
    offset, prev, kind, length = HEADER.unpack_from(buffer, at)
    record_end = at + RECORD_OVERHEAD_BYTES + length
    if length > PAYLOAD_BYTES_MAX or record_end > span.end:
        return ScanFailure(expected, f"record {expected} runs past the segment's end", True)
    failure = _check_fields(buffer[at:record_end], offset, kind, expected)
    if failure is not None:
        return failure
    if prev != head:
        return _locate_break(buffer, span, at, expected)
    if kind == KIND_CHECKPOINT:
        return _check_checkpoint(bytes(buffer[at + HEADER_BYTES : record_end - 4]), expected, head, result)
    return None


def _check_fields(record: bytes, offset: int, kind: int, expected: int) -> ScanFailure | None:
    if zlib.crc32(record) != CRC_RESIDUE:
        return ScanFailure(expected, f"record {expected} fails its CRC (corrupted record)", True)
    if offset != expected:
        return ScanFailure(expected, f"record at offset {expected} carries offset field {offset}")
    if kind not in KNOWN_KINDS:
        return ScanFailure(expected, f"record {expected} has unknown kind {kind}")
    return None


def _check_checkpoint(payload: bytes, offset: int, head: bytes, result: ScanResult) -> ScanFailure | None:
    if payload != checkpoint_payload(head, offset):
        return ScanFailure(offset, f"checkpoint {offset} does not name the chain hash and record count before it")
    result.checkpoints.append((offset, head))
    return None


def _locate_break(buffer: bytes | mmap.mmap, span: ScanSpan, position: int, expected: int) -> ScanFailure:
    _offset, prev, kind, length = HEADER.unpack_from(buffer, position)
    record_end = position + RECORD_OVERHEAD_BYTES + length
    if expected > span.first_offset:
        own_hash = record_hash(prev, kind, bytes(buffer[position + HEADER_BYTES : record_end - 4]))
        # The next record's header may lie past the span (a reader includes it for this purpose).
        if record_end + HEADER_BYTES <= len(buffer):
            _next_offset, successor_prev, _kind, _length = HEADER.unpack_from(buffer, record_end)
        else:
            successor_prev = span.last_hash if record_end == span.end else None
        if own_hash == successor_prev:
            reason = f"record {expected - 1} does not hash to the prev_hash stored in record {expected}"
            return ScanFailure(expected - 1, reason)
    return ScanFailure(expected, f"prev_hash of record {expected} is not the hash of record {expected - 1}")


def _worker(arguments: list[str]) -> None:
    """Verify one slice of a segment and print the outcome as one JSON line (see storage/parallel.py)."""
    path, start, end, first_offset = arguments[0], int(arguments[1]), int(arguments[2]), int(arguments[3])
    fd = os.open(path, os.O_RDONLY)
    try:
        with mmap.mmap(fd, end, access=mmap.ACCESS_READ) as buffer:
            prev_hash = GENESIS if first_offset == 0 else bytes(buffer[start + 8 : start + 40])
            result = scan(buffer, ScanSpan(start, end, first_offset, prev_hash))
    finally:
        os.close(fd)
    failure = None if result.failure is None else dataclasses.asdict(result.failure)
    outcome = {
        "records_checked": result.records_checked,
        "first_prev_hash": prev_hash.hex(),
        "last_hash": result.last_hash.hex(),
        "failure": failure,
        "checkpoints": [[offset, digest.hex()] for offset, digest in result.checkpoints],
    }
    sys.stdout.write(json.dumps(outcome) + "\n")


if __name__ == "__main__":
    _worker(sys.argv[1:])
