"""Test helpers that read and edit segment files byte by byte, the way an attacker or a crash would."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HEADER = struct.Struct("<Q32sBI")


def record_spans(path: Path) -> list[tuple[int, int]]:
    """(start, end) byte span of every record, parsed straight from the file."""
    data = path.read_bytes()
    spans = []
    position = 0
    while position < len(data):
        _offset, _prev, _kind, length = HEADER.unpack_from(data, position)
        end = position + 45 + length + 4
        spans.append((position, end))
        position = end
    return spans


def edit(path: Path, position: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[position : position + len(new)] = new
    path.write_bytes(bytes(data))


def fix_crc(path: Path, start: int, end: int) -> None:
    """Recompute the CRC of the record at [start, end): what anyone with write access can do."""
    data = bytearray(path.read_bytes())
    data[end - 4 : end] = zlib.crc32(bytes(data[start : end - 4])).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def flip_payload_byte(path: Path, record: int, *, fix: bool) -> None:
    start, end = record_spans(path)[record]
    data = path.read_bytes()
    edit(path, start + 45, bytes([data[start + 45] ^ 0xFF]))
    if fix:
        fix_crc(path, start, end)
