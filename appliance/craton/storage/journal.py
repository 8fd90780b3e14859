"""The command journal: the write-ahead log every state change passes through before it is applied.

Format, little-endian::

    header: "CRJL" | version u8 = 1 | 3 reserved zero bytes | base_op u64 | crc32 u32 (of the 16 before)
    entry:  length u32 | op u64 | payload (length B) | crc32 u32 (of length, op and payload)

Ops are consecutive from `base_op`. An append writes every entry of a group with one `write` and
makes them durable with one `fsync`: that fsync is the commit point of the single-node replicator.
On open, a short, zero-filled or CRC-bad *last* entry is a torn tail (cut and reported); a bad
entry followed by more data is damage and refuses to open, because acknowledged commands may sit
behind it. `reset` replaces the journal atomically once everything before it is durable elsewhere.

Owns: the journal file. Must never: acknowledge an entry before its fsync returned, or skip damage.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Final, NoReturn

from appliance.craton.storage.files import atomic_write, fsync_directory, write_all
from appliance.craton.storage.recovery import Repair
from appliance.craton.types import IntegrityError, InvalidRequest, StorageError

MAGIC: Final = b"CRJL"
VERSION: Final = 1
HEADER: Final = struct.Struct("<4sB3xQ")
HEADER_BYTES: Final = HEADER.size + 4
ENTRY_HEAD: Final = struct.Struct("<IQ")
ENTRY_OVERHEAD_BYTES: Final = ENTRY_HEAD.size + 4
ENTRY_PAYLOAD_BYTES_MAX: Final = 32 * 1024 * 1024


def _header(base_op: int) -> bytes:
    body = HEADER.pack(MAGIC, VERSION, base_op)
    return body + zlib.crc32(body).to_bytes(4, "little")


class Journal:
    """One journal file. Appends are serialised by the caller (the replicator's commit leader)."""

    def __init__(self, path: Path, fd: int, base_op: int, next_op: int, size: int) -> None:
        self.path = path
        self._fd = fd
        self.base_op = base_op
        self.next_op = next_op
        self.size_bytes = size
        self._synced_bytes = size
        self._synced_next_op = next_op
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, base_op: int = 1) -> tuple[Journal, list[tuple[int, bytes]], list[Repair]]:
        """Open (creating with `base_op` if absent); returns the journal, its entries and repairs."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            atomic_write(path, _header(base_op))
        data = path.read_bytes()
        found_base = _read_header(path, data)
        entries, valid_end, repairs = _scan(data, found_base)
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
        if valid_end < len(data):
            os.ftruncate(fd, valid_end)
            os.fsync(fd)
        next_op = entries[-1][0] + 1 if entries else found_base
        return cls(path, fd, found_base, next_op, valid_end), entries, repairs

    def append(self, payloads: list[bytes]) -> int:
        """Write every payload as the next ops with one write and one fsync; returns the first op."""
        first = self.write(payloads)
        self.sync()
        return first

    def write(self, payloads: list[bytes]) -> int:
        """Write the entries (not yet durable: nothing may act on them before `sync` returns)."""
        with self._lock:
            first = self.next_op
            parts: list[bytes] = []
            for index, payload in enumerate(payloads):
                if len(payload) > ENTRY_PAYLOAD_BYTES_MAX:
                    raise InvalidRequest(f"a command of {len(payload)} bytes exceeds the journal limit")
                head = ENTRY_HEAD.pack(len(payload), first + index)
                parts += [head, payload, zlib.crc32(payload, zlib.crc32(head)).to_bytes(4, "little")]
            data = b"".join(parts)
            try:
                write_all(self._fd, data)
            except OSError as error:
                self._undo(error)
            self.next_op = first + len(payloads)
            self.size_bytes += len(data)
            return first

    def sync(self) -> None:
        """Make everything written so far durable: the commit point. On failure the unsynced
        entries are cut off again (they were never acknowledged) and StorageError is raised."""
        with self._lock:
            try:
                os.fsync(self._fd)
            except OSError as error:
                self.next_op -= self._unsynced_ops()
                self.size_bytes = self._synced_bytes
                self._undo(error)
            self._synced_bytes = self.size_bytes
            self._synced_next_op = self.next_op

    def _unsynced_ops(self) -> int:
        return self.next_op - self._synced_next_op

    def _undo(self, error: OSError) -> NoReturn:
        # Cut what was not made durable, so the next write continues right after the last commit.
        try:
            os.ftruncate(self._fd, self.size_bytes)
        except OSError as cut_error:
            raise StorageError(f"journal write failed ({error}) and could not be undone ({cut_error})") from error
        raise StorageError(f"journal write failed: {error}") from error

    def reset(self, base_op: int) -> None:
        """Start an empty journal at `base_op`; the caller made everything before it durable."""
        with self._lock:
            atomic_write(self.path, _header(base_op))
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            fsync_directory(self.path.parent)
            self.base_op = base_op
            self.next_op = self._synced_next_op = base_op
            self.size_bytes = self._synced_bytes = HEADER_BYTES

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _read_header(path: Path, data: bytes) -> int:
    if len(data) < HEADER_BYTES:
        raise IntegrityError(f"journal {path} has no complete header", offset=0)
    magic, version, base_op = HEADER.unpack_from(data)
    stored_crc = int.from_bytes(data[HEADER.size : HEADER_BYTES], "little")
    if magic != MAGIC or version != VERSION or zlib.crc32(data[: HEADER.size]) != stored_crc:
        raise IntegrityError(f"journal {path} has a damaged header", offset=0)
    return int(base_op)


def _scan(data: bytes, base_op: int) -> tuple[list[tuple[int, bytes]], int, list[Repair]]:
    entries: list[tuple[int, bytes]] = []
    position = HEADER_BYTES
    expected = base_op
    while position < len(data):
        end = _entry_end(data, position, expected)
        if end is None:
            return entries, position, [_torn_or_damaged(data, position, expected, len(entries))]
        length = end - position - ENTRY_OVERHEAD_BYTES
        entries.append((expected, data[position + ENTRY_HEAD.size : position + ENTRY_HEAD.size + length]))
        expected += 1
        position = end
    return entries, position, []


def _entry_end(data: bytes, position: int, expected: int) -> int | None:
    if len(data) - position < ENTRY_OVERHEAD_BYTES:
        return None
    length, op = ENTRY_HEAD.unpack_from(data, position)
    end = position + ENTRY_OVERHEAD_BYTES + length
    if length > ENTRY_PAYLOAD_BYTES_MAX or end > len(data) or op != expected:
        return None
    stored_crc = int.from_bytes(data[end - 4 : end], "little")
    if zlib.crc32(data[position : end - 4]) != stored_crc:
        return None
    return int(end)


def _torn_or_damaged(data: bytes, position: int, op: int, kept: int) -> Repair:
    rest = data[position:]
    torn = len(rest) < ENTRY_OVERHEAD_BYTES or not any(rest)
    if not torn:
        # A plausible length that runs to or past the end: the last write stopped part-way.
        length, _op = ENTRY_HEAD.unpack_from(rest)
        torn = length <= ENTRY_PAYLOAD_BYTES_MAX and ENTRY_OVERHEAD_BYTES + length >= len(rest)
    if torn:
        return Repair("journal", f"torn tail cut at byte {position} (op {op})", kept, len(rest))
    raise IntegrityError(f"journal entry for op {op} at byte {position} is damaged and more entries follow", offset=op)
