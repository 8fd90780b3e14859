"""`verify_chain` of a large segment on several cores: one slice here, the others in child processes.

Each link check needs only record k's own bytes and the prev_hash stored in record k+1, so slices
can be checked independently: a slice trusts the prev_hash stored in its first record, and the
seams are then checked here (slice r's computed last hash must equal the prev_hash that slice r+1
trusted). A child is a fresh `python -S scan.py …` (standard library only, no fork of this
multi-threaded process), verifying its byte range through a read-only mmap and printing one JSON
line. The CPU work of hashing then runs on every core instead of one.

Anything unexpected — a failure in any slice, a seam that does not match, a child that dies or
prints garbage — returns None, and the caller runs the ordinary sequential scan, so the report
(first bad offset and reason) is always exactly the sequential one.

Owns: splitting, running and joining the slices. Must never: report success unless every slice
and every seam checked out, or leave a child process running.
"""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
from array import array
from pathlib import Path
from typing import Final

from appliance.craton.storage import scan as scan_module
from appliance.craton.storage.index import POSITION_MASK
from appliance.craton.storage.scan import GENESIS, ScanResult, ScanSpan, scan

PARALLEL_RECORDS_MIN: Final = 200_000
SLICES_MAX: Final = 8
CHILD_TIMEOUT_S: Final = 600.0


def slices_available() -> int:
    """How many slices to cut: one per CPU this process may run on, at most SLICES_MAX; one when
    no plain Python interpreter and `scan.py` source are at hand (a frozen one-file build)."""
    worker = Path(scan_module.__file__ or "")
    if getattr(sys, "frozen", False) or worker.suffix != ".py" or not worker.is_file():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, SLICES_MAX))


def cut(entries: array[int], records: int, slices: int) -> list[tuple[int, int]]:
    """(first offset, byte position) of each slice's first record; slices hold equal record counts."""
    step = -(-records // slices)
    return [(first, entries[first] & POSITION_MASK) for first in range(0, records, step)]


def verify_in_slices(path: Path, starts: list[tuple[int, int]], size: int) -> ScanResult | None:
    """Slice 0 here, the rest in children; the joined result, or None to fall back to sequential."""
    bounds = [*(position for _offset, position in starts[1:]), size]
    children = [_spawn(path, starts[i][1], bounds[i], starts[i][0]) for i in range(1, len(starts))]
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as buffer:
                first = scan(buffer, ScanSpan(0, bounds[0], 0, GENESIS))
        finally:
            os.close(fd)
        outcomes = [_collect(child) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return _join(first, outcomes, starts)


def _spawn(path: Path, start: int, end: int, first_offset: int) -> subprocess.Popen[bytes]:
    # -S: no site-packages (the worker needs the standard library only); -E: ignore PYTHON* settings.
    command = [
        sys.executable,
        "-S",
        "-E",
        str(Path(scan_module.__file__)),
        str(path),
        str(start),
        str(end),
        str(first_offset),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def _collect(child: subprocess.Popen[bytes]) -> dict[str, object] | None:
    try:
        output, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    if child.returncode != 0:
        return None
    try:
        decoded = json.loads(output)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _join(
    first: ScanResult, outcomes: list[dict[str, object] | None], starts: list[tuple[int, int]]
) -> ScanResult | None:
    if first.failure is not None:
        return None
    joined = ScanResult(first.records_checked, first.last_hash, None, list(first.checkpoints))
    for index, outcome in enumerate(outcomes, start=1):
        if outcome is None or outcome.get("failure") is not None:
            return None
        if outcome.get("first_prev_hash") != joined.last_hash.hex():
            return None  # the seam: this slice trusted a prev_hash the previous slice did not produce
        checked = outcome.get("records_checked")
        last_hash = outcome.get("last_hash")
        checkpoints = outcome.get("checkpoints")
        if not isinstance(checked, int) or not isinstance(last_hash, str) or not isinstance(checkpoints, list):
            return None
        if starts[index][0] != joined.records_checked:
            return None
        joined.records_checked += checked
        joined.last_hash = bytes.fromhex(last_hash)
        joined.checkpoints += [(int(offset), bytes.fromhex(digest)) for offset, digest in checkpoints]
    return joined
