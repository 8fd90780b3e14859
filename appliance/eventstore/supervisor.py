"""Supervisor of the embedded nats-server child process.

It writes the server's configuration (loopback only, JetStream file store in the data dir with
`sync_interval: always`, client credentials generated on first start and kept 0600, monitoring on
loopback), starts the verified binary, waits until the server really accepts JetStream work,
restarts it with backoff within a bounded budget when it dies, and stops it on exit. The child is
started with PR_SET_PDEATHSIG so the kernel kills it if the appliance dies, even by SIGKILL.

It must never expose NATS off loopback, and never run a binary that failed its checksum.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import json
import logging
import os
import secrets
import signal
import socket
from collections import deque
from pathlib import Path

from appliance.files import write_secret
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, Unavailable

log = logging.getLogger("appliance.nats")

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
RESTART_BUDGET_MAX = 5
RESTART_WINDOW_S = 60.0
RESTART_BACKOFF_S_MIN = 0.1
RESTART_BACKOFF_S_MAX = 5.0
NATS_USER = "craton"
_PR_SET_PDEATHSIG = 1


class NatsState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask the kernel to SIGKILL us when the parent dies."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def load_or_create_credentials(secrets_dir: Path) -> tuple[str, str]:
    """The NATS client password, generated once and stored 0600 in a 0700 folder."""
    path = secrets_dir / "nats.json"
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
        try:
            data = json.loads(path.read_text())
            return str(data["user"]), str(data["password"])
        except (ValueError, KeyError):
            raise ConfigError(f"{path} is corrupt; delete it to generate new NATS credentials") from None
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    write_secret(path, json.dumps({"user": NATS_USER, "password": password}).encode())
    return NATS_USER, password


def _read_ports(path: Path) -> tuple[int, int] | None:
    """The client and monitoring ports from the server's ports file; None until it is complete
    (the server may have created the file but not finished writing it)."""
    try:
        ports = json.loads(path.read_text())
        return int(ports["nats"][0].rsplit(":", 1)[1]), int(ports["monitoring"][0].rsplit(":", 1)[1])
    except (FileNotFoundError, ValueError, KeyError, IndexError, TypeError):
        return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def render_config(*, store_dir: Path, ports_dir: Path, port: int, monitor_port: int, user: str, password: str) -> str:
    """nats-server configuration; `-1` ports let the server pick and report them in the ports file."""
    return "\n".join(
        [
            'server_name: "craton"',
            'host: "127.0.0.1"',
            f"port: {port or -1}",
            f'http: "127.0.0.1:{monitor_port or -1}"',
            f"ports_file_dir: {json.dumps(str(ports_dir))}",
            "max_payload: 1MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(store_dir))}",
            '  sync_interval: "always"',
            "}",
            "authorization {",
            f"  user: {json.dumps(user)}",
            f"  password: {json.dumps(password)}",
            "}",
            "",
        ]
    )


class NatsSupervisor:
    def __init__(self, *, data_dir: Path, binary: Path, clock: Clock, port: int = 0) -> None:
        self._dir = data_dir / "nats"
        self._secrets = data_dir / "secrets"
        self._log_path = data_dir / "logs" / "nats.log"
        self._binary = binary
        self._clock = clock
        self._port = port
        self._monitor_port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._restart_times: deque[float] = deque()
        self.state = NatsState.STOPPED
        self.restarts = 0
        self.user, self.password = "", ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.returncode is None else None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self._port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self._monitor_port}"

    async def start(self) -> None:
        """Start the server and return once JetStream answers; `ConfigError` if it cannot start."""
        if self._port and not port_is_free(self._port):
            raise ConfigError(f"NATS port 127.0.0.1:{self._port} is already in use")
        self.user, self.password = load_or_create_credentials(self._secrets)
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state = NatsState.STARTING
        await self._spawn_and_wait()
        self.state = NatsState.RUNNING
        self._watch = asyncio.create_task(self._watch_loop(), name="nats-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._terminate()
        self.state = NatsState.STOPPED

    async def _spawn_and_wait(self) -> None:
        config_path = self._dir / "nats.conf"
        config_path.write_text(
            render_config(
                store_dir=self._dir / "jetstream",
                ports_dir=self._dir,
                port=self._port,
                monitor_port=self._monitor_port,
                user=self.user,
                password=self.password,
            )
        )
        config_path.chmod(0o600)  # it holds the client password
        for stale in self._dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        with self._log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                str(self._binary),
                "-c",
                str(config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                # Its own session: a ctrl-C in the terminal must reach the appliance, which then
                # stops the server in order, not the server directly.
                start_new_session=True,
            )
        try:
            await asyncio.wait_for(self._wait_ready(self._process), READY_TIMEOUT_S)
        except TimeoutError:
            await self._terminate()
            raise Unavailable(f"nats-server did not become ready within {READY_TIMEOUT_S:.0f} s") from None
        log.info("nats-server ready", extra={"pid": self._process.pid, "url": self.url})

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        ports_file = self._dir / f"{self._binary.name}_{process.pid}.ports"
        while (ports := _read_ports(ports_file)) is None:
            await self._check_alive(process)
            await asyncio.sleep(0.005)
        self._port, self._monitor_port = ports
        while not await self._jetstream_healthy():
            await self._check_alive(process)
            await asyncio.sleep(0.01)

    async def _check_alive(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            raise ConfigError(f"nats-server exited with code {process.returncode}: {self._last_log_line()}")

    async def _jetstream_healthy(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self._monitor_port)
        except OSError:
            return False
        try:
            writer.write(b"GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status_line = await reader.readline()
            return b" 200 " in status_line
        except OSError:
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _last_log_line(self) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "no log"
        errors = [line for line in lines[-20:] if "[FTL]" in line or "[ERR]" in line]
        return (errors or lines or ["no log"])[-1]

    async def _watch_loop(self) -> None:
        while not self._stopping:
            process = self._process
            if process is None:
                return
            code = await process.wait()
            if self._stop_requested():
                return
            log.error("nats-server exited unexpectedly", extra={"code": code, "detail": self._last_log_line()})
            if not await self._restart_within_budget():
                return

    def _stop_requested(self) -> bool:
        return self._stopping  # stop() may have been called while we awaited the process

    async def _restart_within_budget(self) -> bool:
        now = self._clock.monotonic()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > RESTART_WINDOW_S:
            self._restart_times.popleft()
        if len(self._restart_times) > RESTART_BUDGET_MAX:
            self.state = NatsState.FAILED
            log.critical("nats-server restart budget exhausted; giving up", extra={"restarts": self.restarts})
            return False
        self.state = NatsState.RESTARTING
        self.restarts += 1
        attempt = len(self._restart_times) - 1
        await asyncio.sleep(min(RESTART_BACKOFF_S_MAX, RESTART_BACKOFF_S_MIN * 2**attempt))
        try:
            await self._spawn_and_wait()
        except (ConfigError, Unavailable) as error:
            log.error("nats-server restart failed", extra={"detail": str(error)})
            return True  # the loop waits on the dead process and spends another unit of budget
        self.state = NatsState.RUNNING
        return True

    async def _terminate(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
