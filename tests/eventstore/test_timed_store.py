"""The timing wrapper passes the event store contract and observes acknowledged appends only."""

from __future__ import annotations

import pytest

from appliance.eventstore.memory import InMemoryEventStore
from appliance.eventstore.port import PLATFORM_STREAM
from appliance.eventstore.timed import TimedEventStore
from appliance.kernel.errors import ConcurrencyConflict
from tests.eventstore.contract import EventStoreContract, commit_of, fresh_subject

OBSERVED: list[float] = []


@pytest.fixture
def store() -> TimedEventStore:
    OBSERVED.clear()
    return TimedEventStore(InMemoryEventStore(), OBSERVED.append)


class TestTimedEventStore(EventStoreContract):
    pass


async def test_only_acknowledged_appends_are_observed(store: TimedEventStore) -> None:
    """A successful append adds one observation; a refused one adds none."""
    await store.ensure_stream(PLATFORM_STREAM)
    subject = fresh_subject()
    await store.append(subject, commit_of("a"), expected_last_sequence=0)
    assert len(OBSERVED) == 1
    assert OBSERVED[0] >= 0
    with pytest.raises(ConcurrencyConflict):
        await store.append(subject, commit_of("b"), expected_last_sequence=0)
    assert len(OBSERVED) == 1
