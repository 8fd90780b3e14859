"""The clients' retry, backoff, NotLeader following and unknown-outcome rules, against scripted servers.

The servers here are tiny scripted protocol speakers (real sockets, real frames): each answers a
handshake, then plays a list of actions, one per request. Sleeps are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from appliance.craton.client import (
    AsyncClient,
    Client,
    ConnectionFailed,
    OutcomeUnknown,
    RetryPolicy,
    ServerError,
)
from appliance.craton.wire.codes import ErrorCode
from appliance.craton.wire.frame import FrameDecoder, encode_frame
from appliance.craton.wire.messages import (
    ErrorReply,
    EventsAppended,
    Handshake,
    HandshakeOk,
    QueryRows,
    Response,
    ResponseBody,
    decode_request,
    encode_message,
)

CLOSE = "close"
HANG = "hang"
Action = ResponseBody | str


class ScriptedServer:
    """Answers every handshake with tenant 4, then one scripted action per request (shared across connections)."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)
        self.requests: list[str] = []
        self.connections = 0
        self.address = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for payload in decoder.feed(data):
                    if not self._answer(decode_request(payload), writer):
                        return
        finally:
            writer.close()

    def _answer(self, request: Any, writer: asyncio.StreamWriter) -> bool:
        if isinstance(request.body, Handshake):
            body: ResponseBody = HandshakeOk(1, True, 4, "scripted", [])
        else:
            self.requests.append(type(request.body).__name__)
            action = self.actions.pop(0)
            if action == CLOSE:
                return False
            if action == HANG:
                return True
            assert not isinstance(action, str)
            body = action
        writer.write(encode_frame(encode_message(Response(request.id, body))))
        return True


@contextlib.asynccontextmanager
async def scripted(actions: list[Action]) -> AsyncIterator[ScriptedServer]:
    script = ScriptedServer(actions)
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    script.address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield script
    finally:
        server.close()
        await server.wait_closed()


ROWS = QueryRows(["n"], [[1]])


def _err(code: ErrorCode, hint: str | None = None) -> ErrorReply:
    return ErrorReply(int(code), f"scripted {code.name}", hint)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("code", [1, 12, 13, 14])
async def test_retryable_errors_are_retried_with_doubling_backoff(code: int) -> None:
    """Codes 1, 12, 13 and 14 are retried after 100 ms, then 200 ms, … until an answer comes."""
    sleeps = Sleeps()
    async with scripted([_err(ErrorCode(code)), _err(ErrorCode(code)), _err(ErrorCode(code)), ROWS]) as server:
        client = Client(server.address, token="t", sleep=sleeps)
        assert await asyncio.to_thread(client.query, "SELECT 1") == ROWS
        client.close()
    assert sleeps.waits == [0.1, 0.2, 0.4]
    assert server.connections == 1


async def test_the_retry_budget_ends_with_the_servers_error() -> None:
    """After retries_max retries the last error reply is raised, with its code."""
    sleeps = Sleeps()
    async with scripted([_err(ErrorCode.RATE_LIMITED)] * 3) as server:
        client = Client(server.address, token="t", sleep=sleeps, policy=RetryPolicy(retries_max=2))
        with pytest.raises(ServerError) as caught:
            await asyncio.to_thread(client.query, "SELECT 1")
        client.close()
    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert sleeps.waits == [0.1, 0.2]


async def test_non_retryable_errors_are_raised_at_once() -> None:
    """A parse error (7) is the caller's: raised immediately, never retried."""
    sleeps = Sleeps()
    async with scripted([_err(ErrorCode.QUERY_PARSE_ERROR)]) as server:
        client = Client(server.address, token="t", sleep=sleeps)
        with pytest.raises(ServerError, match="QueryParseError"):
            await asyncio.to_thread(client.query, "SELEKT")
        client.close()
    assert sleeps.waits == []
    assert server.requests == ["Query"]


async def test_not_leader_is_followed_to_the_hinted_leader_without_waiting() -> None:
    """NotLeader with a hint sends the retry straight to the hinted address."""
    sleeps = Sleeps()
    async with scripted([ROWS]) as leader, scripted([_err(ErrorCode.NOT_LEADER, leader.address)]) as follower:
        client = Client(follower.address, token="t", sleep=sleeps)
        assert await asyncio.to_thread(client.query, "SELECT 1") == ROWS
        assert client.address == leader.address
        client.close()
    assert sleeps.waits == [0.0]
    assert (follower.requests, leader.requests) == (["Query"], ["Query"])


async def test_not_leader_without_a_hint_backs_off_and_retries() -> None:
    """NotLeader with no hint is retried after a backoff (a view change may be in progress)."""
    sleeps = Sleeps()
    async with scripted([_err(ErrorCode.NOT_LEADER), ROWS]) as server:
        client = Client(server.address, token="t", sleep=sleeps)
        assert await asyncio.to_thread(client.query, "SELECT 1") == ROWS
        client.close()
    assert sleeps.waits == [0.1]


