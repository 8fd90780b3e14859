"""Where a replica keeps its files, and the lock that lets only one engine open a data dir.

    <data dir>/LOCK                     flock held while an engine is open
    <data dir>/generation               how many times the engine has opened this dir
    <data dir>/kernel.snapshot          kernel state after journal op N ("CRKS", CRC-checked)
    <data dir>/journal/journal.log      the command journal (write-ahead log)
    <data dir>/streams/<id>/…           one segment, index and signature file per stream
    <data dir>/projections.sqlite3      the SQL projections (derived; rebuilt from the log)
    <data dir>/audit/audit.jsonl        the hash-chained audit log
    <data dir>/secrets/replica.key      the replica's Ed25519 signing key (0600, folder 0700)
    <data dir>/secrets/signer.pub       the raw public key that signed this dir's checkpoints

Owns: these paths, the lock, the generation counter and the snapshot file format.
Must never: hold engine logic.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from pathlib import Path
from typing import Final

from appliance.craton.kernel import Snapshot, decode_snapshot, encode_snapshot
from appliance.craton.storage.files import atomic_write
from appliance.craton.types import IntegrityError, StorageError

SNAPSHOT_MAGIC: Final = b"CRKS\x01\x00\x00\x00"


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = root / "LOCK"
        self.generation = root / "generation"
        self.snapshot = root / "kernel.snapshot"
        self.journal = root / "journal" / "journal.log"
        self.streams = root / "streams"
        self.projections = root / "projections.sqlite3"
        self.audit = root / "audit" / "audit.jsonl"
        self.key = root / "secrets" / "replica.key"
        self.signer = root / "secrets" / "signer.pub"
        self._lock_fd = -1

    def acquire(self) -> None:
        """Take the data dir's lock, or fail at once if another engine holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(f"data dir {self.root} is in use by another engine") from None
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = -1

    def check_signer(self, public_key: bytes) -> None:
        """Refuse a key other than the one that signed this log: every stored checkpoint signature
        would then fail to verify, which `verify_chain` would report as tampering."""
        try:
            known = self.signer.read_bytes()
        except FileNotFoundError:
            self.signer.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.signer, public_key, mode=0o600)  # secrets/ holds 0600 files only
            return
        if known != public_key:
            raise StorageError(
                f"this signing key is not the one that signed {self.root} (public key {known.hex()[:16]}…)"
            )

    def next_generation(self) -> int:
        try:
            previous = int(self.generation.read_text(encoding="ascii").strip() or "0")
        except FileNotFoundError:
            previous = 0
        except ValueError as error:
            raise StorageError(f"{self.generation} is not a number: {error}") from None
        atomic_write(self.generation, f"{previous + 1}\n".encode("ascii"))
        return previous + 1

    def read_snapshot(self) -> Snapshot | None:
        try:
            data = self.snapshot.read_bytes()
        except FileNotFoundError:
            return None
        header = len(SNAPSHOT_MAGIC)
        if len(data) < header + 4 or not data.startswith(SNAPSHOT_MAGIC):
            raise IntegrityError(f"{self.snapshot} is not a kernel snapshot")
        stored_crc = int.from_bytes(data[header : header + 4], "little")
        body = data[header + 4 :]
        if zlib.crc32(body) != stored_crc:
            raise IntegrityError(f"{self.snapshot} fails its CRC")
        return decode_snapshot(body)

    def write_snapshot(self, snapshot: Snapshot) -> None:
        body = encode_snapshot(snapshot)
        atomic_write(self.snapshot, SNAPSHOT_MAGIC + zlib.crc32(body).to_bytes(4, "little") + body)
