"""Domain events and the envelope they travel in.

A domain event is a frozen, tagged `DomainEvent` struct (its tag is its class name, a past
participle) with a `schema_version`. When a workflow appends, each event is wrapped in an
`EventEnvelope` that carries the metadata every consumer needs (ids, aggregate and version, time,
actor, correlation and causation). One decision's events are appended together as one `Commit`,
so a decision lands whole or not at all.

Old schema versions are upgraded on read by named functions registered in an `Upcasters` table;
stored bytes are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import msgspec

from appliance.kernel.errors import InvalidInput, invariant
from appliance.kernel.ids import EventId
from appliance.kernel.structs import Struct, from_builtins, to_json


class DomainEvent(Struct, frozen=True, tag=True):
    """Base of every domain event. Subclasses are named in the past tense."""

    schema_version: ClassVar[int] = 1


class EventMeta(Struct, frozen=True):
    """Who and why: copied onto every envelope of one request."""

    actor: str
    correlation_id: str
    causation_id: str | None = None


class EventEnvelope(Struct, frozen=True):
    event_id: EventId
    type: str
    schema_version: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    actor: str
    correlation_id: str
    causation_id: str | None
    payload: msgspec.Raw


class Commit(Struct, frozen=True):
    """The unit of append: the events of one decision, in order, all for one aggregate."""

    events: list[EventEnvelope]


E = TypeVar("E", bound=DomainEvent)


def seal(
    events: Sequence[DomainEvent],
    *,
    aggregate_type: str,
    aggregate_id: str,
    version_before: int,
    event_ids: Sequence[EventId],
    occurred_at: datetime,
    meta: EventMeta,
) -> Commit:
    """Wrap a decision's events in envelopes numbered after `version_before`."""
    invariant(len(events) == len(event_ids), "one pre-generated id per event")
    invariant(len(events) > 0, "a commit carries at least one event")
    envelopes = [
        EventEnvelope(
            event_id=event_id,
            type=type(event).__name__,
            schema_version=type(event).schema_version,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=version_before + index + 1,
            occurred_at=occurred_at,
            actor=meta.actor,
            correlation_id=meta.correlation_id,
            causation_id=meta.causation_id,
            payload=msgspec.Raw(to_json(event)),
        )
        for index, (event, event_id) in enumerate(zip(events, event_ids, strict=True))
    ]
    return Commit(events=envelopes)


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Named functions that lift a stored payload from schema version n to n + 1."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def add(step: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            invariant(key not in self._steps, f"two upcasters for {key}")
            self._steps[key] = step
            return step

        return add

    def decode(self, envelope: EventEnvelope, union: Any) -> Any:
        """Decode the payload as one of `union`, upcasting old versions first."""
        raw: dict[str, Any] = msgspec.json.decode(envelope.payload)
        version = envelope.schema_version
        while (envelope.type, version) in self._steps:
            raw = self._steps[(envelope.type, version)](raw)
            version += 1
        raw["type"] = envelope.type
        try:
            return from_builtins(raw, union, what=f"event {envelope.type} v{envelope.schema_version}")
        except InvalidInput as error:
            raise InvalidInput(f"{error.message} (event {envelope.event_id})") from None


NO_UPCASTERS = Upcasters()
