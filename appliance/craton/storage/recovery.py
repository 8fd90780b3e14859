"""Opening a segment after any kind of stop: trust the index only as far as the log agrees.

Steps: keep the index entries that point inside the file; check the last one decodes to the
record it claims (otherwise rebuild the whole index by scanning the log); then scan from the end
of the last indexed record to the end of the file, checking CRC, offset and chain link of every
record. What the scan meets at the end decides the outcome:

* the file ends inside a record, or the rest is all zero bytes, or the last record fails its CRC
  and ends exactly at the end of the file: a **torn tail**, cut off and reported as a `Repair`;
* anything else (a bad record followed by more bytes, an offset out of sequence, a broken chain
  link): **damage**, reported with its offset and never cut or skipped.

Owns: that decision. Must never: truncate anything but a torn tail.
"""

from __future__ import annotations

import mmap
import os
from array import array

import msgspec

from appliance.craton.storage import index
from appliance.craton.storage.record import HEADER_BYTES, RECORD_OVERHEAD_BYTES, RecordDamage, decode_at
from appliance.craton.types import GENESIS_HASH, IntegrityError, StorageError


class Repair(msgspec.Struct, frozen=True):
    """One thing recovery changed on disk (or rebuilt), for the compliance trail."""

    subject: str
    reason: str
    kept_records: int
    discarded_bytes: int


class RecoveredSegment:
    """What recovery learned: the index entries of every good record, the chain head, the end."""

    def __init__(self, entries: array[int]) -> None:
        self.entries = entries
        self.last_hash = GENESIS_HASH
        self.valid_end = 0
        self.repairs: list[Repair] = []
        self.damage: IntegrityError | None = None
        self.index_rewrite = False
        self.index_appended_from = len(entries)


def recover(fd: int, subject: str, loaded: array[int], index_intact: bool) -> RecoveredSegment:
    """Check `loaded` index entries against the segment open at `fd` and scan its unindexed tail."""
    size = os.fstat(fd).st_size
    if size == 0:
        recovered = RecoveredSegment(array("Q"))
        recovered.index_rewrite = len(loaded) > 0 or not index_intact
        return recovered
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as buffer:
        recovered = _trusted_prefix(buffer, size, loaded)
        if len(recovered.entries) < len(loaded) or not index_intact:
            recovered.index_rewrite = True
            reason = "index missing or damaged" if len(recovered.entries) == 0 else "index behind or damaged"
            recovered.repairs.append(Repair(f"index:{subject}", reason, len(recovered.entries), 0))
        _scan_tail(buffer, size, recovered, subject)
    if recovered.valid_end < size and recovered.damage is None:
        _truncate(fd, recovered.valid_end)
    return recovered


def _trusted_prefix(buffer: mmap.mmap, size: int, loaded: array[int]) -> RecoveredSegment:
    count = len(loaded)
    while count and loaded[count - 1] & index.POSITION_MASK >= size:
        count -= 1
    if count == 0:
        return RecoveredSegment(array("Q"))
    last = loaded[count - 1]
    try:
        record, record_end = decode_at(buffer, last & index.POSITION_MASK, size)
    except RecordDamage:
        return RecoveredSegment(array("Q"))
    if record.offset != count - 1 or record.kind != last >> index.POSITION_BITS or loaded[0] != 0:
        return RecoveredSegment(array("Q"))
    recovered = RecoveredSegment(loaded[:count])
    recovered.last_hash = record.hash
    recovered.valid_end = record_end
    return recovered


def _scan_tail(buffer: mmap.mmap, size: int, recovered: RecoveredSegment, subject: str) -> None:
    position = recovered.valid_end
    entries = recovered.entries
    head = recovered.last_hash
    while position < size:
        try:
            record, record_end = decode_at(buffer, position, size)
        except RecordDamage as damage:
            _classify_damage(buffer, size, recovered, subject, damage)
            return
        expected = len(entries)
        if record.offset != expected or record.prev_hash != head:
            what = "offset out of sequence" if record.offset != expected else "chain link broken"
            recovered.damage = IntegrityError(f"{subject}: {what} at offset {expected}", offset=expected)
            return
        entries.append(index.entry(position, record.kind))
        head = record.hash
        position = record_end
        recovered.last_hash = head
        recovered.valid_end = position


def _classify_damage(
    buffer: mmap.mmap, size: int, recovered: RecoveredSegment, subject: str, damage: RecordDamage
) -> None:
    position = damage.position
    offset = len(recovered.entries)
    rest = buffer[position:size]
    declared_end = _declared_end(buffer, position, size)
    if damage.torn or not any(rest) or declared_end == size:
        reason = f"torn tail cut at byte {position}: {damage}"
        recovered.repairs.append(Repair(f"stream:{subject}", reason, offset, size - position))
        return
    message = f"{subject}: record {offset} at byte {position} is damaged and more data follows ({damage})"
    recovered.damage = IntegrityError(message, offset=offset)


def _declared_end(buffer: mmap.mmap, position: int, size: int) -> int | None:
    if size - position < HEADER_BYTES:
        return None
    length = int.from_bytes(buffer[position + HEADER_BYTES - 4 : position + HEADER_BYTES], "little")
    return position + RECORD_OVERHEAD_BYTES + length


def _truncate(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as error:
        raise StorageError(f"cannot cut the torn tail at byte {size}: {error}") from error
