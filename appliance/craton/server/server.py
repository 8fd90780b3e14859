"""One replica's client-facing server: the TCP protocol port and the HTTP side port.

This module owns start-up (binding, TLS, the loopback rule), the engine executor, and the clean
drain: stop accepting, answer what is in flight, close every connection, then stop the executor.
It must never close the engine (its owner does, after `drain`), never listen off loopback
without TLS, and never put the plain-HTTP side port off loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from appliance.craton.server.auth import Authenticator
from appliance.craton.server.connection import ClientConnection
from appliance.craton.server.engine_port import EnginePort
from appliance.craton.server.http import DISK_FREE_BYTES_MIN, Readiness, SidePort, check_readiness
from appliance.craton.server.limits import ServerLimits
from appliance.craton.server.metrics import ServerMetrics
from appliance.craton.server.shared import ServerShared

ENGINE_THREADS_DEFAULT: Final = 4
_log = logging.getLogger("craton.server")


class ServerConfigError(Exception):
    """The server cannot start as configured (for example: off loopback without TLS)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert_path, key_path)
    return context


class ReplicaServer:
    def __init__(
        self,
        engine: EnginePort,
        authenticator: Authenticator,
        *,
        journal_dir: Path,
        limits: ServerLimits | None = None,
        tls: ssl.SSLContext | None = None,
        engine_threads: int = ENGINE_THREADS_DEFAULT,
        disk_free_bytes_min: int = DISK_FREE_BYTES_MIN,
    ) -> None:
        self.metrics = ServerMetrics()
        self._executor = ThreadPoolExecutor(max_workers=engine_threads, thread_name_prefix="craton-engine")
        self._shared = ServerShared(
            engine=engine,
            authenticator=authenticator,
            limits=limits or ServerLimits(),
            metrics=self.metrics,
            executor=self._executor,
        )
        self._engine = engine
        self._journal_dir = journal_dir
        self._disk_free_bytes_min = disk_free_bytes_min
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._side: SidePort | None = None
        self.address: tuple[str, int] | None = None
        self.http_address: tuple[str, int] | None = None

    async def start(self, host: str, port: int, *, http_host: str | None = None, http_port: int | None = None) -> None:
        if not is_loopback(host) and self._tls is None:
            raise ServerConfigError(f"refusing to listen on {host} without TLS: give a certificate and key")
        if http_host is not None and not is_loopback(http_host):
            # The side port is plain HTTP; off loopback it would expose metrics unencrypted.
            raise ServerConfigError(
                f"the HTTP side port serves plain HTTP: it listens on loopback only, not {http_host}"
            )
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientConnection(self._shared), host, port, ssl=self._tls, reuse_address=True
        )
        # asyncio already sets TCP_NODELAY on every accepted connection, so small replies leave at once.
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        if http_host is not None and http_port is not None:
            self._side = SidePort(
                metrics=self.metrics,
                status=self._status,
                readiness=self._readiness,
                run_blocking=self._blocking,
            )
            self.http_address = await self._side.start(http_host, http_port)

    def _blocking(self, call: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _status(self) -> Mapping[str, Any]:
        """The engine's status for /metrics; a failing engine still leaves the server's own metrics."""
        try:
            return self._engine.status()
        except Exception:
            _log.exception("engine status failed while serving /metrics")
            return {}

    def _readiness(self) -> Readiness:
        if self._shared.draining:
            return Readiness(False, {"draining": False}, {"draining": "replica is shutting down"})
        try:
            status = self._engine.status()
        except Exception as error:
            # Not ready is the honest answer when the engine cannot even report its state.
            return Readiness(False, {"engine_status": False}, {"engine_status": f"{type(error).__name__}: {error}"})
        return check_readiness(status, self._journal_dir, disk_free_bytes_min=self._disk_free_bytes_min)

    @property
    def connection_count(self) -> int:
        return len(self._shared.connections)

    async def drain(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), close everything."""
        self._shared.draining = True
        if self._server is not None:
            self._server.close()
        connections = list(self._shared.connections)
        for connection in connections:
            connection.begin_drain()
        waiting = [connection.closed for connection in connections]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=self._shared.limits.drain_timeout_s)
            for connection in connections:
                if connection.closed in late:
                    connection.abort()
        if self._server is not None:
            await self._server.wait_closed()
        if self._side is not None:
            await self._side.stop()
        # Queued audit writes finish before the owner closes the engine.
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
