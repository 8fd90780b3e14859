"""The one workflow shape: load the aggregate, decide purely, append with the expected sequence.

`run_command` has no business logic: the aggregate's `decide` makes every decision. A conflict
(another writer appended first) is retried once from a fresh load, then surfaces as
`ConcurrencyConflict` (HTTP 409).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from appliance.eventstore.port import AppendResult, EventStore
from appliance.kernel.clock import Clock
from appliance.kernel.envelope import DomainEvent, EventMeta, Upcasters, seal
from appliance.kernel.errors import ConcurrencyConflict
from appliance.kernel.ids import EventId, IdFactory

S = TypeVar("S")
C = TypeVar("C")
X = TypeVar("X")

CONFLICT_RETRIES_MAX = 1


@dataclass(frozen=True)
class Aggregate(Generic[S, C, X]):
    """How to rebuild and change one kind of aggregate."""

    aggregate_type: str
    initial: S
    decide: Callable[[S, C, X], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    events: Any  # the tagged union of its event types
    upcasters: Upcasters


@dataclass(frozen=True)
class Outcome(Generic[S]):
    state: S
    events: Sequence[DomainEvent]
    append: AppendResult | None  # None when the decision produced no events
    version: int


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    version: int
    last_sequence: int


async def load(store: EventStore, spec: Aggregate[S, Any, Any], subject: str) -> Loaded[S]:
    history = await store.load(subject)
    state = spec.initial
    for envelope in history.events:
        state = spec.evolve(state, spec.upcasters.decode(envelope, spec.events))
    return Loaded(state=state, version=history.version, last_sequence=history.last_sequence)


async def run_command(
    store: EventStore,
    spec: Aggregate[S, C, X],
    *,
    subject: str,
    aggregate_id: str,
    command: C,
    context: X,
    meta: EventMeta,
    ids: IdFactory,
    clock: Clock,
) -> Outcome[S]:
    for attempt in range(CONFLICT_RETRIES_MAX + 1):
        loaded = await load(store, spec, subject)
        events = list(spec.decide(loaded.state, command, context))
        if not events:
            return Outcome(state=loaded.state, events=[], append=None, version=loaded.version)
        commit = seal(
            events,
            aggregate_type=spec.aggregate_type,
            aggregate_id=aggregate_id,
            version_before=loaded.version,
            event_ids=[ids.new(EventId) for _ in events],
            occurred_at=clock.now(),
            meta=meta,
        )
        try:
            result = await store.append(subject, commit, expected_last_sequence=loaded.last_sequence)
        except ConcurrencyConflict:
            if attempt == CONFLICT_RETRIES_MAX:
                raise
            continue
        state = loaded.state
        for event in events:
            state = spec.evolve(state, event)
        return Outcome(state=state, events=events, append=result, version=loaded.version + len(events))
    raise AssertionError("unreachable")  # pragma: no cover
