"""The in-memory reference adapters pass the event store and session store contracts."""

from __future__ import annotations

import pytest

from appliance.eventstore.memory import InMemoryEventStore, InMemoryOneTimeStore, InMemorySessionStore
from appliance.kernel.clock import ManualClock
from tests.eventstore.contract import EventStoreContract, OneTimeStoreContract, SessionStoreContract


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sessions(clock: ManualClock) -> InMemorySessionStore:
    return InMemorySessionStore(clock)


@pytest.fixture
def one_time(clock: ManualClock) -> InMemoryOneTimeStore:
    return InMemoryOneTimeStore(clock)


class TestInMemoryEventStore(EventStoreContract):
    pass


class TestInMemorySessionStore(SessionStoreContract):
    pass


class TestInMemoryOneTimeStore(OneTimeStoreContract):
    pass
