"""Wire-level behaviour of the replica server over real sockets (§8.2 item 25 and the limits).

The engine here is `EngineDouble`: these tests prove framing, authentication, pipelining and
limits, which the server enforces before any engine call.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.server import Authenticator, ServerLimits
from appliance.craton.wire.codes import ErrorCode
from appliance.craton.wire.frame import FRAME_MAGIC, FRAME_PAYLOAD_BYTES_MAX, encode_frame
from appliance.craton.wire.messages import (
    CreateStream,
    ErrorReply,
    Execute,
    Executed,
    Handshake,
    HandshakeOk,
    Query,
    QueryRows,
    StreamCreated,
    Sync,
    Synced,
)
from tests.craton.net.conftest import EngineDouble, RawConnection, running_server

TokenFor = Callable[..., str]


def _error(response_body: object) -> ErrorReply:
    assert isinstance(response_body, ErrorReply), response_body
    return response_body


async def _expect_closed_with(conn: RawConnection, code: ErrorCode, fragment: str) -> None:
    response = await conn.receive()
    error = _error(response.body)
    assert response.request_id == 0
    assert error.code == code
    assert fragment in error.message
    assert await conn.at_eof()
    await conn.close()


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (struct.pack(">IHII", 0x47455420, 1, 0, 0), "bad frame magic"),
        (struct.pack(">IHII", FRAME_MAGIC, 9, 0, 0), "unsupported frame version 9"),
        (struct.pack(">IHII", FRAME_MAGIC, 1, FRAME_PAYLOAD_BYTES_MAX + 1, 0), "exceeds the limit"),
        (struct.pack(">IHII", FRAME_MAGIC, 1, 3, zlib.crc32(b"abc") ^ 0xFF) + b"abc", "CRC mismatch"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40), "bad frame magic"),
    ],
)
async def test_malformed_frames_get_an_error_frame_and_the_connection_closes(
    tmp_path: Path, signing_key: Ed25519PrivateKey, header: bytes, fragment: str
) -> None:
    """Bad magic, version, a 16 MiB + 1 length, bad CRC, garbage: error code 2 with id 0, then EOF."""
    engine = EngineDouble()
    async with running_server(engine, signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        await conn.send_raw(header)
        await _expect_closed_with(conn, ErrorCode.INVALID_REQUEST, fragment)
        assert engine.calls == []
        # The server is unharmed: the next connection works.
        other = await RawConnection.open(server)
        assert isinstance((await other.call(Sync())).body, ErrorReply)
        await other.close()


async def test_a_truncated_frame_from_a_departing_peer_harms_nothing(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """Half a frame, then a disconnect: no engine call is made and the server serves others."""
    engine = EngineDouble()
    async with running_server(engine, signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        frame = conn.frame(Sync(), token=token_for(1))
        await conn.send_raw(frame[: len(frame) - 2])
        await conn.close()
        other = await RawConnection.open(server)
        assert isinstance((await other.handshake(token_for(1))).body, HandshakeOk)
        assert isinstance((await other.call(Sync())).body, Synced)
        await other.close()
        assert engine.calls == [("sync", 0)]


async def test_a_truncated_frame_is_closed_by_the_idle_timer(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """Half a frame and then silence: the idle timeout closes the connection with a reason."""
    limits = ServerLimits(idle_timeout_s=0.3)
    async with running_server(EngineDouble(), signing_key, tmp_path, limits=limits) as server:
        conn = await RawConnection.open(server)
        await conn.send_raw(encode_frame(b"0123456789")[:12])
        await _expect_closed_with(conn, ErrorCode.INVALID_REQUEST, "idle for 0.3 s")


async def test_requests_without_a_valid_token_are_refused(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """No handshake, no token, a forged token: each gets AuthenticationFailed; the engine is never called."""
    engine = EngineDouble()
    async with running_server(engine, signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        error = _error((await conn.call(CreateStream("s"))).body)
        assert error.code == ErrorCode.AUTHENTICATION_FAILED
        assert "not authenticated" in error.message
        error = _error((await conn.call(Handshake(1, None))).body)
        assert error.code == ErrorCode.AUTHENTICATION_FAILED
        forged = token_for(1)[:-4] + "AAAA"
        error = _error((await conn.handshake(forged)).body)
        assert error.code == ErrorCode.AUTHENTICATION_FAILED
        error = _error((await conn.call(Sync(), token=forged)).body)
        assert error.code == ErrorCode.AUTHENTICATION_FAILED
        await conn.close()
    assert engine.calls == []
    assert [ok for (_, _, ok, _) in engine.audit] == [False, False, False, False]


async def test_an_expired_token_ends_a_connection_authenticated_with_it(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """A connection cannot outlive its token: once exp passes, the next request is refused."""
    now = [1_000.0]
    auth = Authenticator(public_keys=[signing_key.public_key()], api_keys=[], clock=lambda: now[0])
    from appliance.craton.server import issue_token

    token = issue_token(signing_key, tenant_id=1, subject="a", ttl_s=60, now_s=1_000.0)
    async with running_server(EngineDouble(), signing_key, tmp_path, authenticator=auth) as server:
        conn = await RawConnection.open(server)
        assert isinstance((await conn.handshake(token)).body, HandshakeOk)
        assert isinstance((await conn.call(Sync())).body, Synced)
        now[0] = 1_000.0 + 3600
        error = _error((await conn.call(Sync())).body)
        assert error.code == ErrorCode.AUTHENTICATION_FAILED
        assert "expired" in error.message
        await conn.close()


async def test_repeated_refusals_close_the_connection(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """A peer that keeps presenting bad credentials is cut off after a bounded number of tries."""
    async with running_server(EngineDouble(), signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        for _ in range(8):
            await conn.send(Handshake(1, "not-a-key"))
        codes = [_error((await conn.receive()).body).code for _ in range(8)]
        assert codes == [ErrorCode.AUTHENTICATION_FAILED] * 8
        await _expect_closed_with(conn, ErrorCode.AUTHENTICATION_FAILED, "too many refused credentials")


async def test_pipelined_requests_are_answered_by_id_and_may_overtake(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """Requests sent in one write are all answered, matched by id; fast reads overtake a slow write."""
    async with running_server(EngineDouble(), signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        await conn.handshake(token_for(1))
        batch = (
            conn.frame(Execute("SLOW 1"), request_id=101)
            + conn.frame(Query("fast 2"), request_id=102)
            + conn.frame(Query("fast 3"), request_id=103)
            + conn.frame(Sync(), request_id=104)
        )
        await conn.send_raw(batch)
        responses = [await conn.receive() for _ in range(4)]
        by_id = {r.request_id: r.body for r in responses}
        assert by_id[101] == Executed(1, 0)
        assert by_id[102] == QueryRows(["sql"], [["fast 2"]])
        assert by_id[103] == QueryRows(["sql"], [["fast 3"]])
        assert isinstance(by_id[104], Synced)
        order = [r.request_id for r in responses]
        assert order.index(102) < order.index(101)
        assert order.index(103) < order.index(101)
        await conn.close()


async def test_an_undecodable_message_gets_an_error_and_the_connection_lives_on(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """A valid frame holding an invalid message gets InvalidRequest with its id; the next request works."""
    import msgspec

    async with running_server(EngineDouble(), signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        await conn.handshake(token_for(1))
        await conn.send_raw(encode_frame(msgspec.msgpack.encode([77, 1, ["launch_missiles"]])))
        response = await conn.receive()
        assert response.request_id == 77
        assert _error(response.body).code == ErrorCode.INVALID_REQUEST
        assert isinstance((await conn.call(Sync())).body, Synced)
        await conn.close()


async def test_connection_cap(tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor) -> None:
    """Beyond connections_max a connection gets RateLimited (14) and is closed; a freed slot is reusable."""
    limits = ServerLimits(connections_max=2)
    async with running_server(EngineDouble(), signing_key, tmp_path, limits=limits) as server:
        first, second = await RawConnection.open(server), await RawConnection.open(server)
        for conn in (first, second):
            assert isinstance((await conn.handshake(token_for(1))).body, HandshakeOk)
        third = await RawConnection.open(server)
        await _expect_closed_with(third, ErrorCode.RATE_LIMITED, "connection limit of 2")
        await first.close()
        for _ in range(100):
            if server.connection_count < 2:
                break
            await asyncio.sleep(0.01)
        fourth = await RawConnection.open(server)
        assert isinstance((await fourth.handshake(token_for(1))).body, HandshakeOk)
        await second.close()
        await fourth.close()


async def test_request_size_limit(tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor) -> None:
    """A request larger than request_bytes_max is refused from its header and the connection closed."""
    limits = ServerLimits(request_bytes_max=1024)
    engine = EngineDouble()
    async with running_server(engine, signing_key, tmp_path, limits=limits) as server:
        conn = await RawConnection.open(server)
        await conn.handshake(token_for(1))
        assert isinstance((await conn.call(Query("x" * 500))).body, QueryRows)
        await conn.send(Query("x" * 2000))
        await _expect_closed_with(conn, ErrorCode.INVALID_REQUEST, "exceeds the limit of 1024")
    assert engine.calls == [("query", 1)]


async def test_rate_limit_per_tenant(tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor) -> None:
    """Past its burst (handshakes included) a tenant gets RateLimited (14); another tenant is still served."""
    limits = ServerLimits(rate_per_tenant_per_s=0.001, rate_burst_per_tenant=3)
    async with running_server(EngineDouble(), signing_key, tmp_path, limits=limits) as server:
        noisy = await RawConnection.open(server)
        assert isinstance((await noisy.handshake(token_for(1))).body, HandshakeOk)  # the handshake takes a token
        bodies = [(await noisy.call(Sync(), tenant_id=1)).body for _ in range(3)]
        assert [isinstance(b, Synced) for b in bodies] == [True, True, False]
        error = _error(bodies[2])
        assert error.code == ErrorCode.RATE_LIMITED
        assert "rate limit for tenant 1" in error.message
        again = await RawConnection.open(server)
        assert _error((await again.handshake(token_for(1))).body).code == ErrorCode.RATE_LIMITED
        await again.close()
        quiet = await RawConnection.open(server)
        await quiet.handshake(token_for(2))
        assert isinstance((await quiet.call(Sync(), tenant_id=2)).body, Synced)
        await noisy.close()
        await quiet.close()
        text = server.metrics.render({}).decode()
        assert "craton_rate_limited_total 2.0" in text


async def test_a_response_too_large_for_a_frame_becomes_an_error_reply(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """A result over 16 MiB is answered with QueryExecutionError (8), not a broken frame."""
    engine = EngineDouble()
    engine.huge_result = True
    async with running_server(engine, signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        await conn.handshake(token_for(1))
        error = _error((await conn.call(Query("big"))).body)
        assert error.code == ErrorCode.QUERY_EXECUTION_ERROR
        assert "exceeds" in error.message
        assert isinstance((await conn.call(CreateStream("s"))).body, StreamCreated)
        await conn.close()


async def test_a_wrong_protocol_version_in_the_handshake_is_refused(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """A client speaking another protocol version gets InvalidRequest naming both versions."""
    async with running_server(EngineDouble(), signing_key, tmp_path) as server:
        conn = await RawConnection.open(server)
        error = _error((await conn.call(Handshake(2, token_for(1)))).body)
        assert error.code == ErrorCode.INVALID_REQUEST
        assert "client protocol 2 not supported" in error.message
        await conn.close()


def _alg_none_token(tenant_id: int) -> str:
    import base64
    import json
    import time

    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": "x", "tenant_id": tenant_id, "iss": "craton-control-plane", "aud": "craton-engine"}
    claims["exp"] = int(time.time()) + 600
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


async def test_expired_wrong_key_and_unsigned_tokens_are_refused_over_the_wire(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """Expired, signed-by-another-key and alg:none tokens each get AuthenticationFailed in the handshake."""
    from appliance.craton.server import issue_token

    stranger = Ed25519PrivateKey.generate()
    tokens = {
        "expired": issue_token(signing_key, tenant_id=1, subject="a", ttl_s=60, now_s=1_000_000.0),
        "wrong key": issue_token(stranger, tenant_id=1, subject="a", ttl_s=600),
        "alg none": _alg_none_token(1),
    }
    engine = EngineDouble()
    async with running_server(engine, signing_key, tmp_path) as server:
        for name, token in tokens.items():
            conn = await RawConnection.open(server)
            error = _error((await conn.handshake(token)).body)
            assert error.code == ErrorCode.AUTHENTICATION_FAILED, name
            error = _error((await conn.call(Sync(), token=token)).body)
            assert error.code == ErrorCode.AUTHENTICATION_FAILED, name
            await conn.close()
    assert engine.calls == []


async def test_api_keys_authenticate_by_hash_and_carry_their_tenant(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    """A configured API key works in the handshake and per request, only for its own tenant; others are refused."""
    from appliance.craton.server import ApiKeyEntry, hash_api_key

    auth = Authenticator(public_keys=[], api_keys=[ApiKeyEntry(hash_api_key("ck_test_key"), 7, "ci", None)])
    async with running_server(EngineDouble(), signing_key, tmp_path, authenticator=auth) as server:
        conn = await RawConnection.open(server)
        hello = (await conn.handshake("ck_test_key")).body
        assert isinstance(hello, HandshakeOk)
        assert (hello.tenant_id, hello.subject) == (7, "ci")
        assert isinstance((await conn.call(Sync(), tenant_id=7)).body, Synced)
        assert _error((await conn.call(Sync(), tenant_id=8)).body).code == ErrorCode.AUTHENTICATION_FAILED
        await conn.close()
        other = await RawConnection.open(server)
        assert isinstance((await other.call(Sync(), tenant_id=7, token="ck_test_key")).body, Synced)
        assert _error((await other.call(Sync(), tenant_id=7, token="ck_guess")).body).code == 3
        await other.close()
