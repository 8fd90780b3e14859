"""Craton engine, log side: appends with fsync and full chain verification, against raw baselines.

Measured in one run, on the same disk, so the ratios hold even when the machine is busy:

1. Appends, batches of 100 events of 200 bytes, each batch durable before the next:
   - baseline: raw `os.write` of the batch's 20,000 payload bytes + `os.fsync` (the disk's limit);
   - storage: `StreamLog.append(batch, sync=True)` (§1.3 encoding, hashing, one write, one fsync);
   - engine: `Engine.append` (kernel, journal write + fsync as the commit point, segment write).
   Baseline and subjects alternate in rounds so drift hits all of them alike.
2. `verify_chain` over N records of 200 bytes (1,000,000; `--quick`: 100,000):
   - baseline: `hashlib.sha256(prev ‖ kind ‖ payload).digest()` once per record over pre-built bytes
     (the hashing a chain check cannot avoid), plus one bulk `hashlib.sha256` over the whole file for
     context;
   - subjects: `StreamLog.verify_chain()` (CRC, offset, link and checkpoint checks included) on one
     core, and as shipped: sliced across the CPUs this process may use (one child per extra CPU).

Nothing here asserts a timing; the budgets (≥ 50 % of each baseline) are judged by reading the output.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from appliance.craton.engine import Engine
from appliance.craton.storage import StreamLog, parallel
from appliance.craton.types import StreamId

EVENT_BYTES = 200
BATCH_EVENTS = 100
ROUNDS = 5


def _batch(seed: int) -> list[bytes]:
    return [(f"{seed:08}-{k:04}-".encode() * 20)[:EVENT_BYTES] for k in range(BATCH_EVENTS)]


def _raw_appends(directory: Path, batches: int) -> float:
    path = directory / f"raw-{time.monotonic_ns()}.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    data = [b"".join(_batch(i)) for i in range(batches)]
    started = time.perf_counter()
    for chunk in data:
        os.write(fd, chunk)
        os.fsync(fd)
    elapsed = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return elapsed


def _storage_appends(directory: Path, batches: int) -> float:
    log, _ = StreamLog.open(directory / f"s-{time.monotonic_ns()}", StreamId(1), create=True)
    data = [_batch(i) for i in range(batches)]
    started = time.perf_counter()
    for events in data:
        log.append(events, sync=True)
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed


def _engine_appends(directory: Path, batches: int) -> float:
    engine = Engine.open(directory / f"e-{time.monotonic_ns()}")
    stream = engine.create_stream(1, "bench")
    data = [_batch(i) for i in range(batches)]
    started = time.perf_counter()
    for events in data:
        engine.append(1, stream, events, None)
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


def bench_appends(directory: Path, batches: int) -> None:
    times: dict[str, list[float]] = {"raw write+fsync": [], "storage append": [], "engine append": []}
    for _round in range(ROUNDS):
        times["raw write+fsync"].append(_raw_appends(directory, batches))
        times["storage append"].append(_storage_appends(directory, batches))
        times["engine append"].append(_engine_appends(directory, batches))
    base = statistics.median(times["raw write+fsync"])
    print(f"appends: {ROUNDS} rounds × {batches} batches of {BATCH_EVENTS} × {EVENT_BYTES} B, fsync per batch")
    for name, samples in times.items():
        median = statistics.median(samples)
        events_per_s = batches * BATCH_EVENTS / median
        per_batch_us = median / batches * 1e6
        print(f"  {name:18} {events_per_s:>10,.0f} events/s  {per_batch_us:8.0f} µs/batch  ratio {base / median:5.2f}")


def _build_stream(directory: Path, records: int) -> StreamLog:
    log, _ = StreamLog.open(directory / "verify", StreamId(1), create=True)
    events = [(f"{k:010}".encode() * 20)[:EVENT_BYTES] for k in range(1000)]
    written = 0
    while written < records:
        # A checkpoint every 1000 records, as the default policy would place them.
        log.append(events, checkpoint=True, sync=False)
        written += len(events) + 1
    log.sync()
    return log


def _hash_baseline(log: StreamLog, records: int) -> float:
    """Per-record SHA-256 of prev ‖ kind ‖ payload over pre-built bytes, in chunks to bound memory."""
    segment = (log.directory / "segment_000000.log").read_bytes()
    elapsed = 0.0
    position = 0
    done = 0
    while done < records:
        pieces = []
        for _ in range(min(100_000, records - done)):
            length = int.from_bytes(segment[position + 41 : position + 45], "little")
            pieces.append(segment[position + 8 : position + 41] + segment[position + 45 : position + 45 + length])
            position += 49 + length
        sha256 = hashlib.sha256
        started = time.perf_counter()
        for piece in pieces:
            sha256(piece).digest()
        elapsed += time.perf_counter() - started
        done += len(pieces)
    return elapsed


def _timed_verify(log: StreamLog, *, sliced: bool) -> float:
    saved = parallel.PARALLEL_RECORDS_MIN
    parallel.PARALLEL_RECORDS_MIN = saved if sliced else 1 << 62
    try:
        started = time.perf_counter()
        report = log.verify_chain()
        elapsed = time.perf_counter() - started
    finally:
        parallel.PARALLEL_RECORDS_MIN = saved
    if not report.ok:
        raise SystemExit(f"verify_chain failed on a clean log: {report.reason}")
    return elapsed


def bench_verify(directory: Path, records: int) -> None:
    log = _build_stream(directory, records)
    count = log.next_offset
    size = (log.directory / "segment_000000.log").stat().st_size
    data = (log.directory / "segment_000000.log").read_bytes()
    started = time.perf_counter()
    hashlib.sha256(data).digest()
    bulk = time.perf_counter() - started
    del data
    samples: dict[str, list[float]] = {"sha256 per record": [], "verify, 1 core": [], "verify, sliced": []}
    for _round in range(3):
        samples["sha256 per record"].append(_hash_baseline(log, count))
        samples["verify, 1 core"].append(_timed_verify(log, sliced=False))
        samples["verify, sliced"].append(_timed_verify(log, sliced=True))
    base = statistics.median(samples["sha256 per record"])
    slices = parallel.slices_available() if count >= parallel.PARALLEL_RECORDS_MIN else 1
    print(f"verify_chain: {count:,} records, {size / 1e6:,.0f} MB, medians of 3, {slices} slice(s) on this machine")
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"  {name:18} {count / median:>10,.0f} records/s  {median * 1e9 / count:6.0f} ns/record  ratio {base / median:5.2f}"
        )
    print(f"  (context: one bulk sha256 over the file: {bulk * 1e9 / count:.0f} ns/record)")
    log.close()


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="craton-log-bench-", dir=Path.cwd()) as scratch:
        directory = Path(scratch)
        bench_appends(directory, batches=100 if quick else 500)
        bench_verify(directory, records=250_000 if quick else 1_000_000)


if __name__ == "__main__":
    main(quick=False)
