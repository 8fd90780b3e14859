"""The offset index is rebuilt when missing, damaged or behind, and reads stay exact (§8.2 item 4)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from appliance.craton.storage import StreamLog, index
from appliance.craton.types import StreamId

EVENTS = [f"event {i} ".encode() * (1 + i % 7) for i in range(300)]


def _write(tmp_path: Path) -> Path:
    log, _ = StreamLog.open(tmp_path / "s", StreamId(9), create=True)
    for start in range(0, len(EVENTS), 25):
        log.append(EVENTS[start : start + 25], checkpoint=(start // 25) % 4 == 3)
    log.close()
    return tmp_path / "s" / "segment_000000.log.idx"


def _random_reads_match(log: StreamLog) -> None:
    data = log.read(0, 1 << 30)[0]
    assert data == EVENTS
    offsets = [o for o in range(log.next_offset) if o not in set(log.checkpoint_offsets)]
    rng = random.Random(4)
    for offset in rng.sample(offsets, 40):
        events, _next = log.read(offset, 1)
        assert events == [EVENTS[offsets.index(offset)]]


@pytest.mark.parametrize("damage", ["deleted", "flipped byte", "garbage header", "cut short"])
def test_damaged_index_is_rebuilt_on_open(tmp_path: Path, damage: str) -> None:
    """Whatever happened to the .idx file, reopening gives the same offsets as before."""
    index_path = _write(tmp_path)
    original = index_path.read_bytes()
    if damage == "deleted":
        index_path.unlink()
    elif damage == "flipped byte":
        data = bytearray(original)
        data[len(data) // 2] ^= 0x10
        index_path.write_bytes(bytes(data))
    elif damage == "garbage header":
        index_path.write_bytes(b"NOPE" + original[4:])
    else:
        index_path.write_bytes(original[: len(original) - 100])
    log, repairs = StreamLog.open(tmp_path / "s", StreamId(9))
    assert any(r.subject == "index:9" for r in repairs)
    assert log.next_offset == len(EVENTS) + 3
    assert log.checkpoint_offsets == [100, 201, 302]
    _random_reads_match(log)
    assert log.verify_chain().ok
    log.close()
    rebuilt, intact = index.load(index_path)
    (tmp_path / "original.idx").write_bytes(original)
    assert intact
    assert rebuilt == index.load(tmp_path / "original.idx")[0]  # the same entries, whatever the chunking


def test_index_grows_by_one_chunk_per_batch_and_is_never_rewritten(tmp_path: Path) -> None:
    """Each append adds a 16 + 8n + 4 byte chunk at the end; earlier bytes are untouched."""
    log, _ = StreamLog.open(tmp_path / "s", StreamId(9), create=True)
    index_path = tmp_path / "s" / "segment_000000.log.idx"
    log.append([b"a", b"b"])
    before = index_path.read_bytes()
    log.append([b"c", b"d", b"e"])
    after = index_path.read_bytes()
    assert after.startswith(before)
    assert len(after) - len(before) == 12 + 8 * 3 + 4
    log.close()


def test_reopening_an_intact_index_reports_no_repairs(tmp_path: Path) -> None:
    """The control: an untouched index is used as is."""
    _write(tmp_path)
    log, repairs = StreamLog.open(tmp_path / "s", StreamId(9))
    assert repairs == []
    _random_reads_match(log)
    log.close()
