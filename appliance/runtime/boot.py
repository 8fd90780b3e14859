"""The composition root: boot and shutdown order of the whole appliance.

Start: preflight (no writes) → data dir and lock → logging → NATS (embedded supervisor or
`--nats-url`) → event and session stores → read model and projector → instance record (first
start: setup token) → HTTP server. Stop: the same in reverse. Any failure during start undoes
what was started and surfaces as one `CratonError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from appliance import __version__
from appliance.api.app import create_app
from appliance.api.metrics import Metrics
from appliance.api.services import NatsStatus, Services
from appliance.eventstore import binary
from appliance.eventstore.jetstream import JetStreamEventStore, connect
from appliance.eventstore.kv import KvOneTimeStore, KvSessionStore
from appliance.eventstore.port import PLATFORM_STREAM
from appliance.eventstore.supervisor import NatsSupervisor, port_is_free
from appliance.eventstore.timed import TimedEventStore
from appliance.identity.services import create_identity_services
from appliance.instance.service import ensure_initialised, setup_token_path, setup_user_registered
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError
from appliance.readmodel.db import connect as connect_db
from appliance.readmodel.db import migrate
from appliance.readmodel.projector import ProjectorRunner
from appliance.runtime import logs
from appliance.runtime.config import Config
from appliance.runtime.modules import projections, route_handlers
from appliance.runtime.preflight import bind_http, check_data_dir
from appliance.runtime.system import SystemClock, Uuid7Ids

log = logging.getLogger("appliance.runtime")

READMODEL_FILE = "readmodel.sqlite3"
Frontend = Callable[[str], Coroutine[Any, Any, None]]
LOCK_FILE = "craton.lock"


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the appliance decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def preflight(config: Config) -> Path | None:
    """Everything that can be checked without writing; returns the verified nats binary (if embedded)."""
    check_data_dir(config.data_dir)
    nats_binary = binary.verified_binary(config.nats_binary) if config.nats_url is None else None
    if config.nats_url is None and config.nats_port and not port_is_free(config.nats_port):
        raise ConfigError(f"NATS port 127.0.0.1:{config.nats_port} is already in use")
    return nats_binary


def take_lock(data_dir: Path) -> IO[str]:
    handle = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"another appliance is already running on {data_dir}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Appliance:
    def __init__(self, config: Config, *, log_to_stderr: bool = True, clock: Clock | None = None) -> None:
        self.config = config
        # Tests inject a clock they can move (idle and absolute session timeouts); the NATS
        # supervisor keeps the real one, since it times real processes.
        self._clock = clock
        self._log_to_stderr = log_to_stderr
        self._undo: list[Callable[[], Awaitable[None]]] = []
        self._stopped = asyncio.Event()
        self.services: Services | None = None
        self.supervisor: NatsSupervisor | None = None
        self.setup_token: str | None = None
        self.url = ""

    async def start(self) -> None:
        nats_binary = preflight(self.config)
        sock = bind_http(self.config.http_host, self.config.http_port)
        try:
            await self._start(nats_binary, sock)
        except BaseException:
            sock.close()
            await self.stop()
            raise

    async def _start(self, nats_binary: Path | None, sock: Any) -> None:
        data_dir = self.config.data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = take_lock(data_dir)
        self._undo.append(_async(lock.close))
        buffer = logs.configure(level=self.config.log_level, log_dir=data_dir / "logs", to_stderr=self._log_to_stderr)
        self._undo.append(_async(logs.close_handlers))
        system_clock, ids = SystemClock(), Uuid7Ids()
        clock: Clock = self._clock or system_clock
        started_at = clock.now()
        nats_status, client = await self._start_nats(nats_binary, system_clock)
        metrics = Metrics()
        jetstream = JetStreamEventStore(client)
        store = TimedEventStore(jetstream, metrics.append_seconds.observe)
        db = connect_db(data_dir / READMODEL_FILE)
        self._undo.append(_async(db.close))
        migrate(db)
        await store.ensure_stream(PLATFORM_STREAM)  # before the projector lists streams
        projector = ProjectorRunner(store, db, projections(), clock)
        await projector.start()
        self._undo.append(projector.stop)
        instance, self.setup_token = await ensure_initialised(
            store, data_dir=data_dir, name=self.config.instance_name, ids=ids, clock=clock
        )
        sessions = KvSessionStore(client, clock)
        await sessions.start_mirror()
        self._undo.append(sessions.close)
        identity = create_identity_services(
            data_dir,
            clock,
            self.config.identity,
            issuer=f"craton:{instance.instance_id}",
            pending=KvOneTimeStore(client),
            db=db,
        )
        self._undo.append(identity.aclose)
        if instance.setup_spent and await setup_user_registered(store, instance):
            setup_token_path(data_dir).unlink(missing_ok=True)  # a spent token must not linger on disk
        host, port = sock.getsockname()[:2]
        scheme = "https" if self.config.tls_cert else "http"
        self.url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
        self.services = Services(
            version=__version__,
            data_dir=data_dir,
            started_at=started_at,
            http_address=self.url,
            clock=clock,
            ids=ids,
            store=store,
            sessions=sessions,
            db=db,
            projector=projector,
            metrics=metrics,
            nats=nats_status,
            probe_writable=jetstream.probe_writable,
            logs=buffer,
            identity=identity,
            projection_lag_threshold=self.config.projection_lag_threshold,
        )
        metrics.attach_live(projector.lag_by_stream, nats_status.restarts, projector.failed_events)
        await self._start_http(sock)
        log.info("appliance ready", extra={"url": self.url, "data_dir": str(data_dir)})

    async def _start_nats(self, nats_binary: Path | None, clock: SystemClock) -> tuple[NatsStatus, Any]:
        if self.config.nats_url is not None:
            client = await connect(self.config.nats_url, user=None, password=None)
            self._undo.append(client.close)
            status = NatsStatus(
                mode="external",
                state=lambda: "external" if client.is_connected else "disconnected",
                restarts=lambda: 0,
                url=redact_url(self.config.nats_url),
                pid=lambda: None,
                connected=lambda: bool(client.is_connected),
            )
            return status, client
        assert nats_binary is not None
        supervisor = NatsSupervisor(
            data_dir=self.config.data_dir, binary=nats_binary, clock=clock, port=self.config.nats_port
        )
        self.supervisor = supervisor
        await supervisor.start()
        self._undo.append(supervisor.stop)
        client = await connect(supervisor.url, user=supervisor.user, password=supervisor.password)
        self._undo.append(client.close)
        status = NatsStatus(
            mode="embedded",
            state=lambda: supervisor.state.value,
            restarts=lambda: supervisor.restarts,
            url=supervisor.url,
            pid=lambda: supervisor.pid,
            connected=lambda: bool(client.is_connected),
        )
        return status, client

    async def _start_http(self, sock: Any) -> None:
        assert self.services is not None
        app = create_app(self.services, route_handlers())
        # Accepted connections inherit this: without it a response written as headers then body
        # waits for the client's delayed ACK (about 40 ms on Linux) on every keep-alive request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls: dict[str, Any] = {}
        if self.config.tls_cert and self.config.tls_key:
            tls = {"ssl_certfile": str(self.config.tls_cert), "ssl_keyfile": str(self.config.tls_key)}
        server = _QuietServer(
            uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False, **tls)
        )
        task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        while not server.started:
            if task.done():
                task.result()
                raise ConfigError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.005)

        async def stop_http() -> None:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._undo.append(stop_http)

    async def stop(self) -> None:
        """Undo every started step in reverse order; safe to call more than once."""
        while self._undo:
            step = self._undo.pop()
            try:
                await step()
            except Exception:
                log.exception("error during shutdown")
        self._stopped.set()


def redact_url(url: str) -> str:
    """The URL without any user or password, for display."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _async(function: Callable[[], object]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        function()

    return call


