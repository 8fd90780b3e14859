"""Start and stop real `craton replica` processes for the process-level tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 60.0
CLI = [sys.executable, "-m", "appliance.craton.cli"]


class Replica:
    def __init__(self, process: subprocess.Popen[str], data_dir: Path, address: str, http: str | None) -> None:
        self.process = process
        self.data_dir = data_dir
        self.address = address
        self.http = http
        self._stopped: tuple[int, str] | None = None

    @property
    def token(self) -> str:
        return (self.data_dir / "dev-token").read_text()

    def stop(self, sig: int | None = signal.SIGTERM, timeout_s: float = 60.0) -> tuple[int, str]:
        """Signal the process (unless `sig` is None) and collect (exit code, stderr); later calls return the same pair."""
        if self._stopped is not None:
            return self._stopped
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            _, stderr = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        self._stopped = (self.process.returncode, stderr)
        return self._stopped


def start_replica(data_dir: Path, *extra: str, dev: bool = True) -> Replica:
    """Run `craton replica` on 127.0.0.1:0 and wait until it has written its addresses."""
    (data_dir / "replica.json").unlink(missing_ok=True)
    command = [*CLI, "replica", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    command += ["--dev"] if dev else []
    command += list(extra)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"replica exited with {process.returncode}: {process.communicate()[1]}")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            info = json.loads((data_dir / "replica.json").read_text())
            if info.get("pid") == process.pid:
                return Replica(process, data_dir, info["listen"], info["http"])
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"replica did not start within {START_TIMEOUT_S} s")


@contextlib.contextmanager
def running_replica(data_dir: Path, *extra: str) -> Iterator[Replica]:
    replica = start_replica(data_dir, *extra)
    try:
        yield replica
    finally:
        replica.stop()


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
