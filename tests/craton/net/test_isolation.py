"""§8.2 item 24: a token for tenant A can neither read nor write tenant B, even when the request claims B.

Runs the REAL engine behind the real server; the attacker speaks the raw protocol so it can forge
any field of a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.client import AsyncClient
from appliance.craton.wire.codes import ErrorCode
from appliance.craton.wire.messages import (
    AppendEvents,
    CreateStream,
    ErrorReply,
    Execute,
    HandshakeOk,
    Query,
    QueryAt,
    ReadEvents,
    RequestBody,
    VerifyChain,
)
from tests.craton.net.conftest import RawConnection, address_of, engine_server

TokenFor = Callable[..., str]
TENANT_A, TENANT_B = 10, 20


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_forged_tenant_id_is_refused_for_every_operation(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """With A's credential, every request naming tenant B gets AuthenticationFailed and B's data is untouched."""
    async with engine_server(tmp_path, signing_key) as (server, engine):
        async with AsyncClient(address_of(server), token=token_for(TENANT_B, subject="bob")) as owner:
            b_stream = await owner.create_stream("ledger")
            await owner.append(b_stream, [b"b-secret"])
            await owner.execute("CREATE TABLE secrets (id BIGINT NOT NULL, v TEXT, PRIMARY KEY (id))")
            written = await owner.execute("INSERT INTO secrets (id, v) VALUES (1, 'b-only')")
        forged: list[RequestBody] = [
            CreateStream("ledger-2"),
            AppendEvents(b_stream, [b"a-was-here"]),
            ReadEvents(b_stream, 0, 1024),
            VerifyChain(b_stream),
            Query("SELECT * FROM secrets"),
            QueryAt("SELECT * FROM secrets", [], written.offset or 0),
            Execute("DELETE FROM secrets WHERE id = 1"),
            Execute("DROP TABLE secrets"),
        ]
        audited_before = engine.status()["audit_entries"]
        for body in forged:
            # Both ways to present the credential: the connection's handshake, and a per-request token.
            attacker = await RawConnection.open(server)
            assert isinstance((await attacker.handshake(token_for(TENANT_A, subject="mallory"))).body, HandshakeOk)
            for token in (None, token_for(TENANT_A, subject="mallory")):
                reply = (await attacker.call(body, tenant_id=TENANT_B, token=token)).body
                assert isinstance(reply, ErrorReply), (body, reply)
                assert reply.code == ErrorCode.AUTHENTICATION_FAILED
                assert f"credential is for tenant {TENANT_A}, request names tenant {TENANT_B}" in reply.message
            await attacker.close()
        # Every decision (8 accepted handshakes, 16 refusals, and any first use of a per-request token) is audited.
        await _until(lambda: engine.status()["audit_entries"] >= audited_before + 24)
        assert engine.verify_audit().ok
        async with AsyncClient(address_of(server), token=token_for(TENANT_B, subject="bob")) as owner:
            assert (await owner.read_events(b_stream, 0)).events == [b"b-secret"]
            assert (await owner.query("SELECT id, v FROM secrets")).rows == [[1, "b-only"]]


async def test_a_tenant_acting_as_itself_cannot_reach_anothers_streams_or_tables(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """A, honestly naming itself, cannot read or append to B's stream id, and sees only its own table of the same name."""
    async with engine_server(tmp_path, signing_key) as (server, _):
        async with AsyncClient(address_of(server), token=token_for(TENANT_B)) as b:
            b_stream = await b.create_stream("ledger")
            await b.append(b_stream, [b"b-secret"])
            await b.execute("CREATE TABLE notes (id BIGINT NOT NULL, v TEXT, PRIMARY KEY (id))")
            await b.execute("INSERT INTO notes (id, v) VALUES (1, 'from b')")
        attacker = await RawConnection.open(server)
        await attacker.handshake(token_for(TENANT_A))
        for body in (ReadEvents(b_stream, 0, 1024), AppendEvents(b_stream, [b"x"]), VerifyChain(b_stream)):
            reply = (await attacker.call(body, tenant_id=TENANT_A)).body
            assert isinstance(reply, ErrorReply), (body, reply)
            assert reply.code in (ErrorCode.STREAM_NOT_FOUND, ErrorCode.TENANT_NOT_FOUND), reply
            assert "b-secret" not in reply.message
        reply = (await attacker.call(Query("SELECT * FROM notes"), tenant_id=TENANT_A)).body
        assert isinstance(reply, ErrorReply)
        assert reply.code == ErrorCode.TABLE_NOT_FOUND
        await attacker.close()
        async with AsyncClient(address_of(server), token=token_for(TENANT_A)) as a:
            await a.execute("CREATE TABLE notes (id BIGINT NOT NULL, v TEXT, PRIMARY KEY (id))")
            await a.execute("INSERT INTO notes (id, v) VALUES (1, 'from a')")
            assert (await a.query("SELECT v FROM notes")).rows == [["from a"]]
        async with AsyncClient(address_of(server), token=token_for(TENANT_B)) as b:
            assert (await b.query("SELECT v FROM notes")).rows == [["from b"]]
            assert (await b.read_events(b_stream, 0)).events == [b"b-secret"]
