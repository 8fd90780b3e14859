"""Smoke test of the one-file binary, run by `make smoke` (and CI) after `make dist`.

It drives the real `dist/craton` (or the binary named by `CRATON_BINARY`) as a user would: start it
headless on a fresh data dir and a free loopback port, wait for `/readyz`, rename the instance
through the API with the one-time setup token (one event appended), stop it with SIGTERM, start it
again and find the rename and the same event count. It also kills it with SIGKILL and checks that
nothing it started outlives it. Every wait has a generous deadline; no test asserts a duration.

It owns no production code. It must never leave a process running: every process it starts, and
every descendant seen, is killed at teardown whatever happened.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import pty
import secrets
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("CRATON_BINARY", REPO / "dist" / "craton")).resolve()
READY_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.2
LOG_TAIL_CHARS = 3000
TERMINAL_ROWS, TERMINAL_COLUMNS = 40, 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def same_process(pid: int, create_time: float) -> bool:
    """True while the process `pid` started at `create_time` exists (pids are reused)."""
    try:
        return psutil.Process(pid).create_time() == create_time
    except psutil.NoSuchProcess:
        return False


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


class Terminal:
    """A pseudo-terminal for `craton up` with its TUI; everything written to it is kept."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0))
        self.screen = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)

    def _drain(self) -> None:
        # The TUI blocks once the terminal's buffer is full, so it is read all the time.
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen.extend(chunk)

    def text(self) -> str:
        return bytes(self.screen).decode(errors="replace")

    def close(self) -> None:
        os.close(self.master)
        if self.reader.is_alive():
            self.reader.join(timeout=EXIT_TIMEOUT_S)


class Appliance:
    """One run of the binary: `up --headless` on a data dir and port, output kept in files."""

    def __init__(self, data_dir: Path, logs: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"run-{len(list(logs.iterdir()))}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, float] = {}  # every process of this run ever seen: pid -> create time

    def command(self, *, headless: bool) -> list[str]:
        mode = ["--headless"] if headless else []
        return [str(BINARY), "up", *mode, "--data-dir", str(self.data_dir), "--http", f"127.0.0.1:{self.port}"]

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(headless=True), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.remember_tree()

    def start_in(self, terminal: Terminal) -> None:
        """`craton up` with the TUI attached, in `terminal`, as the desktop entry runs it."""
        env = {**os.environ, "TERM": "xterm-256color"}
        self.process = subprocess.Popen(
            self.command(headless=False),
            stdin=terminal.slave,
            stdout=terminal.slave,
            stderr=terminal.slave,
            env=env,
            start_new_session=True,
        )
        os.close(terminal.slave)
        terminal.reader.start()
        self.remember_tree()

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def remember_tree(self) -> list[psutil.Process]:
        """The bootloader and all its descendants now; all are remembered for teardown."""
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for process in tree:
            try:
                self.seen[process.pid] = process.create_time()
            except psutil.NoSuchProcess:
                continue
        return tree

    def nats_servers(self) -> dict[int, float]:
        """pid -> create time of the nats-server processes below this run."""
        found = {}
        for process in self.remember_tree():
            try:
                if process.name() == "nats-server":
                    found[process.pid] = process.create_time()
            except psutil.NoSuchProcess:
                continue
        return found

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"craton exited with {self.process.returncode} before ready:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5.0).status_code == 200:
                    self.remember_tree()
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL_INTERVAL_S)
        pytest.fail(f"/readyz not 200 after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.remember_tree()
        self.process.send_signal(number)

    def wait_exit(self) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"craton still running {EXIT_TIMEOUT_S:.0f} s after the signal:\n{self.log_tail()}")

    def kill_everything(self) -> None:
        """Teardown: SIGKILL whatever this run started that still lives."""
        if self.process is not None and self.process.poll() is None:
            self.remember_tree()
        for pid, create_time in self.seen.items():
            if same_process(pid, create_time):
                try:
                    psutil.Process(pid).kill()
                except psutil.NoSuchProcess:
                    continue
        if self.process is not None:
            try:
                self.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"pid {self.process.pid} survived SIGKILL")


@pytest.fixture
def binary() -> Path:
    if not BINARY.is_file():
        pytest.fail(f"no binary at {BINARY}: run `make dist` first, or set CRATON_BINARY")
    return BINARY


@pytest.fixture
def runs(tmp_path: Path, binary: Path) -> Iterator[list[Appliance]]:
    """Appliances started by a test; all their processes are killed at teardown."""
    started: list[Appliance] = []
    yield started
    for run in started:
        run.kill_everything()


def start(runs: list[Appliance], data_dir: Path, logs: Path) -> Appliance:
    run = Appliance(data_dir, logs, free_port())
    runs.append(run)
    run.start()
    run.wait_ready()
    return run


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)


def platform_events(url: str) -> tuple[str, int]:
    reply = httpx.get(f"{url}/api/v1/instance", timeout=10.0)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    counts = {stream["name"]: stream["events"] for stream in body["streams"]}
    return body["name"], counts["PLATFORM"]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes (other than us) that mention `text`."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline and process.info["pid"] != os.getpid():
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


def processes_running_from(folder: str) -> list[str]:
    """Live processes whose executable lies inside `folder` (the unpacked bundle)."""
    found = []
    for process in psutil.process_iter(["pid", "exe"]):
        exe = process.info["exe"] or ""
        if exe.startswith(folder + os.sep):
            found.append(f"{process.info['pid']}: {exe}")
    return found


