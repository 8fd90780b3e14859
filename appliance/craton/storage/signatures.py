"""Signed checkpoints of one stream, kept beside its segment in `checkpoints.sig`.

A checkpoint record in the log is part of the replicated chain, so it cannot hold a replica's own
signature (replicas sign with different keys and their logs must stay byte-identical). Each
replica therefore keeps its Ed25519 signatures here, one fixed-size entry per checkpoint::

    file:   "VDCS" | version u8 = 1 | 3 reserved zero bytes | entry*
    entry:  offset u64 | record_count u64 | chain_hash 32 B | signature 64 B | crc32 u32

All little-endian; the CRC covers the entry before it. Entries are appended without fsync and
synced with the segment. A short or CRC-bad last entry is a torn tail and is dropped on load; a
bad entry followed by good ones is damage, reported (never skipped silently) through `damage`.

Owns: this file format. Must never: sign anything itself (the stream log decides what to sign).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Final

import msgspec

from appliance.craton.storage.files import atomic_write, write_all
from appliance.craton.types import StorageError

MAGIC: Final = b"VDCS"
VERSION: Final = 1
FILE_HEADER: Final = MAGIC + bytes([VERSION, 0, 0, 0])
ENTRY: Final = struct.Struct("<QQ32s64s")
ENTRY_BYTES: Final = ENTRY.size + 4


class SignedCheckpoint(msgspec.Struct, frozen=True):
    offset: int
    record_count: int
    chain_hash: bytes
    signature: bytes


class SignatureFile:
    """The signatures of one stream's checkpoints, by checkpoint offset."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1
        self.by_offset: dict[int, SignedCheckpoint] = {}
        self.damage: str | None = None
        self.dropped_tail_bytes = 0

    def load(self) -> None:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as error:
            raise StorageError(f"cannot read {self._path}: {error}") from error
        if not data.startswith(FILE_HEADER):
            self.damage = f"{self._path.name} has no valid header"
            return
        position = len(FILE_HEADER)
        while position + ENTRY_BYTES <= len(data):
            body = data[position : position + ENTRY.size]
            stored_crc = int.from_bytes(data[position + ENTRY.size : position + ENTRY_BYTES], "little")
            if zlib.crc32(body) != stored_crc:
                break
            offset, record_count, chain_hash, signature = ENTRY.unpack(body)
            self.by_offset[offset] = SignedCheckpoint(offset, record_count, chain_hash, signature)
            position += ENTRY_BYTES
        self._classify_rest(data, position)

    def _classify_rest(self, data: bytes, position: int) -> None:
        remaining = len(data) - position
        if remaining == 0:
            return
        if remaining < ENTRY_BYTES or not any(data[position + ENTRY_BYTES :]):
            # The last entry was cut short (or never filled in): a torn tail, dropped on purpose.
            self.dropped_tail_bytes = remaining
            self._truncate(position)
            return
        self.damage = f"{self._path.name}: entry at byte {position} fails its CRC and is followed by more entries"

    def _truncate(self, size: int) -> None:
        fd = os.open(self._path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def add(self, entry: SignedCheckpoint) -> None:
        if self._fd < 0:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if os.fstat(self._fd).st_size == 0:
                write_all(self._fd, FILE_HEADER)
        body = ENTRY.pack(entry.offset, entry.record_count, entry.chain_hash, entry.signature)
        write_all(self._fd, body + zlib.crc32(body).to_bytes(4, "little"))
        self.by_offset[entry.offset] = entry

    def forget_from(self, offset: int) -> None:
        """Drop signatures at or after `offset` (the log was cut there) and rewrite the file."""
        kept = [entry for at, entry in sorted(self.by_offset.items()) if at < offset]
        if len(kept) == len(self.by_offset):
            return
        self.close()
        parts = [FILE_HEADER]
        for entry in kept:
            body = ENTRY.pack(entry.offset, entry.record_count, entry.chain_hash, entry.signature)
            parts.append(body + zlib.crc32(body).to_bytes(4, "little"))
        atomic_write(self._path, b"".join(parts))
        self.by_offset = {entry.offset: entry for entry in kept}

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
