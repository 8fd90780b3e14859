"""verify_chain on several cores gives exactly the sequential verdict, success or failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.craton.storage import StreamLog, parallel
from appliance.craton.storage.segment import SEGMENT_NAME
from appliance.craton.types import StreamId
from tests.craton.log.segment_bytes import flip_payload_byte


def _log(tmp_path: Path) -> StreamLog:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(2), create=True)
    for start in range(0, 3000, 250):
        log.append([f"{i}".encode() * 9 for i in range(start, start + 250)], checkpoint=True)
    return log


@pytest.fixture
def sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PARALLEL_RECORDS_MIN", 1)
    monkeypatch.setattr(parallel, "slices_available", lambda: 3)


def test_slices_join_into_the_same_result_as_one_scan(tmp_path: Path) -> None:
    """Three slices (two in child processes) check the same records and checkpoints as one scan."""
    log = _log(tmp_path)
    starts = parallel.cut(log._entries, log.next_offset, 3)
    assert len(starts) == 3
    joined = parallel.verify_in_slices(tmp_path / "s" / SEGMENT_NAME, starts, log._size)
    assert joined is not None
    sequential = log.verify_chain()
    assert joined.records_checked == sequential.records_checked == log.next_offset
    assert joined.last_hash == log.last_hash
    assert [offset for offset, _ in joined.checkpoints] == log.checkpoint_offsets
    log.close()


@pytest.mark.usefixtures("sliced")
@pytest.mark.parametrize("record", [10, 1500, 2900])
def test_damage_in_any_slice_is_reported_like_the_sequential_scan(tmp_path: Path, record: int) -> None:
    """An edit in the first, middle or last slice gives the sequential report's offset and reason."""
    log = _log(tmp_path)
    flip_payload_byte(tmp_path / "s" / SEGMENT_NAME, record, fix=True)
    report = log.verify_chain()
    assert not report.ok
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "slices_available", lambda: 1)
        assert log.verify_chain() == report
    log.close()


@pytest.mark.usefixtures("sliced")
def test_a_clean_log_verifies_in_slices(tmp_path: Path) -> None:
    """The control: without damage the sliced verification says ok and counts every record."""
    log = _log(tmp_path)
    report = log.verify_chain()
    assert (report.ok, report.records_checked) == (True, log.next_offset)
    log.close()


def test_a_child_that_fails_falls_back_to_the_sequential_scan(tmp_path: Path, sliced: None) -> None:
    """If a slice's child cannot run, the answer still comes (sequentially), never a false ok."""
    log = _log(tmp_path)
    original = parallel._spawn

    def broken(path: Path, start: int, end: int, first_offset: int):  # type: ignore[no-untyped-def]
        return original(tmp_path / "missing.log", start, end, first_offset)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "_spawn", broken)
        starts = parallel.cut(log._entries, log.next_offset, 3)
        assert parallel.verify_in_slices(tmp_path / "s" / SEGMENT_NAME, starts, log._size) is None
        assert log.verify_chain().ok
    log.close()


def test_a_frozen_build_verifies_on_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the one-file binary sys.executable is not a Python interpreter, so no children are spawned."""
    monkeypatch.setattr("sys.frozen", True, raising=False)
    assert parallel.slices_available() == 1
