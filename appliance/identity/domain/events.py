"""The catalogue of identity events: decoding stored ones, folding histories, the audit view.

* `IdentityEvent` is the union of every identity event; `EVENTS_BY_AGGREGATE` says which kinds
  each aggregate holds, and `EVENT_TYPES` maps a stored envelope's `type` to its class.
* `decode_event(envelope)` turns a stored envelope back into its typed event, upcasting old
  schema versions with the functions registered in `IDENTITY_UPCASTERS` (none yet: every event is
  at version 1).
* `replay_reservation/_user/_org/_session(events)` fold a history with the aggregate's
  evolve function; this is how workflows load an aggregate.
* `audit_view(event)` is what the audit projection stores and shows: the event's fields as plain
  JSON values, without secret material (hashes) or bulky key bytes.

This module must never decide anything: it only names, decodes and folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, get_args

import msgspec

from appliance.identity.domain.aggregates import AggregateKind
from appliance.identity.domain.org_events import OrgEvent
from appliance.identity.domain.org_state import OrgState, evolve_org
from appliance.identity.domain.reservation import ReservationEvent, ReservationState, evolve_reservation
from appliance.identity.domain.session import SessionEvent, SessionState, evolve_session
from appliance.identity.domain.user_events import UserEvent
from appliance.identity.domain.user_state import UserState, evolve_user
from appliance.kernel.envelope import DomainEvent, EventEnvelope, Upcasters
from appliance.kernel.errors import InvalidInput, invariant
from appliance.kernel.ids import OrgId

IdentityEvent = ReservationEvent | UserEvent | OrgEvent | SessionEvent

EVENTS_BY_AGGREGATE: Mapping[AggregateKind, tuple[type[DomainEvent], ...]] = MappingProxyType(
    {
        AggregateKind.RESERVATION: get_args(ReservationEvent),
        AggregateKind.USER: get_args(UserEvent),
        AggregateKind.ORG: get_args(OrgEvent),
        AggregateKind.SESSION: get_args(SessionEvent),
    }
)

EVENT_TYPES: Mapping[str, type[DomainEvent]] = MappingProxyType(
    {kind.__name__: kind for kinds in EVENTS_BY_AGGREGATE.values() for kind in kinds}
)
invariant(
    len(EVENT_TYPES) == sum(len(kinds) for kinds in EVENTS_BY_AGGREGATE.values()),
    "event type names are unique across the identity context",
)

# Fields kept out of the audit view: secret hashes, and key bytes nobody reads in an audit.
AUDIT_OMITTED_FIELDS = frozenset({"password_hash", "token_hash", "key_hash", "public_key"})

IDENTITY_UPCASTERS = Upcasters()


def decode_event(envelope: EventEnvelope, upcasters: Upcasters = IDENTITY_UPCASTERS) -> IdentityEvent:
    """The typed event in `envelope`; an unknown type or a malformed payload is `InvalidInput`."""
    if envelope.type not in EVENT_TYPES:
        raise InvalidInput(f"unknown identity event type {envelope.type!r} (event {envelope.event_id})")
    event: IdentityEvent = upcasters.decode(envelope, IdentityEvent)
    return event


def audit_view(event: DomainEvent) -> dict[str, Any]:
    """The event as plain JSON values, with its `type` and without `AUDIT_OMITTED_FIELDS`."""
    raw: dict[str, Any] = msgspec.to_builtins(event)
    return {name: value for name, value in raw.items() if name not in AUDIT_OMITTED_FIELDS}


def org_of(event: DomainEvent) -> OrgId | None:
    """The organisation whose audit trail shows `event` directly (user events are joined by membership)."""
    if isinstance(event, get_args(OrgEvent)):
        org_id: OrgId = event.org_id
        return org_id
    return None


def replay_reservation(events: Iterable[ReservationEvent]) -> ReservationState | None:
    state: ReservationState | None = None
    for event in events:
        state = evolve_reservation(state, event)
    return state


def replay_user(events: Iterable[UserEvent]) -> UserState | None:
    state: UserState | None = None
    for event in events:
        state = evolve_user(state, event)
    return state


def replay_org(events: Iterable[OrgEvent]) -> OrgState | None:
    state: OrgState | None = None
    for event in events:
        state = evolve_org(state, event)
    return state


def replay_session(events: Iterable[SessionEvent]) -> SessionState | None:
    state: SessionState | None = None
    for event in events:
        state = evolve_session(state, event)
    return state
