"""A replica process killed with SIGKILL mid-stream loses no acknowledged append or insert."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.craton.engine import Engine
from tests.craton.log.crash_writer import BATCH_EVENTS, batch
from tests.craton.log.segment_bytes import record_spans

ACKS_BEFORE_KILL = 150
REPO = Path(__file__).resolve().parents[3]


def _run_and_kill(data_dir: Path) -> tuple[int, dict[int, int], set[int]]:
    """Start the writer, SIGKILL it after enough acks; returns the stream and what was acknowledged."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.craton.log.crash_writer", str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    appends: dict[int, int] = {}
    inserts: set[int] = set()
    stream = -1
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if not line.endswith("\n"):
                break  # a half-printed ack is not an ack
            word, *fields = line.split()
            if word == "ready":
                stream = int(fields[0])
            elif word == "append":
                appends[int(fields[0])] = int(fields[1])
            elif word == "sql":
                inserts.add(int(fields[0]))
            if len(appends) >= ACKS_BEFORE_KILL:
                os.kill(child.pid, signal.SIGKILL)  # while it is still appending
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return stream, appends, inserts


def _check_everything_acknowledged_is_there(
    data_dir: Path, stream: int, appends: dict[int, int], inserts: set[int]
) -> list[dict[str, object]]:
    """Reopen and check; returns the recovery records of that open."""
    engine = Engine.open(data_dir, checkpoint_every=37)
    try:
        for index, first in appends.items():
            events, _next = engine.read_events(1, stream, first, 1 << 20)
            assert events[:BATCH_EVENTS] == batch(index), f"acknowledged batch {index} at {first} is missing"
        report = engine.verify_chain(1, stream)
        assert report.ok, report.reason
        rows = engine.query(1, "SELECT n FROM acks ORDER BY n", []).rows
        assert inserts <= {row[0] for row in rows}
        assert engine.verify_chain(1, 1 << 32).ok  # the __tables stream too
        assert engine.verify_audit().ok
        recoveries: list[dict[str, object]] = engine.status()["recoveries"]
    finally:
        engine.close()
    return recoveries


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """After kill -9 and reopen, every acknowledged batch and insert is present and chains verify."""
    stream, appends, inserts = _run_and_kill(tmp_path / "replica")
    assert len(appends) >= ACKS_BEFORE_KILL
    _check_everything_acknowledged_is_there(tmp_path / "replica", stream, appends, inserts)


@pytest.mark.slow
def test_unsynced_segment_tail_lost_with_the_machine_is_restored_from_the_journal(tmp_path: Path) -> None:
    """Segments are written without fsync (the journal is the commit point): cutting their tails,
    as a power loss could, still loses nothing acknowledged, because the journal replays it."""
    data_dir = tmp_path / "replica"
    stream, appends, inserts = _run_and_kill(data_dir)
    for directory in (data_dir / "streams").iterdir():
        segment = directory / "segment_000000.log"
        spans = record_spans(segment)
        if len(spans) > 12:
            os.truncate(segment, spans[-12][0] + 7)  # lose 11 whole records and tear a twelfth
    recoveries = _check_everything_acknowledged_is_there(data_dir, stream, appends, inserts)
    torn = [r for r in recoveries if str(r["subject"]).startswith("stream:") and "torn" in str(r["reason"])]
    assert len(torn) == 2  # both streams' tails were cut, reported, then rewritten from the journal
