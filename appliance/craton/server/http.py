"""The replica's HTTP side port: `/livez`, `/readyz` and `/metrics`.

This module owns a deliberately tiny HTTP/1.1 responder for three GET routes (one request per
connection, `Connection: close`). It must never serve anything else, never block the event loop
(readiness probes touch the disk, so they run on the executor), and never trust the request: the
head is bounded in bytes and in time.

Readiness means: the journal directory accepts a write and an fsync, the disk has at least
`DISK_FREE_BYTES_MIN` free, and the projections have applied everything the log holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from appliance.craton.server.metrics import ServerMetrics

HEAD_BYTES_MAX: Final = 8 * 1024
HEAD_TIMEOUT_S: Final = 5.0
DISK_FREE_BYTES_MIN: Final = 256 * 1024 * 1024
_PROBE_NAME: Final = ".readyz-probe"
_log = logging.getLogger("craton.server")


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    checks: dict[str, bool]
    detail: dict[str, str]


def check_readiness(status: Mapping[str, Any], journal_dir: Path, *, disk_free_bytes_min: int) -> Readiness:
    """Blocking: writes and fsyncs a probe file. Run it on a worker thread."""
    checks: dict[str, bool] = {}
    detail: dict[str, str] = {}
    try:
        probe = journal_dir / _PROBE_NAME
        with probe.open("wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
        # The engine stops accepting writes after a failed journal write; that counts as not writable.
        checks["journal_writable"] = bool(status.get("journal_writable", True))
        if not checks["journal_writable"]:
            detail["journal_writable"] = f"engine fault: {status.get('fault')}"
    except OSError as error:
        checks["journal_writable"] = False
        detail["journal_writable"] = str(error)
    free = shutil.disk_usage(journal_dir).free if journal_dir.exists() else 0
    checks["disk_free"] = free >= disk_free_bytes_min
    detail["disk_free"] = f"{free} bytes free, {disk_free_bytes_min} required"
    caught_up = bool(status.get("projections_caught_up", False))
    checks["projections_caught_up"] = caught_up
    if not caught_up:
        detail["projections_caught_up"] = f"applied {status.get('applied_position')} of {status.get('log_position')}"
    return Readiness(all(checks.values()), checks, detail)


class SidePort:
    """Serves the three routes; `status` and `readiness` are blocking callables run off-loop."""

    def __init__(
        self,
        *,
        metrics: ServerMetrics,
        status: Callable[[], Mapping[str, Any]],
        readiness: Callable[[], Readiness],
        run_blocking: Callable[[Callable[[], Any]], asyncio.Future[Any]],
    ) -> None:
        self._metrics = metrics
        self._status = status
        self._readiness = readiness
        self._run_blocking = run_blocking
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port, limit=HEAD_BYTES_MAX)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                status, content_type, body = await self._respond(reader)
            except (TimeoutError, ConnectionError):
                raise
            except Exception:
                # A probe must always get an answer; the details go to the replica's log.
                _log.exception("side port request failed")
                status, content_type, body = "500 Internal Server Error", "text/plain", b"internal error\n"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            return "400 Bad Request", "text/plain", b"bad request\n"
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return "400 Bad Request", "text/plain", b"bad request line\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method != b"GET":
            return "405 Method Not Allowed", "text/plain", b"only GET is served here\n"
        return await self._route(target)

    async def _route(self, target: bytes) -> tuple[str, str, bytes]:
        if target == b"/livez":
            return "200 OK", "application/json", b'{"live":true}'
        if target == b"/readyz":
            readiness: Readiness = await self._run_blocking(self._readiness)
            status = "200 OK" if readiness.ready else "503 Service Unavailable"
            return status, "application/json", msgspec.json.encode(readiness)
        if target == b"/metrics":
            engine_status = await self._run_blocking(self._status)
            return "200 OK", "text/plain; version=0.0.4; charset=utf-8", self._metrics.render(engine_status)
        return "404 Not Found", "text/plain", b"not found: try /livez, /readyz or /metrics\n"
