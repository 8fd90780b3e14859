"""The JetStream adapters, against a real nats-server, pass the same contracts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from appliance.eventstore.jetstream import JetStreamEventStore, connect
from appliance.eventstore.kv import KvOneTimeStore, KvSessionStore
from appliance.eventstore.supervisor import NatsSupervisor
from appliance.kernel.ids import UserId
from appliance.runtime.system import SystemClock
from tests.eventstore.contract import IDS, EventStoreContract, OneTimeStoreContract, SessionStoreContract


@pytest.fixture
async def client(nats_server: NatsSupervisor) -> AsyncIterator[object]:
    nc = await connect(nats_server.url, user=nats_server.user, password=nats_server.password)
    yield nc
    await nc.close()


@pytest.fixture
def store(client) -> JetStreamEventStore:
    return JetStreamEventStore(client)


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


@pytest.fixture
def sessions(client, clock: SystemClock) -> KvSessionStore:
    return KvSessionStore(client, clock)


@pytest.fixture
def one_time(client) -> KvOneTimeStore:
    return KvOneTimeStore(client)


class TestJetStreamEventStore(EventStoreContract):
    pass


class TestKvSessionStore(SessionStoreContract):
    pass


class TestKvOneTimeStore(OneTimeStoreContract):
    pass


async def _until(condition, what: str) -> None:
    """Wait for the mirror's watch to deliver (bounded; a failure names what never happened)."""
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_the_session_mirror_follows_changes_made_elsewhere(
    nats_server: NatsSupervisor, clock: SystemClock
) -> None:
    """A mirrored store sees sessions created and ended through another connection, and its own
    deletes at once (a late delivery never brings a deleted session back)."""
    first = await connect(nats_server.url, user=nats_server.user, password=nats_server.password)
    second = await connect(nats_server.url, user=nats_server.user, password=nats_server.password)
    mirrored, other = KvSessionStore(first, clock), KvSessionStore(second, clock)
    try:
        await mirrored.start_mirror()
        contract = SessionStoreContract()
        user = IDS.new(UserId)
        made_elsewhere = contract.record(clock, user)
        await other.put(made_elsewhere)
        assert await mirrored.get(user, made_elsewhere.session_id) == made_elsewhere  # a miss asks NATS
        await other.delete(user, made_elsewhere.session_id)

        async def gone() -> bool:
            return await mirrored.get(user, made_elsewhere.session_id) is None

        await _until(gone, "the mirror saw a delete made through another connection")
        mine = contract.record(clock, user)
        await mirrored.put(mine)
        assert await mirrored.get(user, mine.session_id) == mine
        assert await mirrored.delete(user, mine.session_id)
        assert await mirrored.get(user, mine.session_id) is None
        await asyncio.sleep(0.05)  # let the watch deliver the put and the purge; neither revives it
        assert await mirrored.get(user, mine.session_id) is None
    finally:
        await mirrored.close()
        await first.close()
        await second.close()


class TestMirroredKvSessionStore(SessionStoreContract):
    """The same contract with reads served from the watch-fed mirror."""

    @pytest.fixture
    async def sessions(self, client, clock: SystemClock) -> AsyncIterator[KvSessionStore]:
        store = KvSessionStore(client, clock)
        await store.start_mirror()
        yield store
        await store.close()