async def test_an_unreachable_replica_is_skipped_for_the_next_address() -> None:
    """A refused connection moves on to the next address after a backoff."""
    sleeps = Sleeps()
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead = f"127.0.0.1:{probe.sockets[0].getsockname()[1]}"
    probe.close()
    await probe.wait_closed()
    async with scripted([ROWS]) as server:
        client = Client([dead, server.address], token="t", sleep=sleeps)
        assert await asyncio.to_thread(client.query, "SELECT 1") == ROWS
        client.close()
    assert sleeps.waits == [0.1]


async def test_nothing_reachable_is_connection_failed() -> None:
    """When no address answers within the budget, ConnectionFailed says so (nothing was sent)."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead = f"127.0.0.1:{probe.sockets[0].getsockname()[1]}"
    probe.close()
    await probe.wait_closed()
    sleeps = Sleeps()
    client = Client(dead, token="t", sleep=sleeps, policy=RetryPolicy(retries_max=3))
    with pytest.raises(ConnectionFailed, match="gave up after 4 attempts"):
        await asyncio.to_thread(client.sync)
    assert sleeps.waits == [0.1, 0.2, 0.4]


async def test_a_write_lost_in_flight_is_outcome_unknown_but_a_read_is_resent() -> None:
    """A dropped connection after sending: a read is resent on a new connection, a write raises OutcomeUnknown."""
    sleeps = Sleeps()
    async with scripted([CLOSE, ROWS, CLOSE]) as server:
        client = Client(server.address, token="t", sleep=sleeps)
        assert await asyncio.to_thread(client.query, "SELECT 1") == ROWS
        with pytest.raises(OutcomeUnknown, match="may have been applied"):
            await asyncio.to_thread(client.append, 1, [b"x"])
        client.close()
    assert server.requests == ["Query", "Query", "AppendEvents"]
    assert server.connections == 2


async def test_a_refused_handshake_is_not_retried() -> None:
    """Bad credentials are final: ServerError(3) at once."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        data = await reader.read(65536)
        for payload in decoder.feed(data):
            request = decode_request(payload)
            writer.write(encode_frame(encode_message(Response(request.id, _err(ErrorCode.AUTHENTICATION_FAILED)))))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    sleeps = Sleeps()
    client = Client(address, token="bad", sleep=sleeps)
    with pytest.raises(ServerError) as caught:
        await asyncio.to_thread(client.query, "SELECT 1")
    server.close()
    await server.wait_closed()
    assert caught.value.code == ErrorCode.AUTHENTICATION_FAILED
    assert sleeps.waits == []


async def test_async_client_retries_follows_leader_and_pipelines() -> None:
    """The async client shares the rules: backoff on 14, NotLeader to the hint, and concurrent calls on one connection."""
    sleeps = Sleeps()
    async with scripted([ROWS] * 5) as leader:
        actions: list[Action] = [_err(ErrorCode.RATE_LIMITED), _err(ErrorCode.NOT_LEADER, leader.address)]
        async with scripted(actions) as follower:
            client = AsyncClient(follower.address, token="t", sleep=sleeps.async_sleep)
            assert await client.query("SELECT 1") == ROWS
            assert client.tenant_id == 4
            results = await asyncio.gather(*(client.query("SELECT 1") for _ in range(4)))
            await client.close()
    assert results == [ROWS] * 4
    assert sleeps.waits == [0.1, 0.0]
    assert leader.connections == 1


async def test_async_client_write_lost_in_flight_is_outcome_unknown() -> None:
    """The async client never resends a write whose connection dropped after sending."""
    async with scripted([CLOSE, EventsAppended(0, 1)]) as server:
        client = AsyncClient(server.address, token="t", sleep=Sleeps().async_sleep)
        with pytest.raises(OutcomeUnknown):
            await client.append(1, [b"x"])
        assert await client.append(1, [b"x"]) == 0
        await client.close()
    assert server.requests == ["AppendEvents", "AppendEvents"]


@pytest.mark.parametrize("blocking", [True, False])
async def test_a_silent_server_times_out(blocking: bool) -> None:
    """A server that never answers: a read gives up with ConnectionFailed, a write with OutcomeUnknown."""
    async with scripted([HANG, HANG]) as server:
        policy = RetryPolicy(retries_max=0)
        if blocking:
            client = Client(server.address, token="t", policy=policy, request_timeout_s=0.3, sleep=Sleeps())
            with pytest.raises(ConnectionFailed):
                await asyncio.to_thread(client.query, "SELECT 1")
            with pytest.raises(OutcomeUnknown):
                await asyncio.to_thread(client.execute, "DELETE FROM t WHERE id = 1")
            client.close()
        else:
            aclient = AsyncClient(server.address, token="t", policy=policy, request_timeout_s=0.3)
            with pytest.raises(ConnectionFailed):
                await aclient.query("SELECT 1")
            with pytest.raises(OutcomeUnknown):
                await aclient.execute("DELETE FROM t WHERE id = 1")
            await aclient.close()
