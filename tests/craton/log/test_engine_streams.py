"""The engine facade for streams: concurrency control, isolation, limits and bad input (§8.2 8, 9, 24)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.engine import Engine
from appliance.craton.types import (
    InvalidOffset,
    InvalidRequest,
    OffsetMismatch,
    StorageError,
    StreamAlreadyExists,
    StreamNotFound,
    stream_id,
    tenant_id,
)


def _segment(engine: Engine, stream: int) -> Path:
    return Path(engine.status()["journal_path"]).parent.parent / "streams" / str(stream) / "segment_000000.log"


def test_stream_ids_carry_the_tenant_in_the_high_bits(engine: Engine) -> None:
    """create_stream returns (tenant << 32) | local, locals counting from 1 per tenant."""
    assert engine.create_stream(7, "a") == stream_id(tenant_id(7), 1)
    assert engine.create_stream(7, "b") == (7 << 32) | 2
    assert engine.create_stream(8, "a") == (8 << 32) | 1


def test_wrong_expected_offset_writes_nothing(engine: Engine) -> None:
    """Optimistic concurrency: the segment file is byte-identical after a refused append."""
    stream = engine.create_stream(1, "orders")
    assert engine.append(1, stream, [b"a", b"b"], 0) == 0
    before = _segment(engine, stream).read_bytes()
    with pytest.raises(OffsetMismatch) as raised:
        engine.append(1, stream, [b"c"], 0)
    assert raised.value.code == 16
    assert _segment(engine, stream).read_bytes() == before
    assert engine.append(1, stream, [b"c"], 2) == 2
    assert engine.read_events(1, stream, 0, 1 << 20) == ([b"a", b"b", b"c"], None)


def test_rejections_do_not_stall_the_engine(engine: Engine) -> None:
    """Duplicate names and bad appends are error replies; the very next write succeeds."""
    stream = engine.create_stream(1, "s")
    with pytest.raises(StreamAlreadyExists):
        engine.create_stream(1, "s")
    with pytest.raises(InvalidRequest):
        engine.append(1, stream, [], None)
    with pytest.raises(StreamNotFound):
        engine.append(1, stream + 5, [b"x"], None)
    assert engine.append(1, stream, [b"x"], None) == 0
    assert engine.create_stream(1, "t") == stream + 1


def test_forged_tenant_cannot_read_write_or_verify_another_tenants_stream(engine: Engine) -> None:
    """Tenant 2 using tenant 1's stream id is told the stream does not exist, for every operation."""
    stream = engine.create_stream(1, "private")
    engine.append(1, stream, [b"secret"], None)
    for attempt in (
        lambda: engine.append(2, stream, [b"x"], None),
        lambda: engine.read_events(2, stream, 0, 100),
        lambda: engine.verify_chain(2, stream),
        lambda: engine.export(2, stream, 0, 0, Path("/nonexistent/x.jsonl")),
    ):
        with pytest.raises(StreamNotFound):
            attempt()
    assert engine.read_events(1, stream, 0, 100) == ([b"secret"], None)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda e, s: e.append(1, s, ["text"], None), InvalidRequest),
        (lambda e, s: e.append(1, s, [b"x"] * 10_001, None), InvalidRequest),
        (lambda e, s: e.append(1, s, [b"x" * (16 << 20)], None), InvalidRequest),
        (lambda e, s: e.append(-1, s, [b"x"], None), InvalidRequest),
        (lambda e, s: e.append(1, s, [b"x"], -3), InvalidOffset),
        (lambda e, s: e.read_events(1, s, -1, 10), InvalidOffset),
        (lambda e, s: e.read_events(1, s, 99, 10), InvalidOffset),
        (lambda e, s: e.read_events(1, s, 0, 0), InvalidRequest),
        (lambda e, s: e.create_stream(1, ""), InvalidRequest),
        (lambda e, s: e.create_stream(1, "x" * 256), InvalidRequest),
        (lambda e, s: e.create_stream(1, "__tables"), InvalidRequest),
        (lambda e, s: e.create_stream(1, "bad\nname"), InvalidRequest),
        (lambda e, s: e.create_stream(1 << 40, "big tenant"), InvalidRequest),
    ],
)
def test_bad_input_gets_a_clear_error_and_loses_nothing(engine: Engine, call, error) -> None:
    """Malformed or oversized requests are refused with a typed error; earlier data is intact."""
    stream = engine.create_stream(1, "s")
    engine.append(1, stream, [b"kept"], None)
    with pytest.raises(error) as raised:
        call(engine, stream)
    assert raised.value.message
    assert engine.read_events(1, stream, 0, 100) == ([b"kept"], None)
    assert engine.verify_chain(1, stream).ok


