"""One stream's log: `segment_000000.log` in the §1.3 record layout, its index and signatures.

Appends are group commits: a batch (plus a checkpoint record when the caller says one is due) is
encoded in memory, written with one `write` and made durable with at most one `fsync`. Reads
verify the chain from the nearest checkpoint at or before the first offset asked for, and
`verify_chain` checks every record from genesis, every checkpoint and every stored signature.

Thread safety: writers hold the stream's lock; readers take a consistent snapshot (record count,
file size, chain head) under it and then read without it, since bytes below a snapshot's end never
change (only recovery, which runs before anyone reads, can cut the file).

Owns: one stream's files. Must never: write a record out of sequence, let a read return a record
that has not been verified, or append after damage has been found (the chain would hide it).
"""

from __future__ import annotations

import bisect
import itertools
import mmap
import os
import threading
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.craton.crypto import CheckpointFields, sign_checkpoint
from appliance.craton.storage import index, parallel
from appliance.craton.storage.files import fsync_directory, write_all
from appliance.craton.storage.record import (
    HEADER_BYTES,
    RECORD_OVERHEAD_BYTES,
    PreparedAppend,
    Record,
    decode_at,
    prepare_append,
)
from appliance.craton.storage.recovery import Repair, recover
from appliance.craton.storage.scan import ScanFailure, ScanResult, ScanSpan, scan
from appliance.craton.storage.signatures import SignatureFile, SignedCheckpoint
from appliance.craton.storage.verify import VerifyReport, check_signatures
from appliance.craton.types import (
    GENESIS_HASH,
    IntegrityError,
    InvalidOffset,
    InvalidRequest,
    RecordKind,
    StorageError,
    StreamId,
    invariant,
)

SEGMENT_NAME: Final = "segment_000000.log"
INDEX_NAME: Final = SEGMENT_NAME + ".idx"
SIGNATURES_NAME: Final = "checkpoints.sig"
READ_RECORDS_MAX: Final = 10_000


class AppendResult(msgspec.Struct, frozen=True):
    """Where a batch landed: its first offset, the hash of its last data record (what a projection
    row records), the new chain head (the checkpoint's hash if one followed) and that checkpoint."""

    first_offset: int
    data_hash: bytes
    last_hash: bytes
    checkpoint_offset: int | None


