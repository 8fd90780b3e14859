"""The replica's compliance audit log: every DDL, DML, stream creation, auth decision, export and
recovery, hash-chained so that an edit, insertion or removal is found at its exact index.

Format: JSON Lines, one entry per line::

    {"index": n, "prev_hash": hex, "hash": hex, "body": {…AuditBody…}}

`hash = SHA-256(prev_hash ‖ canonical(body))`, where canonical is the msgspec JSON encoding of the
`AuditBody` Struct (fixed field order, no whitespace) and the first entry's prev_hash is all zeros.

Durability: each entry is written at once (it survives a process crash); entries derived from
journaled commands carry their `op`, so a replay after power loss re-creates any that did not
reach the disk and never writes one twice. Other entries (auth, export, recovery) are fsynced on
`durable=True`, on `sync()`, and whenever the last fsync is older than `sync_interval_s`.

Owns: the audit file and its verification. Must never: rewrite or drop an entry (only a torn last
line, which was never complete, is cut on open, and that cut is itself audited by the engine).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Final

import msgspec

from appliance.craton.storage.files import fsync_directory, write_all
from appliance.craton.storage.recovery import Repair
from appliance.craton.types import GENESIS_HASH, StorageError

SYNC_INTERVAL_S: Final = 1.0
LINE_BYTES_MAX: Final = 64 * 1024
DETAIL_CHARS_MAX: Final = 2_000


class AuditBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What happened: `action` like "sql.insert", "stream.create", "auth", "export", "recovery"."""

    at: int  # nanoseconds since the Unix epoch
    tenant: int | None
    action: str
    subject: str
    outcome: str  # "ok", "rejected", "denied", "repaired"
    detail: str = ""
    op: int | None = None  # the journal op that caused it, for commands


class AuditEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    index: int
    prev_hash: str
    hash: str
    body: AuditBody


class AuditReport(msgspec.Struct, frozen=True):
    ok: bool
    entries_checked: int
    first_bad_index: int | None
    reason: str | None


_line_decoder = msgspec.json.Decoder(AuditEntry)


def entry_hash(prev_hash: bytes, body: AuditBody) -> bytes:
    return hashlib.sha256(prev_hash + msgspec.json.encode(body)).digest()


class AuditLog:
    """Append-only, hash-chained audit entries in one file. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._next_index = 0
        self._head = GENESIS_HASH
        self._last_sync = 0.0
        self._dirty = False
        self.last_op = 0

    @classmethod
    def open(cls, path: Path) -> tuple[AuditLog, list[Repair]]:
        """Open (or create) the log; a torn last line is cut and reported, damage earlier raises."""
        path.parent.mkdir(parents=True, exist_ok=True)
        log = cls(path)
        repairs = log._load()
        log._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        fsync_directory(path.parent)
        return log, repairs

    def _load(self) -> list[Repair]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        report, valid_end, head, last_op = _check(data)
        repairs: list[Repair] = []
        if not report.ok and valid_end >= 0:
            os.truncate(self.path, valid_end)
            reason = f"torn last audit line cut at byte {valid_end}"
            repairs.append(Repair("audit", reason, report.entries_checked, len(data) - valid_end))
        elif not report.ok:
            raise StorageError(f"audit log {self.path} is damaged at entry {report.first_bad_index}: {report.reason}")
        self._next_index, self._head, self.last_op = report.entries_checked, head, last_op
        return repairs

    def append(self, body: AuditBody, *, durable: bool = False) -> int:
        """Add one entry; returns its index."""
        if len(body.detail) > DETAIL_CHARS_MAX:
            body = msgspec.structs.replace(body, detail=body.detail[:DETAIL_CHARS_MAX] + "…")
        with self._lock:
            if self._fd < 0:
                raise StorageError("the audit log is closed")
            digest = entry_hash(self._head, body)
            entry = AuditEntry(self._next_index, self._head.hex(), digest.hex(), body)
            write_all(self._fd, msgspec.json.encode(entry) + b"\n")
            self._head, self._next_index = digest, self._next_index + 1
            if body.op is not None:
                self.last_op = max(self.last_op, body.op)
            self._dirty = True
            if durable or time.monotonic() - self._last_sync >= SYNC_INTERVAL_S:
                self._sync_locked()
            return entry.index

    def _sync_locked(self) -> None:
        os.fsync(self._fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    @property
    def entries(self) -> int:
        return self._next_index

    def sync(self) -> None:
        with self._lock:
            if self._fd >= 0 and self._dirty:
                self._sync_locked()

    def verify(self) -> AuditReport:
        """Re-read the whole file and check every entry's index, link and hash."""
        with self._lock:
            data = self.path.read_bytes()
        return _check(data)[0]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                if self._dirty:
                    self._sync_locked()
                os.close(self._fd)
                self._fd = -1


def verify_file(path: Path) -> AuditReport:
    """Verify an audit file offline (no engine needed)."""
    return _check(path.read_bytes())[0]


def _check(data: bytes) -> tuple[AuditReport, int, bytes, int]:
    """(report, end of the valid prefix if only an unfinished last line is bad else -1, head, last op)."""
    head, position, index, last_op = GENESIS_HASH, 0, 0, 0
    while position < len(data):
        newline = data.find(b"\n", position)
        line = data[position:] if newline < 0 else data[position:newline]
        failure = _check_line(line, index, head) if newline >= 0 else f"entry {index} was never finished"
        if isinstance(failure, str):
            torn = newline < 0  # a last line without its newline was never completely written
            return AuditReport(False, index, index, failure), position if torn else -1, head, last_op
        head, entry = failure
        last_op = max(last_op, entry.body.op or 0)
        index += 1
        position = len(data) if newline < 0 else newline + 1
    return AuditReport(True, index, None, None), position, head, last_op


def _check_line(line: bytes, index: int, head: bytes) -> str | tuple[bytes, AuditEntry]:
    if len(line) > LINE_BYTES_MAX:
        return f"entry {index} is longer than {LINE_BYTES_MAX} bytes"
    try:
        entry = _line_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return f"entry {index} is not a valid audit entry: {error}"
    if entry.index != index:
        return f"entry {index} carries index {entry.index} (an entry was removed or inserted)"
    if entry.prev_hash != head.hex():
        return f"entry {index} does not link to the entry before it"
    digest = entry_hash(head, entry.body)
    if entry.hash != digest.hex():
        return f"entry {index} was edited: its body does not hash to its recorded hash"
    return digest, entry
