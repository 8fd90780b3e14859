"""The offset index of one segment (`segment_000000.log.idx`): record offset → byte position.

Format "VDXI" version 2, append-only. The Craton original (version 1) rewrote one CRC-covered
array after every batch, which its own performance notes call a bottleneck; version 2 keeps the
magic and the dense one-entry-per-record content but appends a self-checking chunk per batch::

    file:   "VDXI" | version u8 = 2 | 3 reserved zero bytes | chunk*
    chunk:  first_offset u64 | count u32 | count × entry u64 | crc32 u32 (over the chunk before it)
    entry:  byte position of the record (low 56 bits) | record kind << 56

All little-endian. The index is derived data: it is written without fsync, loaded up to its first
bad or out-of-sequence chunk, checked against the segment by the caller, and rebuilt from the
segment whenever it is missing, damaged or behind.

Owns: the index file format. Must never: be trusted without the caller checking it against the
log, or be the only copy of anything (the segment is the source of truth).
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from array import array
from pathlib import Path
from typing import Final

from appliance.craton.storage.files import atomic_write, write_all
from appliance.craton.types import StorageError

MAGIC: Final = b"VDXI"
VERSION: Final = 2
FILE_HEADER: Final = MAGIC + bytes([VERSION, 0, 0, 0])
CHUNK_HEAD: Final = struct.Struct("<QI")
ENTRY_BYTES: Final = 8
CRC_BYTES: Final = 4
POSITION_BITS: Final = 56
POSITION_MASK: Final = (1 << POSITION_BITS) - 1
CHUNK_ENTRIES_MAX: Final = 1 << 24


def entry(position: int, kind: int) -> int:
    return position | (kind << POSITION_BITS)


def encode_chunk(first_offset: int, entries: array[int]) -> bytes:
    body = CHUNK_HEAD.pack(first_offset, len(entries)) + _little_endian(entries).tobytes()
    return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")


def load(path: Path) -> tuple[array[int], bool]:
    """The entries of every intact chunk in sequence, and whether the whole file was intact.

    A missing file, a wrong header, a bad CRC or a chunk out of sequence ends the load there; what
    was read before it is still returned, since the caller checks it against the segment anyway.
    """
    entries: array[int] = array("Q")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return entries, False
    except OSError as error:
        raise StorageError(f"cannot read index {path}: {error}") from error
    if not data.startswith(FILE_HEADER):
        return entries, False
    position = len(FILE_HEADER)
    while position < len(data):
        chunk_end = _chunk_end(data, position, len(entries))
        if chunk_end is None:
            return _little_endian(entries), False
        entries.frombytes(data[position + CHUNK_HEAD.size : chunk_end - CRC_BYTES])
        position = chunk_end
    return _little_endian(entries), True


def _little_endian(entries: array[int]) -> array[int]:
    # array("Q") is native-endian; the file is little-endian on every machine.
    if sys.byteorder == "little":
        return entries
    swapped = array("Q", entries)
    swapped.byteswap()
    return swapped


def _chunk_end(data: bytes, position: int, expected_first: int) -> int | None:
    if len(data) - position < CHUNK_HEAD.size + CRC_BYTES:
        return None
    first_offset: int
    count: int
    first_offset, count = CHUNK_HEAD.unpack_from(data, position)
    if first_offset != expected_first or not 0 < count <= CHUNK_ENTRIES_MAX:
        return None
    chunk_end = position + CHUNK_HEAD.size + count * ENTRY_BYTES + CRC_BYTES
    if chunk_end > len(data):
        return None
    stored_crc = int.from_bytes(data[chunk_end - CRC_BYTES : chunk_end], "little")
    if zlib.crc32(data[position : chunk_end - CRC_BYTES]) != stored_crc:
        return None
    return chunk_end


class IndexWriter:
    """Appends chunks to the index file; `rewrite` replaces it atomically after a rebuild or a cut."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def append(self, first_offset: int, entries: array[int]) -> None:
        if not entries:
            return
        if self._fd < 0:
            self._open_for_append()
        write_all(self._fd, encode_chunk(first_offset, entries))

    def rewrite(self, entries: array[int]) -> None:
        self.close()
        chunks = [FILE_HEADER]
        for start in range(0, len(entries), CHUNK_ENTRIES_MAX):
            chunks.append(encode_chunk(start, entries[start : start + CHUNK_ENTRIES_MAX]))
        atomic_write(self._path, b"".join(chunks))

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open_for_append(self) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(fd).st_size == 0:
            write_all(fd, FILE_HEADER)
        self._fd = fd
