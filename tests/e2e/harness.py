"""Running the real appliance as a child process, the way an operator does."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

READY_DEADLINE_S = 60.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout_s)
        self.close_pipes()
        return code

    def close_pipes(self) -> None:
        for pump in self.pumps:
            pump.join(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def appliance_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance", *args]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        appliance_command(*args), capture_output=True, text=True, timeout=timeout_s, env=_env(env), check=False
    )


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRATON_")}
    env.update(extra or {})
    return env


def _pump(stream: object, sink: list[str], lines: queue.Queue[str] | None) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        if lines is not None:
            lines.put(line)


def start_appliance(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Running:
    """Start `craton up --headless` on a free port and return once it says it is ready."""
    process = subprocess.Popen(
        appliance_command("up", "--headless", "--data-dir", str(data_dir), "--http", "127.0.0.1:0", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )
    running = Running(process=process, url="", data_dir=data_dir)
    lines: queue.Queue[str] = queue.Queue()
    running.pumps = [
        threading.Thread(target=_pump, args=(process.stdout, running.stdout, None), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, running.stderr, lines), daemon=True),
    ]
    for pump in running.pumps:
        pump.start()
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("craton: ready at "):
            running.url = line.split()[3]
            return running
    process.kill()
    process.wait()
    running.close_pipes()
    raise AssertionError(f"appliance did not become ready: {''.join(running.stderr)[-2000:]}")


def nats_children(data_dir: Path) -> list[psutil.Process]:
    """nats-server processes serving this data dir."""
    marker = str(data_dir / "nats" / "nats.conf")
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if marker in cmdline:
            found.append(proc)
    return found


def wait_until(condition, timeout_s: float = 30, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return False


def tree_listing(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
