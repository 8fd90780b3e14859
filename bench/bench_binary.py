"""Start-up of the one-file binary against the same appliance run from source, in the same run.

For each mode, `craton up --headless` starts on a fresh data dir and a free loopback port, and the
time from spawning the process to the first `GET /readyz` 200 is taken; the process is then
stopped with SIGTERM. Modes:

- source (baseline): `.venv/bin/python -m appliance up …`, page cache warm;
- binary warm: `dist/craton up …` (or `CRATON_BINARY`), page cache warm;
- binary cold: the same after `sync; echo 3 > /proc/sys/vm/drop_caches` (needs root; otherwise
  reported as not measurable), i.e. the first start after boot or after copying the binary.

Runs are interleaved (cold, source, warm, cold, …) so drift on a shared machine hits all modes
alike; medians and ratios to the source median are printed. Nothing here asserts a timing.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("CRATON_BINARY", REPO / "dist" / "craton"))
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.01
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def drop_caches() -> bool:
    try:
        os.sync()
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def time_to_ready(command: list[str]) -> float:
    """Seconds from spawn to the first /readyz 200 on a fresh data dir; the process is stopped."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="craton-bench-") as data_dir:
        args = [*command, "up", "--headless", "--data-dir", data_dir, "--http", f"127.0.0.1:{port}"]
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            elapsed_s = wait_ready(process, f"http://127.0.0.1:{port}/readyz", started)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return elapsed_s


def wait_ready(process: subprocess.Popen[bytes], url: str, started: float) -> float:
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() - started < READY_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args} exited with {process.returncode} before ready")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:.0f} s")


def measure(rounds: int) -> dict[str, list[float]]:
    source = [sys.executable, "-m", "appliance"]
    binary = [str(BINARY)]
    results: dict[str, list[float]] = {"source": [], "binary warm": [], "binary cold": []}
    for _ in range(rounds):
        if drop_caches():
            results["binary cold"].append(time_to_ready(binary))
        # Dropping the cache also evicted the venv: one unmeasured start warms it up again.
        time_to_ready(source)
        results["source"].append(time_to_ready(source))
        results["binary warm"].append(time_to_ready(binary))
    return results


def main(quick: bool) -> None:
    if not BINARY.is_file():
        print(f"binary: no {BINARY}; run `make dist` first (or set CRATON_BINARY)")
        return
    rounds = 2 if quick else 7
    print(f"binary: {BINARY} ({BINARY.stat().st_size / 1e6:.1f} MB), {rounds} interleaved rounds")
    results = measure(rounds)
    baseline = statistics.median(results["source"])
    print(f"{'mode':<14} {'median s':>9} {'min s':>7} {'max s':>7} {'× source':>9}")
    for mode, values in results.items():
        if not values:
            print(f"{mode:<14} not measurable here (dropping the page cache needs root)")
            continue
        median = statistics.median(values)
        print(f"{mode:<14} {median:>9.2f} {min(values):>7.2f} {max(values):>7.2f} {median / baseline:>9.2f}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