def print_setup_token(token: str, url: str, out: IO[str] = sys.stdout) -> None:
    """Shown once, on the first start. `craton admin setup-token` reads it again later."""
    out.write(
        "\n  First start: this instance has no owner yet.\n"
        f"  One-time setup token: {token}\n"
        f"  Use it to create the first owner at {url} (see README, 'First owner').\n"
        "  It is also readable later with `craton admin setup-token`.\n\n"
    )
    out.flush()


async def run(config: Config, *, frontend: Frontend | None, signals: Sequence[int]) -> int:
    """Start, then wait for a stop signal or for the frontend to return; always stop cleanly."""
    import signal as signal_module

    appliance = Appliance(config, log_to_stderr=frontend is None)
    await appliance.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in signals:
        loop.add_signal_handler(signal_module.Signals(number), stop.set)
    try:
        if appliance.setup_token:
            print_setup_token(appliance.setup_token, appliance.url)
        if frontend is None:
            sys.stderr.write(f"craton: ready at {appliance.url} (data dir {config.data_dir})\n")
            await stop.wait()
        else:
            front = asyncio.create_task(frontend(appliance.url))
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({front, waiter}, return_when=asyncio.FIRST_COMPLETED)
            for task in (front, waiter):
                task.cancel()
    finally:
        await appliance.stop()
    return 0
