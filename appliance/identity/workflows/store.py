"""The identity aggregates on the event store: where they live, how to load them, how to change them.

`IdentityPorts` bundles what a workflow touches (event store, session store, clock, id factory);
the HTTP layer builds it from `Services` (`ports_of`) and `craton admin` from an attached data
dir. `USER`, `ORG`, `RESERVATION` and `SESSION` describe the aggregates for
`eventstore.workflow.run_command`; `subject_of(ref)` turns the domain's `AggregateRef` into a
subject (`platform.identity.<kind>.<id>` or `org.<org id>.identity.org.<org id>`); `execute` runs
one command on one aggregate; `append_events` appends events a multi-aggregate plan decided (the
signup plan) with the sequence that was loaded.

This module must never decide: every event comes from a domain `decide` function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from appliance.eventstore.port import (
    AppendResult,
    EventStore,
    SessionStore,
    org_stream,
    org_subject,
    platform_subject,
)
from appliance.eventstore.workflow import Aggregate, Loaded, Outcome, load, run_command
from appliance.identity.domain.aggregates import IDENTITY_CONTEXT, AggregateRef
from appliance.identity.domain.events import IDENTITY_UPCASTERS
from appliance.identity.domain.org_commands import OrgCommand
from appliance.identity.domain.org_decide import decide_org
from appliance.identity.domain.org_events import OrgEvent
from appliance.identity.domain.org_state import OrgState, evolve_org
from appliance.identity.domain.principals import DecisionContext, Generated, Principal, actor_label
from appliance.identity.domain.reservation import (
    ReservationCommand,
    ReservationEvent,
    ReservationState,
    decide_reservation,
    evolve_reservation,
)
from appliance.identity.domain.session import EndSession, SessionEvent, SessionState, decide_session, evolve_session
from appliance.identity.domain.user_commands import UserCommand
from appliance.identity.domain.user_decide import decide_user
from appliance.identity.domain.user_events import UserEvent
from appliance.identity.domain.user_state import UserState, evolve_user
from appliance.kernel.clock import Clock
from appliance.kernel.envelope import DomainEvent, EventMeta, seal
from appliance.kernel.ids import EventId, IdFactory, RequestId

S = TypeVar("S")
NOTHING_GENERATED = Generated()
E = TypeVar("E")


@dataclass(frozen=True)
class IdentityPorts:
    store: EventStore
    sessions: SessionStore
    clock: Clock
    ids: IdFactory


def _evolving(evolve: Callable[[S, E], S]) -> Callable[[S, DomainEvent], S]:
    # The store hands back events decoded as the aggregate's own union, so the cast only restates
    # what `Aggregate.events` guarantees.
    def step(state: S, event: DomainEvent) -> S:
        return evolve(state, cast(E, event))

    return step


USER: Aggregate[UserState | None, UserCommand, DecisionContext] = Aggregate(
    aggregate_type="user",
    initial=None,
    decide=decide_user,
    evolve=_evolving(evolve_user),
    events=UserEvent,
    upcasters=IDENTITY_UPCASTERS,
)
ORG: Aggregate[OrgState | None, OrgCommand, DecisionContext] = Aggregate(
    aggregate_type="org",
    initial=None,
    decide=decide_org,
    evolve=_evolving(evolve_org),
    events=OrgEvent,
    upcasters=IDENTITY_UPCASTERS,
)
RESERVATION: Aggregate[ReservationState | None, ReservationCommand, DecisionContext] = Aggregate(
    aggregate_type="reservation",
    initial=None,
    decide=decide_reservation,
    evolve=_evolving(evolve_reservation),
    events=ReservationEvent,
    upcasters=IDENTITY_UPCASTERS,
)
SESSION: Aggregate[SessionState | None, EndSession, DecisionContext] = Aggregate(
    aggregate_type="session",
    initial=None,
    decide=decide_session,
    evolve=_evolving(evolve_session),
    events=SessionEvent,
    upcasters=IDENTITY_UPCASTERS,
)


def subject_of(ref: AggregateRef) -> str:
    if ref.org_id is None:
        return platform_subject(IDENTITY_CONTEXT, ref.kind.value, ref.aggregate_id)
    return org_subject(ref.org_id, IDENTITY_CONTEXT, ref.kind.value, ref.aggregate_id)


def meta_for(principal: Principal, ids: IdFactory, correlation_id: str | None = None) -> EventMeta:
    return EventMeta(actor=actor_label(principal), correlation_id=correlation_id or str(ids.new(RequestId)))


async def load_ref(store: EventStore, spec: Aggregate[S, Any, Any], ref: AggregateRef) -> Loaded[S]:
    return await load(store, spec, subject_of(ref))


async def execute(
    ports: IdentityPorts,
    spec: Aggregate[S, Any, DecisionContext],
    ref: AggregateRef,
    command: object,
    principal: Principal,
    *,
    generated: Generated = NOTHING_GENERATED,
    correlation_id: str | None = None,
) -> Outcome[S]:
    """Load, decide with the principal and the generated values, append; one retry on a conflict."""
    if ref.org_id is not None:
        await ports.store.ensure_stream(org_stream(ref.org_id))
    return await run_command(
        ports.store,
        spec,
        subject=subject_of(ref),
        aggregate_id=ref.aggregate_id,
        command=command,
        context=DecisionContext(now=ports.clock.now(), principal=principal, generated=generated),
        meta=meta_for(principal, ports.ids, correlation_id),
        ids=ports.ids,
        clock=ports.clock,
    )


async def append_events(
    ports: IdentityPorts,
    ref: AggregateRef,
    events: Sequence[DomainEvent],
    *,
    aggregate_type: str,
    loaded_version: int,
    loaded_sequence: int,
    meta: EventMeta,
) -> AppendResult:
    """Append events a plan decided to `ref`, expecting it unchanged since it was loaded."""
    if ref.org_id is not None:
        await ports.store.ensure_stream(org_stream(ref.org_id))
    commit = seal(
        events,
        aggregate_type=aggregate_type,
        aggregate_id=ref.aggregate_id,
        version_before=loaded_version,
        event_ids=[ports.ids.new(EventId) for _ in events],
        occurred_at=ports.clock.now(),
        meta=meta,
    )
    return await ports.store.append(subject_of(ref), commit, expected_last_sequence=loaded_sequence)