def test_reads_page_by_max_bytes_and_skip_checkpoints(engine: Engine) -> None:
    """read_events pages through a stream with checkpoints inside it, never losing or repeating one."""
    stream = engine.create_stream(1, "s")
    events = [f"event-{i:03}".encode() for i in range(95)]
    for start in range(0, 95, 7):
        engine.append(1, stream, events[start : start + 7], None)
    seen: list[bytes] = []
    offset = 0
    while True:
        page, next_offset = engine.read_events(1, stream, offset, 30)
        assert page
        seen += page
        if next_offset is None:
            break
        offset = next_offset
    assert seen == events


def test_concurrent_appends_all_land_exactly_once(engine: Engine) -> None:
    """Eight threads appending at once: every batch lands once, each at its own offset, chain intact."""
    stream = engine.create_stream(1, "busy")
    firsts: list[int] = []
    lock = threading.Lock()

    def writer(index: int) -> None:
        for round_ in range(20):
            first = engine.append(1, stream, [f"{index}-{round_}-{k}".encode() for k in range(3)], None)
            with lock:
                firsts.append(first)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data, _next = engine.read_events(1, stream, 0, 1 << 24)
    assert len(data) == len(set(data)) == 8 * 20 * 3
    assert len(set(firsts)) == 160
    assert engine.verify_chain(1, stream).ok
    for first in firsts:  # each reported offset starts one of the batches
        assert engine.read_events(1, stream, first, 1)[0][0].endswith(b"-0")


def test_a_second_engine_cannot_open_the_same_data_dir(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """The data dir lock refuses a second opener instead of letting two writers interleave."""
    first = Engine.open(tmp_path / "r", signing_key=signing_key)
    with pytest.raises(StorageError, match="in use"):
        Engine.open(tmp_path / "r", signing_key=signing_key)
    first.close()
    Engine.open(tmp_path / "r", signing_key=signing_key).close()


def test_closing_checkpoints_every_stream_and_reopening_keeps_everything(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    """A clean shutdown ends each stream with a signed checkpoint; the reopened engine sees the same data."""
    engine = Engine.open(tmp_path / "r", checkpoint_every=1000, signing_key=signing_key)
    stream = engine.create_stream(3, "s")
    engine.append(3, stream, [b"1", b"2", b"3"], None)
    engine.close()
    again = Engine.open(tmp_path / "r", checkpoint_every=1000, signing_key=signing_key)
    report = again.verify_chain(3, stream)
    assert (report.ok, report.records_checked, report.signed_checkpoints) == (True, 4, 1)
    assert again.append(3, stream, [b"4"], 4) == 4
    assert again.read_events(3, stream, 0, 100) == ([b"1", b"2", b"3", b"4"], None)
    again.close()


def test_reopening_with_another_signing_key_is_refused(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """A different key would make every stored signature look forged: opening says so instead."""
    Engine.open(tmp_path / "r", signing_key=signing_key).close()
    with pytest.raises(StorageError, match="not the one that signed"):
        Engine.open(tmp_path / "r", signing_key=Ed25519PrivateKey.generate())
    Engine.open(tmp_path / "r", signing_key=signing_key).close()
