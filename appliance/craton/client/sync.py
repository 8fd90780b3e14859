"""The blocking Craton client: one socket, one request at a time, thread-safe.

This module owns the blocking transport: connect (optionally TLS), handshake, send a frame, read
frames until the matching response. It must never decide about retries itself (`policy` does)
and never resend a write whose outcome is unknown.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from appliance.craton.client.policy import (
    CONNECT_TIMEOUT_S_DEFAULT,
    REQUEST_TIMEOUT_S_DEFAULT,
    Attempts,
    CratonClientError,
    RetryPolicy,
    ServerError,
    is_write,
    parse_address,
    unexpected,
)
from appliance.craton.types import invariant
from appliance.craton.wire.frame import FrameDecoder, FrameError, encode_frame
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

_RECV_BYTES = 256 * 1024
T = TypeVar("T")


class _Lost(Exception):
    """The connection broke; `reason` says how."""


class Client:
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
        sleep: Callable[[float], None] = time.sleep,
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
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.subject: str | None = None

    # ----- operations -----

    @property
    def tenant_id(self) -> int:
        if self._tenant_id is None:
            self.connect()
        invariant(self._tenant_id is not None, "a successful handshake sets the tenant")
        return int(self._tenant_id or 0)

    @property
    def address(self) -> str:
        return self._addresses[self._current]

    def connect(self) -> None:
        """Connect and handshake now (otherwise the first operation does it)."""
        with self._lock:
            refused = self._ensure_connected()
            if refused is not None:
                raise ServerError(refused.code, refused.message, refused.leader_hint)

    def create_stream(self, name: str) -> int:
        return _expect(self._call(CreateStream(name)), StreamCreated).stream_id

    def append(self, stream_id: int, events: list[bytes], *, expected_offset: int | None = None) -> int:
        return _expect(self._call(AppendEvents(stream_id, events, expected_offset)), EventsAppended).first_offset

    def read_events(self, stream_id: int, from_offset: int = 0, max_bytes: int = READ_BYTES_MAX) -> EventsRead:
        return _expect(self._call(ReadEvents(stream_id, from_offset, max_bytes)), EventsRead)

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryRows:
        return _expect(self._call(Query(sql, list(params))), QueryRows)

    def query_at(self, sql: str, params: Sequence[Any], offset: int) -> QueryRows:
        return _expect(self._call(QueryAt(sql, list(params), offset)), QueryRows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Executed:
        return _expect(self._call(Execute(sql, list(params))), Executed)

    def verify_chain(self, stream_id: int) -> ChainVerified:
        return _expect(self._call(VerifyChain(stream_id)), ChainVerified)

    def sync(self) -> None:
        _expect(self._call(Sync()), Synced)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- transport -----

    def _call(self, body: RequestBody) -> ResponseBody:
        with self._lock:
            attempts = Attempts(self._policy, self._addresses, self._current)
            while True:
                sent = False
                try:
                    refused = self._ensure_connected()
                    if refused is None:
                        sent = True
                    reply = refused if refused is not None else self._round_trip(body)
                except (OSError, _Lost) as error:
                    self._drop()
                    self._sleep(attempts.on_connection_lost(str(error), write_sent=sent and is_write(body)))
                    self._current = attempts.current
                    continue
                if not isinstance(reply, ErrorReply):
                    return reply
                wait_s = attempts.on_error_reply(reply)
                if attempts.current != self._current:
                    self._drop()
                    self._current = attempts.current
                self._sleep(wait_s)

    def _ensure_connected(self) -> ErrorReply | None:
        """Connect and handshake if needed; the handshake's error reply if it was refused."""
        if self._sock is not None:
            return None
        host, port = parse_address(self.address)
        sock = socket.create_connection((host, port), timeout=self._connect_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=host)
        if self._tls is None:
            # Kernel-side timeouts on a blocking socket: one syscall per send or receive, where
            # settimeout() adds a poll() before each. A timeout surfaces as OSError (EAGAIN).
            sock.settimeout(None)
            seconds = int(self._request_timeout_s)
            micros = int((self._request_timeout_s - seconds) * 1e6)
            window = struct.pack("ll", seconds, micros)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, window)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, window)
        else:
            sock.settimeout(self._request_timeout_s)
        self._sock = sock
        self._decoder = FrameDecoder()
        reply = self._round_trip(Handshake(PROTOCOL_VERSION, self._token))
        if isinstance(reply, ErrorReply):
            self._drop()
            return reply
        ok = _expect(reply, HandshakeOk)
        self.subject = ok.subject
        if self._tenant_id is None:
            self._tenant_id = ok.tenant_id
        return None

    def _round_trip(self, body: RequestBody) -> ResponseBody:
        sock = self._sock
        if sock is None:
            raise _Lost("not connected")
        request_id = next(self._ids)
        tenant = self._tenant_id if self._tenant_id is not None else 0
        sock.sendall(encode_frame(encode_message(Request(request_id, tenant, body))))
        while True:
            for payload in self._receive(sock):
                try:
                    response = decode_response(payload)
                except MessageError as error:
                    raise _Lost(f"server sent a malformed response: {error.reason}") from None
                if response.request_id == request_id:
                    return response.body
                if response.request_id == 0 and isinstance(response.body, ErrorReply):
                    raise _Lost(f"server closed the connection: {response.body.message}")

    def _receive(self, sock: socket.socket) -> list[bytes]:
        data = sock.recv(_RECV_BYTES)
        if not data:
            raise _Lost("server closed the connection")
        try:
            return self._decoder.feed(data)
        except FrameError as error:
            raise _Lost(f"server sent a malformed frame: {error}") from None

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _expect(body: ResponseBody, kind: type[T]) -> T:
    if not isinstance(body, kind):
        raise unexpected(body, kind.__name__)
    return body


__all__ = ["Client", "CratonClientError"]
