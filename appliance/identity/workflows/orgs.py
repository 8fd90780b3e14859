"""Organisation workflows: create, rename, delete — and the one runner every org command goes through.

`run_org_command` is the whole write path of the organisation aggregate: load its history from the
organisation's own stream (`ORG_<id>`, subject `org.<id>.identity.org.<id>`), let the pure
`decide_org` decide, append with the expected sequence (one retry on a conflict, then 409). The
members, invites and API-key workflows call it too; nothing else appends organisation events,
except signup, which appends the events `signup.plan_signup` decided to the same subject.

Creating an organisation first creates its stream, then appends `OrgCreated`: a crash in between
leaves an empty stream, which is harmless (nothing refers to it) and reused by nobody (ids are
fresh).

Callers pass the `store.IdentityPorts` (the API builds them from `Services`, `craton admin` from an
attached data dir) and the domain principal acting (`api.auth.Principal.acting_as()`). This module must never decide a rule
itself, nor touch HTTP types.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from appliance.eventstore.port import EventStore, org_stream
from appliance.eventstore.workflow import Loaded, Outcome
from appliance.identity.domain.aggregates import org_ref
from appliance.identity.domain.org_commands import CreateOrg, DeleteOrg, OrgCommand, RenameOrg
from appliance.identity.domain.org_decide import decide_org
from appliance.identity.domain.org_state import OrgState
from appliance.identity.domain.principals import DecisionContext, Generated, Principal, UserPrincipal
from appliance.identity.workflows.store import NOTHING_GENERATED, ORG, IdentityPorts, execute, load_ref
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import InvalidInput, NotFound, PreconditionFailed, invariant
from appliance.kernel.ids import OrgId

# Each organisation is a JetStream stream with its own files; a user who could create them
# without end could exhaust the disk and the server's stream table.
ORGS_OWNED_PER_USER_MAX = 50


@dataclass(frozen=True)
class OrgChange:
    """What an org command did: the organisation after it, and where its events landed (if any)."""

    org_id: OrgId
    state: OrgState | None
    events: list[DomainEvent]
    stream: str
    sequence: int | None  # None when the command decided no events

    @classmethod
    def of(cls, org_id: OrgId, outcome: Outcome[OrgState | None]) -> OrgChange:
        return cls(
            org_id=org_id,
            state=outcome.state,
            events=list(outcome.events),
            stream=org_stream(org_id),
            sequence=None if outcome.append is None else outcome.append.sequence,
        )


async def load_org(store: EventStore, org_id: OrgId) -> Loaded[OrgState | None]:
    return await load_ref(store, ORG, org_ref(org_id))


async def run_org_command(
    ports: IdentityPorts,
    org_id: OrgId,
    command: OrgCommand,
    principal: Principal,
    *,
    generated: Generated = NOTHING_GENERATED,
    correlation_id: str | None = None,
) -> OrgChange:
    """Load the organisation, decide, append; a missing organisation is `NotFound` (never created here)."""
    invariant(isinstance(command, CreateOrg) or command.org_id == org_id, "a command targets the org it names")
    outcome: Outcome[OrgState | None] = await execute(
        ports, ORG, org_ref(org_id), command, principal, generated=generated, correlation_id=correlation_id
    )
    return OrgChange.of(org_id, outcome)


def owned_org_count(db: apsw.Connection, principal: Principal) -> int:
    if not isinstance(principal, UserPrincipal):
        return 0
    row = db.execute(
        "SELECT count(*) FROM org_members m JOIN orgs o ON o.org_id = m.org_id "
        "WHERE m.user_id = ? AND m.role = 'owner' AND o.deleted = 0",
        (str(principal.user_id),),
    ).fetchone()
    return int(row[0]) if row else 0


async def create_org(
    ports: IdentityPorts, db: apsw.Connection, principal: Principal, name: str, *, correlation_id: str | None = None
) -> OrgChange:
    """A new organisation with `principal` as its Owner, in a stream of its own."""
    if not isinstance(name, str):
        raise InvalidInput("name must be a string", field="name")
    if owned_org_count(db, principal) >= ORGS_OWNED_PER_USER_MAX:
        raise PreconditionFailed(f"a user may own at most {ORGS_OWNED_PER_USER_MAX} organisations")
    org_id = ports.ids.new(OrgId)
    generated = Generated(org_id=org_id)
    # Decide once before the stream exists, so a refused command (bad name, API key) leaves nothing.
    decide_org(
        None, CreateOrg(name=name), DecisionContext(now=ports.clock.now(), principal=principal, generated=generated)
    )
    return await run_org_command(
        ports, org_id, CreateOrg(name=name), principal, generated=generated, correlation_id=correlation_id
    )


async def rename_org(
    ports: IdentityPorts, org_id: OrgId, principal: Principal, name: str, *, correlation_id: str | None = None
) -> OrgChange:
    command = RenameOrg(org_id=org_id, name=name)
    return await run_org_command(ports, org_id, command, principal, correlation_id=correlation_id)


async def delete_org(
    ports: IdentityPorts, org_id: OrgId, principal: Principal, *, correlation_id: str | None = None
) -> OrgChange:
    """Mark the organisation deleted (Owner only). Its stream and history stay: the audit needs them."""
    return await run_org_command(ports, org_id, DeleteOrg(org_id=org_id), principal, correlation_id=correlation_id)


def present_org(change: OrgChange) -> OrgState:
    """The organisation after a command that must leave one (anything but a decision on nothing)."""
    if change.state is None:
        raise NotFound("organisation not found")
    return change.state
