"""Chain verification over a span of segment bytes: the one loop that checks every record.

For each record it checks the CRC, that the offset field is the next offset, that prev_hash is
the hash of the record before it, that a checkpoint's payload names that same hash and the right
record count, and it computes the record's hash for the next step. It can also hand back the data
payloads of an offset range, so a verified read and a full `verify_chain` share this code.

When a link breaks at record k it looks one record further to say which record is at fault: if
record k's own fields still hash to what record k+1 stores, record k−1 was edited; otherwise
record k's prev_hash was.

Owns: the verification loop (the hot path of `verify_chain`, kept flat on purpose).
Must never: skip a record, treat a failure as the end of the data, or read outside the span.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Final

import msgspec

from appliance.craton.crypto import record_hash
from appliance.craton.storage.record import (
    CRC_RESIDUE,
    HEADER,
    HEADER_BYTES,
    PAYLOAD_BYTES_MAX,
    RECORD_OVERHEAD_BYTES,
    ByteSource,
    Record,
    checkpoint_payload,
)
from appliance.craton.types import RecordKind

_KNOWN_KINDS: Final = frozenset(int(kind) for kind in RecordKind)
_NO_COLLECTION: Final = 1 << 64


class ScanFailure(msgspec.Struct, frozen=True):
    """The first inconsistency: `offset` is the record at fault, `corrupted` when its CRC fails."""

    offset: int
    reason: str
    corrupted: bool = False


class ScanResult(msgspec.Struct):
    records_checked: int
    last_hash: bytes
    end_position: int
    failure: ScanFailure | None
    checkpoints: list[tuple[int, bytes]]  # (checkpoint offset, hash of the record before it)
    payloads: list[bytes]
    hash_operations: int
    records: list[Record]


class ScanSpan(msgspec.Struct, frozen=True):
    """Where to scan: bytes [`position`, `end`) of `buffer`, whose first record is `first_offset`
    and must carry `prev_hash`; data payloads (or whole records) in [`collect_from`, `collect_to`] are kept."""

    position: int
    end: int
    first_offset: int
    prev_hash: bytes
    collect_from: int = _NO_COLLECTION
    collect_to: int = -1
    keep_records: bool = False  # collect every record in range (with its hash), not only data payloads
    # The hash the span's last record must have, when known (the chain head, if the span reaches it).
    last_hash: bytes | None = None


def scan(buffer: ByteSource, span: ScanSpan) -> ScanResult:
    """Verify every record of the span in order and stop at the first failure."""
    result = ScanResult(0, span.prev_hash, span.position, None, [], [], 0, [])
    position = span.position
    end = span.end
    expected = span.first_offset
    head = span.prev_hash
    unpack = HEADER.unpack_from
    crc32 = zlib.crc32
    sha256 = hashlib.sha256
    collect_from = span.collect_from
    collect_to = span.collect_to
    payloads = result.payloads
    while position < end:
        offset, prev, kind, length = unpack(buffer, position)
        record_end = position + RECORD_OVERHEAD_BYTES + length
        if record_end > end or length > PAYLOAD_BYTES_MAX:
            result.failure = ScanFailure(expected, f"record {expected} runs past the end of the segment", True)
            break
        record = buffer[position:record_end]
        if kind or offset != expected or prev != head or not expected or crc32(record) != CRC_RESIDUE:
            # The uncommon cases (checkpoints, genesis, damage) take the careful path.
            failure = _check_slowly(buffer, span, position, expected=expected, head=head, result=result)
            if failure is not None:
                result.failure = failure
                break
        # Genesis (offset 0, prev_hash all zeros) hashes kind ‖ payload only: §1.2.
        digest = sha256(record[8:41]) if expected else sha256(record[40:41])
        digest.update(record[HEADER_BYTES:-4])
        head = digest.digest()
        if collect_from <= expected <= collect_to:
            if span.keep_records:
                payload = bytes(record[HEADER_BYTES:-4])
                result.records.append(Record(expected, bytes(prev), kind, payload, head))
            elif not kind:
                payloads.append(bytes(record[HEADER_BYTES:-4]))
        expected += 1
        position = record_end
    result.records_checked = expected - span.first_offset
    result.hash_operations = result.records_checked
    result.last_hash = head
    result.end_position = position
    return result


def _check_slowly(
    buffer: ByteSource,
    span: ScanSpan,
    position: int,
    *,
    expected: int,
    head: bytes,
    result: ScanResult,
) -> ScanFailure | None:
    offset, prev, kind, length = HEADER.unpack_from(buffer, position)
    record_end = position + RECORD_OVERHEAD_BYTES + length
    if zlib.crc32(buffer[position:record_end]) != CRC_RESIDUE:
        return ScanFailure(expected, f"record {expected} fails its CRC (corrupted record)", True)
    if offset != expected:
        return ScanFailure(expected, f"record at offset {expected} carries offset field {offset}")
    if kind not in _KNOWN_KINDS:
        return ScanFailure(expected, f"record {expected} has unknown kind {kind}")
    if prev != head:
        return _locate_break(buffer, span, position, expected)
    if kind == RecordKind.CHECKPOINT:
        payload = bytes(buffer[position + HEADER_BYTES : record_end - 4])
        if payload != checkpoint_payload(head, expected):
            reason = f"checkpoint {expected} does not name the chain hash and record count before it"
            return ScanFailure(expected, reason)
        result.checkpoints.append((expected, head))
    return None


def _locate_break(buffer: ByteSource, span: ScanSpan, position: int, expected: int) -> ScanFailure:
    _offset, prev, kind, length = HEADER.unpack_from(buffer, position)
    record_end = position + RECORD_OVERHEAD_BYTES + length
    if expected > span.first_offset:
        own_hash = record_hash(prev, kind, buffer[position + HEADER_BYTES : record_end - 4])
        # The next record's header may lie past the span (a reader includes it for this purpose).
        if record_end + HEADER_BYTES <= len(buffer):
            _next_offset, successor_prev, _kind, _length = HEADER.unpack_from(buffer, record_end)
        else:
            successor_prev = span.last_hash if record_end == span.end else None
        if own_hash == successor_prev:
            reason = f"record {expected - 1} does not hash to the prev_hash stored in record {expected}"
            return ScanFailure(expected - 1, reason)
    return ScanFailure(expected, f"prev_hash of record {expected} is not the hash of record {expected - 1}")
