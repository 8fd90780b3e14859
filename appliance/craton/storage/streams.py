"""The storage of one replica: a directory with one subdirectory (and one segment) per stream.

Layout: `<root>/<stream id in decimal>/segment_000000.log`, `.log.idx` and `checkpoints.sig`.

Owns: finding, creating and opening stream logs, and syncing them together. Must never: decide
offsets or checkpoints (the kernel does), or hide a stream whose files are damaged (it is opened
with its damage recorded, so reads and `verify_chain` report it).
"""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.storage.files import fsync_directory
from appliance.craton.storage.recovery import Repair
from appliance.craton.storage.segment import SEGMENT_NAME, StreamLog
from appliance.craton.types import StorageError, StreamId, StreamNotFound


class Storage:
    """Every stream log under `root`. Thread-safe; open with `Storage.open`."""

    def __init__(self, root: Path, signing_key: Ed25519PrivateKey | None) -> None:
        self.root = root
        self._key = signing_key
        self._logs: dict[StreamId, StreamLog] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, *, signing_key: Ed25519PrivateKey | None = None) -> tuple[Storage, list[Repair]]:
        """Open every stream found under `root`, each recovering from an earlier stop."""
        root.mkdir(parents=True, exist_ok=True)
        storage = cls(root, signing_key)
        repairs: list[Repair] = []
        try:
            for directory in sorted(root.iterdir()):
                if not directory.is_dir() or not directory.name.isdigit():
                    continue
                if not (directory / SEGMENT_NAME).exists():
                    continue  # created but never finished; `create` will make it again
                stream = StreamId(int(directory.name))
                log, found = StreamLog.open(directory, stream, signing_key=signing_key)
                storage._logs[stream] = log
                repairs.extend(found)
        except BaseException:
            storage.close()
            raise
        return storage, repairs

    def create(self, stream: StreamId) -> StreamLog:
        """The stream's log, created empty if it does not exist yet (idempotent, for journal replay)."""
        with self._lock:
            existing = self._logs.get(stream)
            if existing is not None:
                return existing
            log, _repairs = StreamLog.open(self.root / str(stream), stream, signing_key=self._key, create=True)
            fsync_directory(self.root)
            self._logs[stream] = log
            return log

    def get(self, stream: StreamId) -> StreamLog:
        log = self._logs.get(stream)
        if log is None:
            raise StreamNotFound(f"stream {stream} does not exist")
        return log

    def has(self, stream: StreamId) -> bool:
        return stream in self._logs

    def streams(self) -> dict[StreamId, StreamLog]:
        with self._lock:
            return dict(self._logs)

    def sync(self) -> None:
        """fsync every stream that has unsynced appends (and its signatures)."""
        errors: list[str] = []
        for log in self.streams().values():
            try:
                log.sync()
            except OSError as error:
                errors.append(f"stream {log.stream}: {error}")
        if errors:
            raise StorageError("sync failed: " + "; ".join(errors))

    def close(self) -> None:
        with self._lock:
            logs, self._logs = list(self._logs.values()), {}
        for log in logs:
            log.close()
