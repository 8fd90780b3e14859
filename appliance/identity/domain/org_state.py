"""The organisation aggregate's state and `evolve_org`.

An organisation has a name, members (user id → e-mail and role), invites (e-mail, role, hashed
token, expiry, and whether it was accepted or revoked), API keys (name, role, hashed key, public
prefix, optional expiry, revocation time) and a deleted flag. Spent invites and revoked keys stay
in the state, so that using one again is refused with a precise reason.

Whether an invite has expired or a key is still usable depends on the time, which the state does
not hold: `invite_view` and `key_usable` take `now`.

Like every evolve function here, `evolve_org` returns a new state and never mutates the one it is
given, and never fails on a valid history (a misfit event is a bug: `InvariantViolation`).
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from appliance.identity.domain.checks import present
from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.domain.org_events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    InviteAccepted,
    InviteRevoked,
    MemberInvited,
    MemberLeft,
    MemberRemoved,
    MemberRoleChanged,
    OrgCreated,
    OrgDeleted,
    OrgEvent,
    OrgRenamed,
)
from appliance.identity.domain.principals import Actor
from appliance.identity.domain.rbac import Role
from appliance.kernel.errors import InvariantViolation, invariant
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct


class Member(Struct, frozen=True):
    user_id: UserId
    email: str
    role: Role
    joined_at: datetime


class InviteStatus(enum.StrEnum):
    PENDING = "pending"
    EXPIRED = "expired"  # derived from the time, never stored
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class Invite(Struct, frozen=True):
    invite_id: InviteId
    email: str
    role: Role
    token_hash: str
    created_at: datetime
    expires_at: datetime
    invited_by: Actor
    status: InviteStatus = InviteStatus.PENDING  # stored: pending, accepted or revoked
    accepted_by: UserId | None = None


class ApiKey(Struct, frozen=True):
    api_key_id: ApiKeyId
    name: str
    role: Role
    key_hash: str
    prefix: str
    created_at: datetime
    created_by: Actor
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class OrgState(Struct, frozen=True):
    org_id: OrgId
    name: str
    created_at: datetime
    members: dict[UserId, Member] = msgspec.field(default_factory=dict)
    invites: dict[InviteId, Invite] = msgspec.field(default_factory=dict)
    api_keys: dict[ApiKeyId, ApiKey] = msgspec.field(default_factory=dict)
    deleted: bool = False


def owners(state: OrgState) -> list[UserId]:
    return [user_id for user_id, member in state.members.items() if member.role is Role.OWNER]


def member_by_email(state: OrgState, email: str) -> Member | None:
    for member in state.members.values():
        if member.email == email:
            return member
    return None


def invite_view(invite: Invite, now: datetime) -> InviteStatus:
    """The invite's status as seen at `now` (a pending invite past its expiry is expired)."""
    if invite.status is InviteStatus.PENDING and now >= invite.expires_at:
        return InviteStatus.EXPIRED
    return invite.status


def pending_invites(state: OrgState, now: datetime) -> list[Invite]:
    return [invite for invite in state.invites.values() if invite_view(invite, now) is InviteStatus.PENDING]


def key_usable(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or now < key.expires_at)


def usable_keys(state: OrgState, now: datetime) -> list[ApiKey]:
    return [key for key in state.api_keys.values() if key_usable(key, now)]


def evolve_org(state: OrgState | None, event: OrgEvent) -> OrgState:
    if isinstance(event, OrgCreated):
        invariant(state is None, "an organisation is created once")
        owner = Member(user_id=event.owner_id, email=event.owner_email, role=Role.OWNER, joined_at=event.at)
        return OrgState(org_id=event.org_id, name=event.name, created_at=event.at, members={owner.user_id: owner})
    current = present(state, "organisation events follow its creation")
    invariant(current.org_id == event.org_id, "organisation events apply to their own organisation")
    invariant(not current.deleted, "nothing happens to a deleted organisation")
    return _apply(current, event)


def _apply(state: OrgState, event: OrgEvent) -> OrgState:  # noqa: PLR0911 - one line per event kind
    replace = msgspec.structs.replace
    match event:
        case OrgRenamed(name=name):
            return replace(state, name=name)
        case OrgDeleted():
            return replace(state, deleted=True)
        case MemberInvited():
            return _invited(state, event)
        case InviteRevoked(invite_id=invite_id):
            return _set_invite(state, invite_id, status=InviteStatus.REVOKED, accepted_by=None)
        case InviteAccepted():
            return _accepted(state, event)
        case MemberRoleChanged(user_id=user_id, role=role):
            member = present(state.members.get(user_id), "only a member's role changes")
            return replace(state, members={**state.members, user_id: replace(member, role=role)})
        case MemberRemoved(user_id=user_id) | MemberLeft(user_id=user_id):
            invariant(user_id in state.members, "only a member leaves or is removed")
            return replace(state, members={k: v for k, v in state.members.items() if k != user_id})
        case ApiKeyCreated():
            return _key_created(state, event)
        case ApiKeyRevoked(api_key_id=api_key_id, at=at):
            key = present(state.api_keys.get(api_key_id), "only an existing key is revoked")
            invariant(key.revoked_at is None, "a key is revoked once")
            return replace(state, api_keys={**state.api_keys, api_key_id: replace(key, revoked_at=at)})
    raise InvariantViolation(f"unhandled organisation event {type(event).__name__}")


def _invited(state: OrgState, event: MemberInvited) -> OrgState:
    invariant(event.invite_id not in state.invites, "an invite id is used once")
    invite = Invite(
        invite_id=event.invite_id,
        email=event.email,
        role=event.role,
        token_hash=event.token_hash,
        created_at=event.at,
        expires_at=event.expires_at,
        invited_by=event.by,
    )
    return msgspec.structs.replace(state, invites={**state.invites, invite.invite_id: invite})


def _set_invite(state: OrgState, invite_id: InviteId, *, status: InviteStatus, accepted_by: UserId | None) -> OrgState:
    invite = present(state.invites.get(invite_id), "only an existing invite changes")
    invariant(invite.status is InviteStatus.PENDING, "only a pending invite is accepted or revoked")
    changed = msgspec.structs.replace(invite, status=status, accepted_by=accepted_by)
    return msgspec.structs.replace(state, invites={**state.invites, invite_id: changed})


def _accepted(state: OrgState, event: InviteAccepted) -> OrgState:
    invariant(event.user_id not in state.members, "a member joins once")
    spent = _set_invite(state, event.invite_id, status=InviteStatus.ACCEPTED, accepted_by=event.user_id)
    member = Member(user_id=event.user_id, email=event.email, role=event.role, joined_at=event.at)
    return msgspec.structs.replace(spent, members={**spent.members, event.user_id: member})


def _key_created(state: OrgState, event: ApiKeyCreated) -> OrgState:
    invariant(event.api_key_id not in state.api_keys, "an API key id is used once")
    key = ApiKey(
        api_key_id=event.api_key_id,
        name=event.name,
        role=event.role,
        key_hash=event.key_hash,
        prefix=event.prefix,
        created_at=event.at,
        created_by=event.by,
        expires_at=event.expires_at,
    )
    return msgspec.structs.replace(state, api_keys={**state.api_keys, key.api_key_id: key})
