"""One client connection: frames in, authorisation, engine work off the loop, responses out.

This module owns the per-connection protocol state machine: the frame decoder, the identity
established by a handshake, the in-flight count with its back-pressure, and the idle timer. It
must never call the engine on the event-loop thread (work goes to the shared executor), never let
a request through whose tenant differs from its credential's, and never crash on a peer's bytes:
a malformed frame closes the connection with an error frame, a malformed message gets an error
reply and the connection lives on.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Final, NamedTuple, cast

from appliance.craton.server.auth import AuthError, Identity, check_tenant
from appliance.craton.server.dispatch import perform_batch
from appliance.craton.types import invariant
from appliance.craton.wire.codes import ErrorCode, code_name
from appliance.craton.wire.frame import FrameDecoder, FrameError, encode_frame
from appliance.craton.wire.messages import (
    PROTOCOL_VERSION,
    ErrorReply,
    Handshake,
    HandshakeOk,
    MessageError,
    Query,
    QueryAt,
    ReadEvents,
    Request,
    RequestBody,
    Response,
    ResponseBody,
    decode_request,
    encode_message,
    peek_request_id,
)

if TYPE_CHECKING:
    from appliance.craton.server.shared import ServerShared

# A peer that keeps presenting bad credentials is cut off rather than allowed to probe forever.
AUTH_FAILURES_PER_CONNECTION_MAX: Final = 8
CAPABILITIES: Final = ["append", "read", "sql", "query_at", "verify_chain", "pipelining"]
# Short reads that arrive together run as one executor job (one thread hop, one write of all
# their responses); anything that may be slow runs alone so it cannot delay them.
BATCHED_OPERATIONS: Final = (Query, QueryAt, ReadEvents)
READ_BATCH_MAX: Final = 64


class Pending(NamedTuple):
    request_id: int
    op: str
    tenant_id: int
    body: RequestBody
    started: float


def op_name(request: Request) -> str:
    return type(request.body).__name__


class ClientConnection(asyncio.Protocol):
    def __init__(self, shared: ServerShared) -> None:
        self._shared = shared
        self._loop = asyncio.get_running_loop()
        self._decoder = FrameDecoder(payload_bytes_max=shared.limits.request_bytes_max)
        self._transport: asyncio.Transport | None = None
        self._identity: Identity | None = None
        self._in_flight = 0
        self._reading_paused = False
        self._writing_paused = False
        self._closing = False
        self._last_activity = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._auth_failures = 0
        self._batch: list[Pending] = []
        self.closed = self._loop.create_future()

    # ----- asyncio.Protocol -----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if not self._shared.admit(self):
            self._shared.metrics.connections_refused.labels(reason="connection_limit").inc()
            limit = self._shared.limits.connections_max
            self._close_with(ErrorCode.RATE_LIMITED, f"connection limit of {limit} reached; retry later")
            return
        self._arm_idle_timer(self._shared.limits.idle_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._shared.forget(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        # The peer is not reading its responses: stop taking requests until it catches up.
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._last_activity = self._loop.time()
        try:
            payloads = self._decoder.feed(data)
        except FrameError as error:
            self._shared.metrics.frame_errors.inc()
            self._close_with(ErrorCode.INVALID_REQUEST, error.reason)
            return
        for payload in payloads:
            # A payload can close the connection (too many refused credentials): stop there.
            if self.is_closing():
                break
            self._on_payload(payload)
        self._flush()
        self._update_reading()

    def is_closing(self) -> bool:
        return self._closing

    # ----- requests -----

    def _on_payload(self, payload: bytes) -> None:
        started = time.perf_counter()
        try:
            request = decode_request(payload)
        except MessageError as error:
            self._reply(peek_request_id(payload), "Invalid", _error(ErrorCode.INVALID_REQUEST, error.reason), started)
            return
        if self._shared.draining:
            reply = _error(ErrorCode.INTERNAL_ERROR, "replica is shutting down; retry on another replica")
            self._reply(request.id, op_name(request), reply, started)
            return
        if isinstance(request.body, Handshake):
            self._on_handshake(request, request.body, started)
            return
        identity = self._authorize(request, started)
        if identity is None or self._rate_limited(request, identity.tenant_id, started):
            return
        self._enqueue(Pending(request.id, op_name(request), identity.tenant_id, request.body, started))

    def _rate_limited(self, request: Request, tenant_id: int, started: float) -> bool:
        """Charge the tenant's bucket; True (after replying RateLimited) when it is empty."""
        wait_s = self._shared.limiter.try_acquire(tenant_id)
        if wait_s <= 0:
            return False
        self._shared.metrics.rate_limited.inc()
        message = f"rate limit for tenant {tenant_id} exceeded; retry in {wait_s * 1000:.0f} ms"
        self._reply(request.id, op_name(request), _error(ErrorCode.RATE_LIMITED, message), started)
        return True

    def _on_handshake(self, request: Request, body: Handshake, started: float) -> None:
        if body.client_version != PROTOCOL_VERSION:
            message = f"client protocol {body.client_version} not supported (server speaks {PROTOCOL_VERSION})"
            self._reply(request.id, "Handshake", _error(ErrorCode.INVALID_REQUEST, message), started)
            return
        try:
            identity = self._shared.authenticator.authenticate(body.auth_token)
        except AuthError as error:
            self._refuse(request, error.reason, started)
            return
        # Handshakes count against the tenant's rate too: each one writes an audit entry.
        if self._rate_limited(request, identity.tenant_id, started):
            return
        self._identity = identity
        self._shared.audit_auth(identity.tenant_id, identity.subject, True, f"handshake by {identity.method}")
        ok = HandshakeOk(PROTOCOL_VERSION, True, identity.tenant_id, identity.subject, CAPABILITIES)
        self._reply(request.id, "Handshake", ok, started)

    def _authorize(self, request: Request, started: float) -> Identity | None:
        """The identity for this request, or None after replying AuthenticationFailed."""
        try:
            if request.auth_token is not None:
                fresh = not self._shared.authenticator.has_verified(request.auth_token)
                identity = self._shared.authenticator.authenticate(request.auth_token)
                if fresh:
                    self._shared.audit_auth(identity.tenant_id, identity.subject, True, f"request by {identity.method}")
            elif self._identity is not None:
                identity = self._identity
                self._shared.authenticator.check_fresh(identity)
            else:
                raise AuthError("not authenticated: send a Handshake with a token, or a token with the request")
            check_tenant(identity, request.tenant_id)
        except AuthError as error:
            self._refuse(request, error.reason, started)
            return None
        return identity

    def _refuse(self, request: Request, reason: str, started: float) -> None:
        self._shared.metrics.auth_failures.inc()
        subject = self._identity.subject if self._identity is not None else "unauthenticated"
        self._shared.audit_auth(request.tenant_id, subject, False, f"{op_name(request)}: {reason}")
        self._auth_failures += 1
        self._reply(request.id, op_name(request), _error(ErrorCode.AUTHENTICATION_FAILED, reason), started)
        if self._auth_failures >= AUTH_FAILURES_PER_CONNECTION_MAX:
            self._shared.metrics.connections_refused.labels(reason="auth_failures").inc()
            self._close_with(ErrorCode.AUTHENTICATION_FAILED, "too many refused credentials on this connection")

    def _enqueue(self, item: Pending) -> None:
        self._in_flight += 1
        self._shared.metrics.in_flight_count += 1
        if isinstance(item.body, BATCHED_OPERATIONS):
            self._batch.append(item)
            if len(self._batch) >= READ_BATCH_MAX:
                self._flush()
            return
        # A write or a long operation runs alone, so a slow fsync never holds up the reads behind it.
        self._flush()
        self._submit([item])

    def _flush(self) -> None:
        if self._batch:
            items, self._batch = self._batch, []
            self._submit(items)

    def _submit(self, items: list[Pending]) -> None:
        work = self._shared.executor.submit(perform_batch, self._shared.engine, [(i.tenant_id, i.body) for i in items])

        def done(future: Future[list[ResponseBody]]) -> None:
            self._loop.call_soon_threadsafe(self._finish, items, future)

        work.add_done_callback(done)

    def _finish(self, items: list[Pending], future: Future[list[ResponseBody]]) -> None:
        self._in_flight -= len(items)
        self._shared.metrics.in_flight_count -= len(items)
        error = future.exception()
        # `perform_batch` turns every exception into an error reply; reaching this branch is a bug there.
        bodies = future.result() if error is None else [_error(ErrorCode.INTERNAL_ERROR, "internal error")] * len(items)
        invariant(len(bodies) == len(items), "one response per batched request")
        frames = [
            self._frame(item.request_id, item.op, body, item.started) for item, body in zip(items, bodies, strict=True)
        ]
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(frames))
        self._update_reading()
        if self._shared.draining and self._in_flight == 0:
            self._close()

    # ----- output and lifecycle -----

    def _reply(self, request_id: int, op: str, body: ResponseBody, started: float) -> None:
        frame = self._frame(request_id, op, body, started)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)

    def _frame(self, request_id: int, op: str, body: ResponseBody, started: float) -> bytes:
        outcome = "ok" if not isinstance(body, ErrorReply) else code_name(body.code)
        self._shared.metrics.observe_request(op, outcome, time.perf_counter() - started)
        try:
            return encode_frame(encode_message(Response(request_id, body)))
        except FrameError as error:
            too_big = _error(ErrorCode.QUERY_EXECUTION_ERROR, error.reason)
            return encode_frame(encode_message(Response(request_id, too_big)))

    def _update_reading(self) -> None:
        if self._transport is None or self._closing:
            return
        should_pause = self._writing_paused or self._in_flight >= self._shared.limits.in_flight_per_connection_max
        if should_pause and not self._reading_paused:
            self._transport.pause_reading()
        elif not should_pause and self._reading_paused:
            self._transport.resume_reading()
        self._reading_paused = should_pause

    def _arm_idle_timer(self, delay_s: float) -> None:
        self._idle_timer = self._loop.call_later(delay_s, self._on_idle_timeout)

    def _on_idle_timeout(self) -> None:
        if self._closing:
            return
        idle_for_s = self._loop.time() - self._last_activity
        timeout_s = self._shared.limits.idle_timeout_s
        if self._in_flight == 0 and idle_for_s >= timeout_s:
            self._shared.metrics.connections_refused.labels(reason="idle_timeout").inc()
            self._close_with(ErrorCode.INVALID_REQUEST, f"connection idle for {timeout_s:g} s; closing")
            return
        self._arm_idle_timer(max(timeout_s - idle_for_s, 0.001))

    def begin_drain(self) -> None:
        """Answer what is in flight, refuse what arrives next, then close."""
        if self._in_flight == 0:
            self._close()

    def abort(self) -> None:
        """Drop the connection now, unanswered requests and all (the drain timeout ran out)."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def _close_with(self, code: ErrorCode, message: str) -> None:
        # Request id 0 marks a connection-level error: it answers no particular request.
        self._reply(0, "Connection", _error(code, message), time.perf_counter())
        self._close()

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def _error(code: ErrorCode, message: str) -> ErrorReply:
    return ErrorReply(int(code), message)
