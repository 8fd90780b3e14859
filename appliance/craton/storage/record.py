"""The §1.3 on-disk record: encoding a batch, decoding one record, and the checkpoint payload.

Layout, all integers little-endian::

    offset u64 | prev_hash 32 B | kind u8 | length u32 | payload (length B) | crc32 u32

The header is 45 bytes; the CRC-32 (IEEE, `zlib.crc32`) covers every byte before it. A record's
hash is SHA-256(prev_hash ‖ kind ‖ payload), or SHA-256(kind ‖ payload) for the genesis record
(whose prev_hash is all zeros). A checkpoint record (kind 1) has a 40-byte payload: the chain hash
of the record before it, then the record count (u64) up to and including that record.

Owns: the byte layout and its limits. Must never: touch files, or accept a payload above
`PAYLOAD_BYTES_MAX` (a corrupted length field must not make a reader allocate gigabytes).
"""

from __future__ import annotations

import hashlib
import mmap
import zlib
from typing import Final, TypeAlias

import msgspec

from appliance.craton.crypto import record_hash
from appliance.craton.storage import scan
from appliance.craton.types import HASH_BYTES, InvalidRequest, RecordKind

# The layout constants live in the stdlib-only `scan` module (it also runs as a worker process).
HEADER: Final = scan.HEADER
HEADER_BYTES: Final = scan.HEADER_BYTES  # 45
CRC_BYTES: Final = scan.CRC_BYTES
RECORD_OVERHEAD_BYTES: Final = scan.RECORD_OVERHEAD_BYTES  # 49
PAYLOAD_BYTES_MAX: Final = scan.PAYLOAD_BYTES_MAX
CRC_RESIDUE: Final = scan.CRC_RESIDUE
CHECKPOINT_PAYLOAD: Final = scan.CHECKPOINT_PAYLOAD
# Anything records can be decoded from: a read buffer, a view of one, or a memory-mapped segment.
ByteSource: TypeAlias = bytes | memoryview | mmap.mmap


class Record(msgspec.Struct, frozen=True):
    """One decoded record with its own hash (the hash the next record's prev_hash must equal)."""

    offset: int
    prev_hash: bytes
    kind: int
    payload: bytes
    hash: bytes


class EncodedBatch(msgspec.Struct, frozen=True):
    """Bytes to append, each record's length on disk (for the index), and the new chain head."""

    data: bytes
    record_bytes: list[int]
    last_hash: bytes


def encode_batch(first_offset: int, prev_hash: bytes, kind: int, payloads: list[bytes]) -> EncodedBatch:
    """Encode consecutive records of one kind starting at `first_offset`, chained from `prev_hash`."""
    sizes = [RECORD_OVERHEAD_BYTES + length for length in map(len, payloads)]
    if sizes and max(sizes) > RECORD_OVERHEAD_BYTES + PAYLOAD_BYTES_MAX:
        raise InvalidRequest(f"an event exceeds the {PAYLOAD_BYTES_MAX}-byte limit")
    pack, crc32, sha256 = HEADER.pack, zlib.crc32, hashlib.sha256
    parts: list[bytes] = []
    head = prev_hash
    offset = first_offset
    for payload in payloads:
        header = pack(offset, head, kind, len(payload))
        parts += (header, payload, crc32(payload, crc32(header)).to_bytes(4, "little"))
        # `crypto.record_hash`, inlined: this loop is the append hot path (a test pins them equal).
        # prev_hash ‖ kind sit side by side in the header; genesis hashes the kind byte alone.
        digest = sha256(header[8:41]) if offset else sha256(header[40:41])
        digest.update(payload)
        head = digest.digest()
        offset += 1
    return EncodedBatch(b"".join(parts), sizes, head)


class PreparedAppend(msgspec.Struct, frozen=True):
    """A batch encoded for a stream whose next offset is `first_offset` and head is `prev_hash`:
    the bytes to write, each record's size, the last data record's hash (what a projection row
    records), the chain head after it all, and the checkpoint that closes it, if any."""

    first_offset: int
    prev_hash: bytes
    data: bytes
    record_bytes: list[int]
    data_hash: bytes
    last_hash: bytes
    checkpoint_offset: int | None


def prepare_append(first_offset: int, prev_hash: bytes, events: list[bytes], *, checkpoint: bool) -> PreparedAppend:
    """Encode data records (and a closing checkpoint record when asked); pure, no I/O."""
    batch = encode_batch(first_offset, prev_hash, RecordKind.DATA, events)
    if not checkpoint:
        return PreparedAppend(
            first_offset, prev_hash, batch.data, batch.record_bytes, batch.last_hash, batch.last_hash, None
        )
    offset = first_offset + len(events)
    marker = encode_batch(offset, batch.last_hash, RecordKind.CHECKPOINT, [checkpoint_payload(batch.last_hash, offset)])
    sizes = [*batch.record_bytes, *marker.record_bytes]
    return PreparedAppend(
        first_offset, prev_hash, batch.data + marker.data, sizes, batch.last_hash, marker.last_hash, offset
    )


class RecordDamage(Exception):
    """A record at `position` could not be decoded; `torn` when the bytes simply run out."""

    def __init__(self, message: str, *, position: int, torn: bool) -> None:
        super().__init__(message)
        self.position = position
        self.torn = torn


def decode_at(buffer: ByteSource, position: int, end: int) -> tuple[Record, int]:
    """Decode and CRC-check the record at `position`; returns it and the next record's position."""
    if end - position < HEADER_BYTES:
        raise RecordDamage(f"{end - position} bytes left, a header needs {HEADER_BYTES}", position=position, torn=True)
    offset, prev_hash, kind, length = HEADER.unpack_from(buffer, position)
    if length > PAYLOAD_BYTES_MAX:
        raise RecordDamage(f"length field {length} exceeds the payload limit", position=position, torn=False)
    record_end = position + RECORD_OVERHEAD_BYTES + length
    if record_end > end:
        raise RecordDamage(
            f"record needs {record_end - position} bytes, {end - position} left", position=position, torn=True
        )
    if zlib.crc32(buffer[position:record_end]) != CRC_RESIDUE:
        raise RecordDamage(f"CRC mismatch in the record at byte {position}", position=position, torn=False)
    if kind not in _KNOWN_KINDS:
        raise RecordDamage(f"unknown record kind {kind}", position=position, torn=False)
    payload = bytes(buffer[position + HEADER_BYTES : record_end - CRC_BYTES])
    digest = record_hash(prev_hash, kind, payload)
    return Record(offset, prev_hash, kind, payload, digest), record_end


_KNOWN_KINDS: Final = frozenset(int(kind) for kind in RecordKind)


def checkpoint_payload(chain_hash: bytes, record_count: int) -> bytes:
    if len(chain_hash) != HASH_BYTES:
        raise InvalidRequest("checkpoint chain hash must be 32 bytes")
    return CHECKPOINT_PAYLOAD.pack(chain_hash, record_count)


def parse_checkpoint_payload(payload: bytes) -> tuple[bytes, int] | None:
    """(chain_hash, record_count), or None when the payload is not the 40-byte checkpoint form."""
    if len(payload) != CHECKPOINT_PAYLOAD.size:
        return None
    chain_hash, record_count = CHECKPOINT_PAYLOAD.unpack(payload)
    return chain_hash, record_count
