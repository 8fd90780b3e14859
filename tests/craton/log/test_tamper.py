"""Tamper and corruption are found at the right offset (§8.2 item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.craton.storage import StreamLog
from appliance.craton.types import IntegrityError, StreamId
from tests.craton.log.segment_bytes import edit, fix_crc, flip_payload_byte, record_spans


def _ten_records(tmp_path: Path) -> Path:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(1), create=True)
    log.append([f"event-{i}".encode() for i in range(10)])
    log.close()
    return tmp_path / "s" / "segment_000000.log"


def _reopen(tmp_path: Path) -> StreamLog:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(1))
    return log


@pytest.mark.parametrize("record", [0, 4, 8])
def test_payload_edit_with_recomputed_crc_is_a_chain_break_at_that_record(tmp_path: Path, record: int) -> None:
    """An edited payload whose CRC was fixed up passes the CRC but breaks the chain at that record."""
    path = _ten_records(tmp_path)
    flip_payload_byte(path, record, fix=True)
    log = _reopen(tmp_path)
    report = log.verify_chain()
    assert not report.ok
    assert report.first_bad_offset == record
    assert "CRC" not in (report.reason or "")
    with pytest.raises(IntegrityError) as raised:
        log.read(record, 1)
    assert raised.value.offset == record
    log.close()


def test_payload_edit_without_crc_fix_is_a_corrupted_record_at_that_offset(tmp_path: Path) -> None:
    """Without the fix-up the CRC catches it first, at the edited record."""
    path = _ten_records(tmp_path)
    flip_payload_byte(path, 3, fix=False)
    log = _reopen(tmp_path)
    report = log.verify_chain()
    assert (report.ok, report.first_bad_offset) == (False, 3)
    assert "CRC" in (report.reason or "")
    log.close()


def test_edited_prev_hash_is_reported_at_the_record_that_carries_it(tmp_path: Path) -> None:
    """A rewritten prev_hash (CRC fixed) blames the record holding it, not its predecessor."""
    path = _ten_records(tmp_path)
    start, end = record_spans(path)[5]
    edit(path, start + 8, b"\x42" * 32)
    fix_crc(path, start, end)
    log = _reopen(tmp_path)
    report = log.verify_chain()
    assert (report.ok, report.first_bad_offset) == (False, 5)
    log.close()


def test_edited_offset_field_is_reported(tmp_path: Path) -> None:
    """The offset field is outside the hash, so it is checked on its own."""
    path = _ten_records(tmp_path)
    start, end = record_spans(path)[6]
    edit(path, start, (60).to_bytes(8, "little"))
    fix_crc(path, start, end)
    log = _reopen(tmp_path)
    report = log.verify_chain()
    assert (report.ok, report.first_bad_offset) == (False, 6)
    log.close()


def test_edit_of_the_last_record_is_caught_by_the_live_chain_head(tmp_path: Path) -> None:
    """While the writer is open it knows the head, so even the last record cannot be edited unseen."""
    log, _ = StreamLog.open(tmp_path / "s", StreamId(1), create=True)
    log.append([b"one", b"two", b"three"])
    flip_payload_byte(tmp_path / "s" / "segment_000000.log", 2, fix=True)
    report = log.verify_chain()
    assert (report.ok, report.first_bad_offset) == (False, 2)
    log.close()


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    """The control: the same log without edits verifies, every record checked."""
    _ten_records(tmp_path)
    log = _reopen(tmp_path)
    report = log.verify_chain()
    assert (report.ok, report.records_checked, report.first_bad_offset) == (True, 10, None)
    log.close()