class StreamLog:
    """The open files of one stream. Create with `StreamLog.open`."""

    def __init__(self, directory: Path, stream: StreamId, fd: int, signing_key: Ed25519PrivateKey | None) -> None:
        self.directory = directory
        self.stream = stream
        self._fd = fd
        self._key = signing_key
        self._lock = threading.Lock()
        self._entries: array[int] = array("Q")
        self._checkpoints: list[int] = []
        self._head = GENESIS_HASH
        self._size = 0
        self._dirty = False
        self._closed = False
        self._index = index.IndexWriter(directory / INDEX_NAME)
        self._signatures = SignatureFile(directory / SIGNATURES_NAME)
        self.damage: IntegrityError | None = None
        self.hash_operations = 0

    @classmethod
    def open(
        cls, directory: Path, stream: StreamId, *, signing_key: Ed25519PrivateKey | None = None, create: bool = False
    ) -> tuple[StreamLog, list[Repair]]:
        """Open (or with `create`, make) the stream's files, recovering from any earlier stop."""
        path = directory / SEGMENT_NAME
        if create and not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
            fsync_directory(directory)
            fsync_directory(directory.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError as error:
            raise StorageError(f"stream {stream}: segment {path} is missing") from error
        log = cls(directory, stream, fd, signing_key)
        try:
            repairs = log._recover()
        except BaseException:
            log.close()
            raise
        return log, repairs

    def _recover(self) -> list[Repair]:
        loaded, intact = index.load(self.directory / INDEX_NAME)
        recovered = recover(self._fd, str(self.stream), loaded, intact)
        self._entries = recovered.entries
        self._head = recovered.last_hash
        self._size = recovered.valid_end
        self.damage = recovered.damage
        kinds = self._entries.tobytes()[7::8]  # the top byte of each little-endian entry is the kind
        self._checkpoints = [i for i, kind in enumerate(kinds) if kind == RecordKind.CHECKPOINT]
        if recovered.index_rewrite:
            self._index.rewrite(self._entries)
        else:
            start = recovered.index_appended_from
            self._index.append(start, self._entries[start:])
        self._signatures.load()
        self._signatures.forget_from(len(self._entries))  # signatures of records lost with a torn tail
        self._sign_unsigned_checkpoints()
        return recovered.repairs

    @property
    def next_offset(self) -> int:
        return len(self._entries)

    @property
    def last_hash(self) -> bytes:
        return self._head

    @property
    def checkpoint_offsets(self) -> list[int]:
        return list(self._checkpoints)

    @property
    def records_since_checkpoint(self) -> int:
        last = self._checkpoints[-1] if self._checkpoints else -1
        return len(self._entries) - last - 1

    @property
    def signed_checkpoints(self) -> dict[int, SignedCheckpoint]:
        return dict(self._signatures.by_offset)

    def append(self, events: Sequence[bytes], *, checkpoint: bool = False, sync: bool = True) -> AppendResult:
        """Append a batch (and then a checkpoint record if asked) with one write and ≤ one fsync."""
        with self._lock:
            prepared = prepare_append(len(self._entries), self._head, list(events), checkpoint=checkpoint)
            return self._append_locked(prepared, sync=sync)

    def append_prepared(self, prepared: PreparedAppend, *, sync: bool = True) -> AppendResult:
        """Write a batch encoded earlier by `prepare_append` (off the commit path); it must have been
        encoded for exactly this stream's next offset and chain head."""
        with self._lock:
            return self._append_locked(prepared, sync=sync)

    def _append_locked(self, prepared: PreparedAppend, *, sync: bool) -> AppendResult:
        self._check_writable()
        invariant(prepared.first_offset == len(self._entries), "a prepared batch starts at the next offset")
        invariant(prepared.prev_hash == self._head, "a prepared batch continues the chain head")
        self._write(prepared.data, sync=sync)
        self._remember(prepared.first_offset, prepared.record_bytes, prepared.checkpoint_offset)
        self._head = prepared.last_hash
        if prepared.checkpoint_offset is not None:
            self._sign(prepared.checkpoint_offset, prepared.data_hash)
        return AppendResult(prepared.first_offset, prepared.data_hash, prepared.last_hash, prepared.checkpoint_offset)

    def append_checkpoint(self, *, sync: bool = True) -> int:
        """A checkpoint record right now (clean shutdown); returns its offset."""
        result = self.append([], checkpoint=True, sync=sync)
        invariant(result.checkpoint_offset is not None, "a checkpoint append returns its offset")
        return result.first_offset

    def _check_writable(self) -> None:
        if self._closed:
            raise StorageError(f"stream {self.stream} is closed")
        if self.damage is not None:
            raise self.damage

    def _write(self, data: bytes, *, sync: bool) -> None:
        try:
            write_all(self._fd, data)
            if sync:
                os.fsync(self._fd)
        except OSError as error:
            self._undo_partial_write()
            raise StorageError(f"stream {self.stream}: append failed: {error}") from error
        self._dirty = not sync

    def _undo_partial_write(self) -> None:
        # A failed write may leave part of a record behind; cut it so the next append stays in sequence.
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as error:
            self.damage = IntegrityError(f"stream {self.stream}: cannot undo a failed append: {error}")

    def _remember(self, first: int, sizes: list[int], checkpoint_offset: int | None) -> None:
        positions = array("Q", itertools.accumulate(sizes, initial=self._size))
        self._size = positions.pop()
        if checkpoint_offset is not None:
            positions[-1] = index.entry(positions[-1], RecordKind.CHECKPOINT)
            self._checkpoints.append(checkpoint_offset)
        self._entries.extend(positions)
        try:
            self._index.append(first, positions)
        except OSError:
            self._index.close()  # the index is derived: the next open rebuilds what is missing

    def _sign(self, offset: int, chain_hash: bytes) -> None:
        if self._key is None:
            return
        fields = CheckpointFields(self.stream, offset, chain_hash, offset)
        signature = sign_checkpoint(self._key, fields)
        self._signatures.add(SignedCheckpoint(offset, offset, chain_hash, signature))

    def _sign_unsigned_checkpoints(self) -> None:
        """After a crash a checkpoint may lack its signature: sign it once the chain up to it verifies
        from the last signed checkpoint (or genesis)."""
        unsigned = [c for c in self._checkpoints if c not in self._signatures.by_offset]
        if self._key is None or not unsigned or self.damage is not None:
            return
        signed_before = [c for c in self._signatures.by_offset if c < unsigned[0]]
        start = max(signed_before) if signed_before else 0
        result = self._scan_range(self._snapshot(), start, len(self._entries) - 1, None)
        computed = dict(result.checkpoints)
        if signed_before and computed.get(start) != self._signatures.by_offset[start].chain_hash:
            return  # the anchor itself no longer matches: leave it for verify_chain to report
        for offset, chain_hash in result.checkpoints:
            if offset in unsigned and (result.failure is None or offset < result.failure.offset):
                self._sign(offset, chain_hash)

    def _snapshot(self) -> _Snapshot:
        with self._lock:
            return _Snapshot(len(self._entries), self._size, self._head)

    def _position(self, offset: int) -> int:
        return self._entries[offset] & index.POSITION_MASK

    def _end_of(self, offset: int, snapshot: _Snapshot) -> int:
        return self._position(offset + 1) if offset + 1 < snapshot.records else snapshot.size

    def _scan_range(self, snapshot: _Snapshot, first: int, last: int, collect: _Collect | None) -> ScanResult:
        """Verify records [first, last] (plus `last + 1` when it exists, to check `last`'s hash)."""
        stop = min(last + 1, snapshot.records - 1)
        start_position = self._position(first)
        end_position = self._end_of(stop, snapshot)
        # One more header past the span lets a chain break be pinned on the right record.
        read_end = min(end_position + HEADER_BYTES, snapshot.size)
        data = os.pread(self._fd, read_end - start_position, start_position)
        if len(data) != read_end - start_position:
            raise StorageError(f"stream {self.stream}: short read at byte {start_position}")
        # A scan from checkpoint c trusts the chain hash c carries; the checkpoint check confirms it.
        prev_hash = GENESIS_HASH if first == 0 else data[8:40]
        span_end = end_position - start_position
        head = snapshot.head if stop == snapshot.records - 1 else None
        if collect is None:
            span = ScanSpan(0, span_end, first, prev_hash, last_hash=head)
        else:
            span = ScanSpan(0, span_end, first, prev_hash, collect.first, collect.last, collect.keep_records, head)
        result = scan(data, span)
        self.hash_operations += result.hash_operations
        if result.failure is None and stop == snapshot.records - 1 and result.last_hash != snapshot.head:
            result.failure = _head_mismatch(stop)
        return result

    def read(self, from_offset: int, max_bytes: int) -> tuple[list[bytes], int | None]:
        """Data payloads from `from_offset` (at least one, then up to `max_bytes`), verified; and the
        offset to read next, or None when the read reached the end of the stream."""
        snapshot = self._snapshot()
        if not 0 <= from_offset <= snapshot.records:
            raise InvalidOffset(f"offset {from_offset} is outside stream {self.stream} (next {snapshot.records})")
        if max_bytes < 1:
            raise InvalidRequest("max_bytes must be at least 1", field="max_bytes")
        if from_offset == snapshot.records:
            return [], None
        last = self._last_within(snapshot, from_offset, max_bytes)
        result = self._verified(snapshot, _Collect(from_offset, last, keep_records=False))
        return result.payloads, (last + 1 if last + 1 < snapshot.records else None)

    def read_records(self, from_offset: int, to_offset: int) -> list[Record]:
        """Every record (checkpoints too) in [from, to], verified, with its hash; at most 10 000."""
        snapshot = self._snapshot()
        in_range = 0 <= from_offset <= to_offset < snapshot.records
        if not in_range or to_offset - from_offset >= READ_RECORDS_MAX:
            raise InvalidOffset(f"range [{from_offset}, {to_offset}] is outside stream {self.stream} or too long")
        found = self._verified(snapshot, _Collect(from_offset, to_offset, keep_records=True)).records
        return [Record(*fields) for fields in found]

    def _verified(self, snapshot: _Snapshot, collect: _Collect) -> ScanResult:
        nearest = bisect.bisect_right(self._checkpoints, collect.first) - 1
        start = self._checkpoints[nearest] if nearest >= 0 else 0
        result = self._scan_range(snapshot, start, collect.last, collect)
        if result.failure is not None:
            raise IntegrityError(f"stream {self.stream}: {result.failure.reason}", offset=result.failure.offset)
        return result

    def _last_within(self, snapshot: _Snapshot, first: int, max_bytes: int) -> int:
        total = 0
        last = first
        for offset in range(first, min(snapshot.records, first + READ_RECORDS_MAX)):
            if self._entries[offset] >> index.POSITION_BITS != RecordKind.DATA:
                last = offset  # checkpoints cost the reader nothing: always step over them
                continue
            payload_bytes = self._end_of(offset, snapshot) - self._position(offset) - RECORD_OVERHEAD_BYTES
            if total and total + payload_bytes > max_bytes:
                break
            total += payload_bytes
            last = offset
        return last

    def verify_chain(self) -> VerifyReport:
        """Check every record from genesis, every checkpoint, and every stored signature."""
        snapshot = self._snapshot()
        if self.damage is not None:
            return VerifyReport(False, 0, self.damage.offset, self.damage.message)
        if snapshot.records == 0:
            return VerifyReport(True, 0, None, None)
        result = self._scan_everything(snapshot)
        self.hash_operations += result.hash_operations
        if result.failure is None and result.last_hash != snapshot.head:
            result.failure = _head_mismatch(snapshot.records - 1)
        public_key = self._key.public_key() if self._key is not None else None
        return check_signatures(self.stream, result, self._signatures, public_key)

    def _scan_everything(self, snapshot: _Snapshot) -> ScanResult:
        slices = parallel.slices_available()
        if snapshot.records >= parallel.PARALLEL_RECORDS_MIN and slices > 1:
            starts = parallel.cut(self._entries, snapshot.records, slices)
            joined = parallel.verify_in_slices(self.directory / SEGMENT_NAME, starts, snapshot.size)
            if joined is not None:
                return joined
        # Small segments, one CPU, or anything wrong in a slice: the sequential scan decides.
        with mmap.mmap(self._fd, snapshot.size, access=mmap.ACCESS_READ) as buffer:
            return scan(buffer, ScanSpan(0, snapshot.size, 0, GENESIS_HASH, last_hash=snapshot.head))

    def public_key(self) -> Ed25519PublicKey | None:
        return self._key.public_key() if self._key is not None else None

    def truncate_from(self, offset: int) -> Repair:
        """Cut records [offset, end): only for recovery, when the journal rewrites a torn batch."""
        with self._lock:
            count = len(self._entries)
            if not 0 <= offset <= count:
                raise InvalidOffset(f"cannot cut stream {self.stream} at {offset} (next offset {count})")
            cut_position = self._position(offset) if offset < count else self._size
            discarded = self._size - cut_position
            os.ftruncate(self._fd, cut_position)
            os.fsync(self._fd)
            del self._entries[offset:]
            self._checkpoints = [c for c in self._checkpoints if c < offset]
            self._size = cut_position
            self._head = self._hash_of_last()
            self._index.rewrite(self._entries)
            self._signatures.forget_from(offset)
        return Repair(
            f"stream:{self.stream}", f"cut at offset {offset} to rewrite it from the journal", offset, discarded
        )

    def _hash_of_last(self) -> bytes:
        if not self._entries:
            return GENESIS_HASH
        position = self._position(len(self._entries) - 1)
        data = os.pread(self._fd, self._size - position, position)
        record, _end = decode_at(data, 0, len(data))
        return record.hash

    def sync(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._dirty:
                os.fsync(self._fd)
                self._dirty = False
            self._signatures.sync()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._dirty:
                os.fsync(self._fd)
            self._signatures.sync()
            self._signatures.close()
            self._index.close()
            os.close(self._fd)


class _Snapshot(NamedTuple):
    """A consistent view for a reader: records below `count` and bytes below `size` never change."""

    records: int
    size: int
    head: bytes


class _Collect(NamedTuple):
    first: int
    last: int
    keep_records: bool


def _head_mismatch(offset: int) -> ScanFailure:
    return ScanFailure(offset, f"record {offset} does not hash to the chain head this replica wrote")
