"""The JetStream adapters, against a real nats-server, pass the same contracts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from appliance.eventstore.jetstream import JetStreamEventStore, KvOneTimeStore, KvSessionStore, connect
from appliance.eventstore.supervisor import NatsSupervisor
from appliance.runtime.system import SystemClock
from tests.eventstore.contract import EventStoreContract, OneTimeStoreContract, SessionStoreContract


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
