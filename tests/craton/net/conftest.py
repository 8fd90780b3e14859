"""Fixtures of the NET tests: keys and tokens, a raw protocol connection, servers on port 0.

`EngineDouble` stands in for the engine ONLY in wire-level tests (framing, auth, limits,
pipelining), where the engine's behaviour is not what is being proven; every test of operations,
isolation, HTTP readiness and crashes runs the real `appliance.craton.engine.Engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.server import Authenticator, ReplicaServer, ServerLimits, issue_token
from appliance.craton.wire.frame import FRAME_HEADER_BYTES, encode_frame, parse_header
from appliance.craton.wire.messages import (
    PROTOCOL_VERSION,
    Handshake,
    Request,
    RequestBody,
    Response,
    decode_response,
    encode_message,
)


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def token_for(signing_key: Ed25519PrivateKey) -> Callable[..., str]:
    def make(tenant_id: int, *, subject: str = "tester", ttl_s: float = 600.0) -> str:
        return issue_token(signing_key, tenant_id=tenant_id, subject=subject, ttl_s=ttl_s)

    return make


class EngineDouble:
    """Wire-level stand-in: answers instantly, except SQL starting with 'SLOW' (0.3 s)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.audit: list[tuple[int, str, bool, str]] = []
        self.lock = threading.Lock()
        self.huge_result = False

    def _note(self, name: str, tenant: int) -> None:
        with self.lock:
            self.calls.append((name, tenant))

    def create_stream(self, tenant: int, name: str) -> int:
        self._note("create_stream", tenant)
        return (tenant << 32) | 1

    def append(self, tenant: int, stream: int, events: list[bytes], expected: int | None) -> int:
        self._note("append", tenant)
        return 0

    def read_events(self, tenant: int, stream: int, from_offset: int, max_bytes: int) -> tuple[list[bytes], None]:
        self._note("read_events", tenant)
        return [], None

    def query(self, tenant: int, sql: str, params: list[Any]) -> Any:
        self._note("query", tenant)
        if sql.startswith("SLOW"):
            time.sleep(0.3)
        if self.huge_result:
            return SimpleNamespace(columns=["blob"], rows=[[bytes(17 * 1024 * 1024)]])
        return SimpleNamespace(columns=["sql"], rows=[[sql]])

    def query_at(self, tenant: int, sql: str, params: list[Any], offset: int) -> Any:
        return self.query(tenant, sql, params)

    def execute(self, tenant: int, sql: str, params: list[Any]) -> Any:
        self._note("execute", tenant)
        if sql.startswith("SLOW"):
            time.sleep(0.3)
        return SimpleNamespace(rows_affected=1, offset=0)

    def verify_chain(self, tenant: int, stream: int) -> Any:
        return SimpleNamespace(ok=True, records_checked=0, first_bad_offset=None, reason=None)

    def sync(self) -> None:
        self._note("sync", 0)

    def status(self) -> dict[str, Any]:
        return {"projections_caught_up": True}

    def audit_auth(self, tenant: int, subject: str, ok: bool, reason: str) -> None:
        with self.lock:
            self.audit.append((tenant, subject, ok, reason))

    def close(self) -> None:
        pass


@contextlib.asynccontextmanager
async def running_server(
    engine: Any,
    signing_key: Ed25519PrivateKey,
    journal_dir: Path,
    *,
    limits: ServerLimits | None = None,
    authenticator: Authenticator | None = None,
    http: bool = False,
) -> AsyncIterator[ReplicaServer]:
    auth = authenticator or Authenticator(public_keys=[signing_key.public_key()], api_keys=[])
    server = ReplicaServer(engine, auth, journal_dir=journal_dir, limits=limits)
    await server.start("127.0.0.1", 0, http_host="127.0.0.1" if http else None, http_port=0 if http else None)
    try:
        yield server
    finally:
        await server.drain()


class RawConnection:
    """A protocol connection with no client logic: send whatever bytes, read frames as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._ids = 0

    @classmethod
    async def open(cls, server: ReplicaServer) -> RawConnection:
        assert server.address is not None
        return await cls.open_address(*server.address)

    @classmethod
    async def open_address(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def frame(
        self,
        body: RequestBody,
        *,
        tenant_id: int = 1,
        token: str | None = None,
        request_id: int | None = None,
    ) -> bytes:
        if request_id is None:
            self._ids += 1
            request_id = self._ids
        return encode_frame(encode_message(Request(request_id, tenant_id, body, token)))

    async def send(self, body: RequestBody, **kwargs: Any) -> None:
        await self.send_raw(self.frame(body, **kwargs))

    async def receive(self, timeout_s: float = 10.0) -> Response:
        header = await asyncio.wait_for(self.reader.readexactly(FRAME_HEADER_BYTES), timeout_s)
        length, _ = parse_header(header)
        return decode_response(await asyncio.wait_for(self.reader.readexactly(length), timeout_s))

    async def call(self, body: RequestBody, **kwargs: Any) -> Response:
        await self.send(body, **kwargs)
        return await self.receive()

    async def handshake(self, token: str) -> Response:
        return await self.call(Handshake(PROTOCOL_VERSION, token))

    async def at_eof(self, timeout_s: float = 10.0) -> bool:
        """True when the server closed the connection (after any frames still in flight)."""
        data = await asyncio.wait_for(self.reader.read(), timeout_s)
        return data == b"" or self.reader.at_eof()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def engine_server(
    data_dir: Path,
    signing_key: Ed25519PrivateKey,
    *,
    limits: ServerLimits | None = None,
    disk_free_bytes_min: int | None = None,
) -> AsyncIterator[tuple[ReplicaServer, Any]]:
    """The REAL engine behind a real server on 127.0.0.1:0 (with the HTTP side port)."""
    from appliance.craton.engine import Engine

    engine = Engine.open(data_dir)
    auth = Authenticator(public_keys=[signing_key.public_key()], api_keys=[])
    extra = {} if disk_free_bytes_min is None else {"disk_free_bytes_min": disk_free_bytes_min}
    server = ReplicaServer(engine, auth, journal_dir=data_dir, limits=limits, **extra)
    await server.start("127.0.0.1", 0, http_host="127.0.0.1", http_port=0)
    try:
        yield server, engine
    finally:
        await server.drain()
        engine.close()


def address_of(server: ReplicaServer) -> str:
    assert server.address is not None
    return f"{server.address[0]}:{server.address[1]}"
