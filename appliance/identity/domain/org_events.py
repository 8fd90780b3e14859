"""Events of the organisation aggregate (org scope, `org.<org id>.identity.org.<org id>`).

Each event names the organisation, the member, invite or key it concerns, when (`at`) and who
did it (`by`). Role changes carry the role before and after; removals carry the e-mail and the
role the member held, so the audit trail reads without joining anything. Secrets appear only as
hashes (`token_hash`, `key_hash`).

This module must never change the shape of a stored event in place.
"""

from __future__ import annotations

from datetime import datetime

from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.domain.principals import Actor
from appliance.identity.domain.rbac import Role
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.ids import OrgId, UserId


class OrgCreated(DomainEvent, frozen=True):
    org_id: OrgId
    name: str
    owner_id: UserId
    owner_email: str
    at: datetime
    by: Actor


class OrgRenamed(DomainEvent, frozen=True):
    org_id: OrgId
    name: str
    previous: str
    at: datetime
    by: Actor


class OrgDeleted(DomainEvent, frozen=True):
    org_id: OrgId
    name: str
    at: datetime
    by: Actor


class MemberInvited(DomainEvent, frozen=True):
    org_id: OrgId
    invite_id: InviteId
    email: str
    role: Role
    token_hash: str
    expires_at: datetime
    at: datetime
    by: Actor


class InviteRevoked(DomainEvent, frozen=True):
    org_id: OrgId
    invite_id: InviteId
    email: str
    at: datetime
    by: Actor


class InviteAccepted(DomainEvent, frozen=True):
    """The invited person joined: the invite is spent and they are a member with its role."""

    org_id: OrgId
    invite_id: InviteId
    user_id: UserId
    email: str
    role: Role
    at: datetime
    by: Actor


class MemberRoleChanged(DomainEvent, frozen=True):
    org_id: OrgId
    user_id: UserId
    email: str
    role: Role
    previous: Role
    at: datetime
    by: Actor


class MemberRemoved(DomainEvent, frozen=True):
    org_id: OrgId
    user_id: UserId
    email: str
    role: Role
    at: datetime
    by: Actor


class MemberLeft(DomainEvent, frozen=True):
    org_id: OrgId
    user_id: UserId
    email: str
    role: Role
    at: datetime
    by: Actor


class ApiKeyCreated(DomainEvent, frozen=True):
    org_id: OrgId
    api_key_id: ApiKeyId
    name: str
    role: Role
    key_hash: str
    prefix: str
    expires_at: datetime | None
    at: datetime
    by: Actor


class ApiKeyRevoked(DomainEvent, frozen=True):
    org_id: OrgId
    api_key_id: ApiKeyId
    name: str
    at: datetime
    by: Actor


OrgEvent = (
    OrgCreated
    | OrgRenamed
    | OrgDeleted
    | MemberInvited
    | InviteRevoked
    | InviteAccepted
    | MemberRoleChanged
    | MemberRemoved
    | MemberLeft
    | ApiKeyCreated
    | ApiKeyRevoked
)
