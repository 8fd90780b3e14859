"""The asyncio Craton client: one connection, many requests in flight, matched by id.

This module owns the async transport: a reader task that routes each response to the future of
its request id, reconnection (one at a time, shared by every caller), and the same retry
decisions as the blocking client (`policy`). It must never resend a write whose outcome is
unknown, and never leave a caller waiting on a connection that is gone: when the reader stops,
every pending future fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from appliance.craton.client.policy import (
    CONNECT_TIMEOUT_S_DEFAULT,
    REQUEST_TIMEOUT_S_DEFAULT,
    Attempts,
    RetryPolicy,
    ServerError,
    is_write,
    parse_address,
    unexpected,
)
from appliance.craton.wire.frame import (
    FRAME_HEADER_BYTES,
    FrameError,
    check_payload,
    encode_frame,
    parse_header,
)
from appliance.craton.wire.messages import (
    PROTOCOL_VERSION,
    READ_BYTES_MAX,
    AppendEvents,
    ChainVerified,
    CreateStream,
    ErrorReply,
    EventsAppended,
    EventsRead,
    Execute,
    Executed,
    Handshake,
    HandshakeOk,
    MessageError,
    Query,
    QueryAt,
    QueryRows,
    ReadEvents,
    Request,
    RequestBody,
    ResponseBody,
    StreamCreated,
    Sync,
    Synced,
    VerifyChain,
    decode_response,
    encode_message,
)

T = TypeVar("T")


class _Lost(Exception):
    pass


class _Connection:
    """One live connection and its reader task."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: dict[int, asyncio.Future[ResponseBody]] = {}
        self.task = asyncio.create_task(self._read_loop(reader))
        self.lost_reason: str | None = None
        self._outgoing: list[bytes] = []

    def send(self, frame: bytes) -> None:
        """Queue a frame; every frame queued in the same loop turn leaves in one write.

        On loopback a send costs tens of microseconds of kernel time, so many pipelined requests
        sharing one syscall is most of the difference between a slow and a fast client.
        """
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(frame)

    def _flush(self) -> None:
        frames, self._outgoing = self._outgoing, []
        if frames and not self.writer.is_closing():
            self.writer.write(b"".join(frames))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                length, crc = parse_header(await reader.readexactly(FRAME_HEADER_BYTES))
                response = decode_response(check_payload(await reader.readexactly(length), crc))
                future = self.pending.pop(response.request_id, None)
                if future is not None and not future.done():
                    future.set_result(response.body)
                elif response.request_id == 0 and isinstance(response.body, ErrorReply):
                    self.lost_reason = f"server closed the connection: {response.body.message}"
        except (OSError, asyncio.IncompleteReadError, FrameError, MessageError) as error:
            self.lost_reason = self.lost_reason or f"connection lost: {error}"
        finally:
            self.lost_reason = self.lost_reason or "connection closed"
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(_Lost(self.lost_reason))
            self.pending.clear()

    @property
    def alive(self) -> bool:
        return not self.task.done()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class AsyncClient:
    def __init__(
        self,
        addresses: str | Sequence[str],
        *,
        token: str,
        tenant_id: int | None = None,
        policy: RetryPolicy | None = None,
        tls: ssl.SSLContext | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S_DEFAULT,
        request_timeout_s: float = REQUEST_TIMEOUT_S_DEFAULT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        for address in self._addresses:
            parse_address(address)
        self._token = token
        self._tenant_id = tenant_id
        self._policy = policy or RetryPolicy()
        self._tls = tls
        self._connect_timeout_s = connect_timeout_s
        self._request_timeout_s = request_timeout_s
        self._sleep = sleep
        self._current = 0
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._ids = itertools.count(1)
        self.subject: str | None = None

    # ----- operations -----

    @property
    def tenant_id(self) -> int | None:
        return self._tenant_id

    async def connect(self) -> None:
        refused = await self._ensure_connected()
        if refused is not None:
            raise ServerError(refused.code, refused.message, refused.leader_hint)

    async def create_stream(self, name: str) -> int:
        return _expect(await self._call(CreateStream(name)), StreamCreated).stream_id

    async def append(self, stream_id: int, events: list[bytes], *, expected_offset: int | None = None) -> int:
        reply = await self._call(AppendEvents(stream_id, events, expected_offset))
        return _expect(reply, EventsAppended).first_offset

    async def read_events(self, stream_id: int, from_offset: int = 0, max_bytes: int = READ_BYTES_MAX) -> EventsRead:
        return _expect(await self._call(ReadEvents(stream_id, from_offset, max_bytes)), EventsRead)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> QueryRows:
        return _expect(await self._call(Query(sql, list(params))), QueryRows)

    async def query_at(self, sql: str, params: Sequence[Any], offset: int) -> QueryRows:
        return _expect(await self._call(QueryAt(sql, list(params), offset)), QueryRows)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Executed:
        return _expect(await self._call(Execute(sql, list(params))), Executed)

    async def verify_chain(self, stream_id: int) -> ChainVerified:
        return _expect(await self._call(VerifyChain(stream_id)), ChainVerified)

    async def sync(self) -> None:
        _expect(await self._call(Sync()), Synced)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----- transport -----

    async def _call(self, body: RequestBody) -> ResponseBody:
        attempts = Attempts(self._policy, self._addresses, self._current)
        while True:
            sent = False
            try:
                refused = await self._ensure_connected()
                if refused is None:
                    sent = True
                reply = refused if refused is not None else await self._round_trip(body)
            except (OSError, _Lost, TimeoutError) as error:
                await self.close()
                await self._sleep(attempts.on_connection_lost(str(error), write_sent=sent and is_write(body)))
                self._current = attempts.current
                continue
            if not isinstance(reply, ErrorReply):
                return reply
            wait_s = attempts.on_error_reply(reply)
            if attempts.current != self._current:
                await self.close()
                self._current = attempts.current
            await self._sleep(wait_s)

    async def _ensure_connected(self) -> ErrorReply | None:
        async with self._connecting:
            if self._connection is not None and self._connection.alive:
                return None
            await self.close()
            host, port = parse_address(self._addresses[self._current])
            opening = asyncio.open_connection(host, port, ssl=self._tls, server_hostname=host if self._tls else None)
            reader, writer = await asyncio.wait_for(opening, self._connect_timeout_s)
            self._connection = _Connection(reader, writer)
            reply = await self._round_trip(Handshake(PROTOCOL_VERSION, self._token))
            if isinstance(reply, ErrorReply):
                await self.close()
                return reply
            ok = _expect(reply, HandshakeOk)
            self.subject = ok.subject
            if self._tenant_id is None:
                self._tenant_id = ok.tenant_id
            return None

    async def _round_trip(self, body: RequestBody) -> ResponseBody:
        connection = self._connection
        if connection is None or not connection.alive:
            raise _Lost(connection.lost_reason if connection is not None else "not connected")
        request_id = next(self._ids)
        future: asyncio.Future[ResponseBody] = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = future
        tenant = self._tenant_id if self._tenant_id is not None else 0
        connection.send(encode_frame(encode_message(Request(request_id, tenant, body))))
        try:
            async with asyncio.timeout(self._request_timeout_s):
                return await future
        finally:
            connection.pending.pop(request_id, None)


def _expect(body: ResponseBody, kind: type[T]) -> T:
    if not isinstance(body, kind):
        raise unexpected(body, kind.__name__)
    return body