def bundle_folder(nats_pid: int) -> str:
    """The unpacked bundle (`/tmp/_MEI…`) is where the running nats-server comes from."""
    return str(Path(psutil.Process(nats_pid).exe()).parent)


def assert_nothing_left(run: Appliance, nats: dict[int, float], bundle: str) -> None:
    def gone() -> bool:
        alive = [pid for pid, created in nats.items() if same_process(pid, created)]
        return not alive and not processes_mentioning(str(run.data_dir)) and not processes_running_from(bundle)

    wait_until(gone, GONE_TIMEOUT_S, "the nats-server and every process of the data dir to exit")


def test_bundle_selfcheck_passes(binary: Path) -> None:
    """The frozen binary imports every bundled module, resolves the TUI frontend entry point, and
    carries an executable nats-server whose SHA-256 matches the bundled manifest."""
    done = run_command("--bundle-selfcheck")
    report = json.loads(done.stdout or "{}")
    assert done.returncode == 0, f"{report.get('problems')} {done.stderr[-LOG_TAIL_CHARS:]}"
    assert report["ok"] is True
    assert report["checked"]["modules"] > 0
    assert "tui" in report["checked"]["frontends"]


def test_version_and_help_answer(binary: Path) -> None:
    """`craton --version` names the packaged version and `craton --help` lists the `up` command."""
    version = run_command("--version")
    assert version.returncode == 0, version.stderr
    assert importlib.metadata.version("craton-appliance") in version.stdout
    helped = run_command("--help")
    assert helped.returncode == 0, helped.stderr
    assert " up " in helped.stdout


def test_rename_survives_sigterm_and_restart(tmp_path: Path, runs: list[Appliance]) -> None:
    """An event appended through the API (instance rename with the setup token) is there after a
    SIGTERM stop (exit 0, no nats-server left) and a restart, with the event count unchanged."""
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    first = start(runs, data_dir, logs)
    _, events_before = platform_events(first.url)
    token_run = run_command("admin", "setup-token", "--data-dir", str(data_dir))
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1].strip()
    new_name = f"smoke-{secrets.token_hex(4)}"
    renamed = httpx.patch(
        f"{first.url}/api/v1/instance",
        json={"name": new_name},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    assert renamed.status_code == 200, renamed.text
    name, events_after = platform_events(first.url)
    assert name == new_name
    assert events_after > events_before, "the rename appended no event to PLATFORM"

    nats = first.nats_servers()
    assert nats, f"no nats-server below the binary:\n{first.log_tail()}"
    bundle = bundle_folder(next(iter(nats)))
    first.signal(signal.SIGTERM)
    assert first.wait_exit() == 0, first.log_tail()
    assert_nothing_left(first, nats, bundle)

    second = start(runs, data_dir, logs)
    assert platform_events(second.url) == (new_name, events_after)
    second.signal(signal.SIGTERM)
    assert second.wait_exit() == 0, second.log_tail()


def test_sigkill_of_the_binary_leaves_nothing_behind(tmp_path: Path, runs: list[Appliance]) -> None:
    """SIGKILL of the binary (the one-file bootloader, the pid a shell or systemd sees) ends the
    appliance, its nats-server and every process of the data dir, and the unpacked bundle folder
    is deleted."""
    run = start(runs, tmp_path / "data", tmp_path / "logs")
    nats = run.nats_servers()
    assert nats, f"no nats-server below the binary:\n{run.log_tail()}"
    bundle = bundle_folder(next(iter(nats)))
    run.signal(signal.SIGKILL)
    run.wait_exit()
    assert_nothing_left(run, nats, bundle)
    wait_until(lambda: not Path(bundle).exists(), GONE_TIMEOUT_S, f"{bundle} to be deleted")


def test_sigkill_of_the_appliance_process_leaves_no_nats_server(tmp_path: Path, runs: list[Appliance]) -> None:
    """SIGKILL of the appliance itself (the bootloader's child) takes its nats-server with it,
    and the bootloader then exits too."""
    run = start(runs, tmp_path / "data", tmp_path / "logs")
    nats = run.nats_servers()
    assert nats, f"no nats-server below the binary:\n{run.log_tail()}"
    bundle = bundle_folder(next(iter(nats)))
    assert run.process is not None
    inner = [child for child in psutil.Process(run.process.pid).children() if child.name() != "nats-server"]
    assert len(inner) == 1, f"expected one appliance process below the bootloader, found {inner}"
    inner[0].kill()
    run.wait_exit()
    assert_nothing_left(run, nats, bundle)


def test_tui_attaches_in_a_terminal_and_q_stops_everything(tmp_path: Path, runs: list[Appliance]) -> None:
    """`craton up` in a terminal loads the TUI through the bundled `craton.frontends` entry point,
    shows the instance's address and its PLATFORM stream, and `q` stops the appliance with exit
    0 and no nats-server left."""
    run = Appliance(tmp_path / "data", tmp_path / "logs", free_port())
    runs.append(run)
    terminal = Terminal()
    try:
        run.start_in(terminal)
        run.wait_ready()
        address = f"127.0.0.1:{run.port}"
        wait_until(lambda: address in terminal.text() and "PLATFORM" in terminal.text(), READY_TIMEOUT_S, "the TUI")
        nats = run.nats_servers()
        assert nats, "no nats-server below the binary"
        bundle = bundle_folder(next(iter(nats)))
        os.write(terminal.master, b"q")
        assert run.wait_exit() == 0, terminal.text()[-LOG_TAIL_CHARS:]
        assert_nothing_left(run, nats, bundle)
    finally:
        terminal.close()
