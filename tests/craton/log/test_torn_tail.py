"""A torn tail is cut and recorded; damage before the tail is an integrity error (§8.2 item 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.craton.storage import StreamLog
from appliance.craton.types import IntegrityError, StreamId
from tests.craton.log.segment_bytes import flip_payload_byte, record_spans


def _five_records(tmp_path: Path) -> Path:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(3), create=True)
    log.append([b"zero", b"one", b"two"])
    log.append([b"three", b"four"])
    log.close()
    return tmp_path / "s" / "segment_000000.log"


def _reopen(tmp_path: Path) -> tuple[StreamLog, list]:
    return StreamLog.open(tmp_path / "s", StreamId(3))


@pytest.mark.parametrize("cut_inside", [1, 20, 45, 52])
def test_file_ending_inside_the_last_record_is_cut_and_recorded(tmp_path: Path, cut_inside: int) -> None:
    """Truncating mid-record drops only that record, reports it, and the chain continues from record 3."""
    path = _five_records(tmp_path)
    start, _end = record_spans(path)[4]
    os.truncate(path, start + cut_inside)
    log, repairs = _reopen(tmp_path)
    assert log.next_offset == 4
    torn = [r for r in repairs if r.subject == "stream:3"]
    assert len(torn) == 1
    assert (torn[0].kept_records, torn[0].discarded_bytes) == (4, cut_inside)
    assert path.stat().st_size == start
    assert log.read(0, 1 << 20) == ([b"zero", b"one", b"two", b"three"], None)
    assert log.append([b"four again"]).first_offset == 4
    assert log.verify_chain().ok
    log.close()
    log, repairs = _reopen(tmp_path)
    assert repairs == []
    assert log.read(4, 100) == ([b"four again"], None)
    log.close()


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    """A crash can leave the file longer than what was written, full of zeros: that is cut too."""
    path = _five_records(tmp_path)
    size = path.stat().st_size
    with path.open("ab") as file:
        file.write(bytes(4096))
    log, repairs = _reopen(tmp_path)
    assert log.next_offset == 5
    assert path.stat().st_size == size
    assert [r.discarded_bytes for r in repairs if r.subject == "stream:3"] == [4096]
    log.close()


def test_complete_last_record_with_bad_crc_is_a_torn_tail(tmp_path: Path) -> None:
    """The last record fully present but failing its CRC (a half-written page) is dropped."""
    path = _five_records(tmp_path)
    flip_payload_byte(path, 4, fix=False)
    log, repairs = _reopen(tmp_path)
    assert log.next_offset == 4
    assert any(r.subject == "stream:3" for r in repairs)
    log.close()


def test_bad_record_in_the_middle_is_damage_never_cut(tmp_path: Path) -> None:
    """A CRC-bad record followed by good ones is an integrity error at its offset; nothing is cut."""
    path = _five_records(tmp_path)
    (tmp_path / "s" / "segment_000000.log.idx").unlink()  # force a full scan on open
    flip_payload_byte(path, 2, fix=False)
    size = path.stat().st_size
    log, _repairs = _reopen(tmp_path)
    assert log.damage is not None
    assert log.damage.offset == 2
    assert path.stat().st_size == size
    with pytest.raises(IntegrityError):
        log.append([b"more"])
    report = log.verify_chain()
    assert (report.ok, report.first_bad_offset) == (False, 2)
    log.close()
