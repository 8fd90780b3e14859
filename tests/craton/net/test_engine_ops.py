"""Every wire operation against the REAL engine: results, time travel, and error codes end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.client import AsyncClient, ServerError
from appliance.craton.wire.codes import ErrorCode
from tests.craton.net.conftest import address_of, engine_server

TokenFor = Callable[..., str]


async def test_streams_append_read_and_verify(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """CreateStream, AppendEvents (with and without expected offset), ReadEvents and VerifyChain over the wire."""
    async with (
        engine_server(tmp_path, signing_key) as (server, _),
        AsyncClient(address_of(server), token=token_for(3)) as client,
    ):
        stream = await client.create_stream("orders")
        assert stream >> 32 == 3
        assert await client.append(stream, [b"a", b"bc"]) == 0
        assert await client.append(stream, [b"d"], expected_offset=2) == 2
        read = await client.read_events(stream, 0)
        assert read.events == [b"a", b"bc", b"d"]
        assert read.next_offset is None
        partial = await client.read_events(stream, 1)
        assert partial.events == [b"bc", b"d"]
        report = await client.verify_chain(stream)
        assert report.ok
        assert report.first_bad_offset is None
        await client.sync()


async def test_sql_execute_query_and_time_travel(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """DDL and DML through Execute, SELECT through Query, and QueryAt / AT OFFSET show the past."""
    async with (
        engine_server(tmp_path, signing_key) as (server, _),
        AsyncClient(address_of(server), token=token_for(1)) as client,
    ):
        await client.execute("CREATE TABLE acct (id BIGINT NOT NULL, owner TEXT, balance BIGINT, PRIMARY KEY (id))")
        inserted = await client.execute("INSERT INTO acct (id, owner, balance) VALUES (1, 'ada', 10), (2, 'bob', 5)")
        assert inserted.rows_affected == 2
        assert inserted.offset is not None
        updated = await client.execute("UPDATE acct SET balance = $1 WHERE id = $2", [99, 1])
        assert updated.rows_affected == 1
        now = await client.query("SELECT id, owner, balance FROM acct ORDER BY id")
        assert now.columns == ["id", "owner", "balance"]
        assert now.rows == [[1, "ada", 99], [2, "bob", 5]]
        before = await client.query_at("SELECT balance FROM acct WHERE id = $1", [1], inserted.offset)
        assert before.rows == [[10]]
        inline = await client.query(f"SELECT balance FROM acct WHERE id = 1 AT OFFSET {inserted.offset}")
        assert inline.rows == [[10]]


async def _run_steps(client: AsyncClient, steps: list[str]) -> None:
    streams: dict[str, int] = {}
    for step in steps:
        verb, _, rest = step.partition(" ")
        if verb == "create_stream":
            streams[rest] = await client.create_stream(rest)
        elif verb == "append":
            name, _, expected = rest.partition(" expected=")
            await client.append(streams[name], [b"x"], expected_offset=int(expected))
        elif verb == "append_missing":
            await client.append((1 << 32) | 999, [b"x"])
        else:
            await (client.query(rest) if rest.startswith("SELEC") else client.execute(rest))


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        (["create_stream dup", "create_stream dup"], ErrorCode.STREAM_ALREADY_EXISTS),
        (["create_stream s", "append s expected=5"], ErrorCode.OFFSET_MISMATCH),
        (["append_missing"], ErrorCode.STREAM_NOT_FOUND),
        (["sql INSERT INTO t VALUES (random())"], ErrorCode.QUERY_PARSE_ERROR),
        (["sql SELECT * FROM nowhere"], ErrorCode.TABLE_NOT_FOUND),
        (["sql SELEC 1"], ErrorCode.QUERY_PARSE_ERROR),
    ],
)
async def test_engine_rejections_arrive_with_their_codes(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor, steps: list[str], code: ErrorCode
) -> None:
    """Duplicate stream (10), wrong expected offset (16), unknown stream (5), bad SQL (7), unknown table (6)."""
    async with (
        engine_server(tmp_path, signing_key) as (server, _),
        AsyncClient(address_of(server), token=token_for(1)) as client,
    ):
        with pytest.raises(ServerError) as caught:
            await _run_steps(client, steps)
        assert caught.value.code == code, caught.value
        # The rejection stalls nothing: the next request on the same connection is served.
        assert (await client.query("SELECT 1 AS one")).rows == [[1]]


async def test_an_offset_mismatch_writes_nothing(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """After a refused optimistic append the stream holds exactly what it held before."""
    async with (
        engine_server(tmp_path, signing_key) as (server, _),
        AsyncClient(address_of(server), token=token_for(1)) as client,
    ):
        stream = await client.create_stream("s")
        await client.append(stream, [b"one"])
        with pytest.raises(ServerError) as caught:
            await client.append(stream, [b"two"], expected_offset=0)
        assert caught.value.code == ErrorCode.OFFSET_MISMATCH
        assert (await client.read_events(stream, 0)).events == [b"one"]
