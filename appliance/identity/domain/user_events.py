"""Events of the user aggregate (platform scope, `platform.identity.user.<user id>`).

Every event names the user it concerns, when (`at`) and who did it (`by`), so that an audit
reader needs nothing else. Secret material appears only as hashes (`password_hash`,
`token_hash`), and the audit view (`events.audit_view`) drops even those.

This module must never change the shape of a stored event in place: a new field gets a default,
and anything else is a new `schema_version` with an upcaster.
"""

from __future__ import annotations

import enum
from datetime import datetime

from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.principals import Actor
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.ids import UserId


class SignupRouteKind(enum.StrEnum):
    SETUP_TOKEN = "setup_token"  # noqa: S105 - names a route, holds no secret
    INVITE = "invite"
    OPEN = "open"


class PasswordChangeVia(enum.StrEnum):
    SELF = "self"
    RESET_TOKEN = "reset_token"  # noqa: S105 - names a route, holds no secret


class UserRegistered(DomainEvent, frozen=True):
    user_id: UserId
    email: str
    display_name: str
    password_hash: str | None
    instance_admin: bool
    route: SignupRouteKind
    at: datetime
    by: Actor


class DisplayNameChanged(DomainEvent, frozen=True):
    user_id: UserId
    display_name: str
    previous: str
    at: datetime
    by: Actor


class PasswordChanged(DomainEvent, frozen=True):
    user_id: UserId
    password_hash: str
    via: PasswordChangeVia
    at: datetime
    by: Actor


class PasswordResetIssued(DomainEvent, frozen=True):
    user_id: UserId
    token_hash: str
    expires_at: datetime
    at: datetime
    by: Actor


class UserDisabled(DomainEvent, frozen=True):
    user_id: UserId
    at: datetime
    by: Actor


class UserEnabled(DomainEvent, frozen=True):
    user_id: UserId
    at: datetime
    by: Actor


class InstanceAdminGranted(DomainEvent, frozen=True):
    user_id: UserId
    at: datetime
    by: Actor


class InstanceAdminRevoked(DomainEvent, frozen=True):
    user_id: UserId
    at: datetime
    by: Actor


class PasskeyRegistered(DomainEvent, frozen=True):
    user_id: UserId
    passkey_id: PasskeyId
    credential_id: bytes
    public_key: bytes
    sign_count: int
    name: str
    transports: tuple[str, ...]
    aaguid: str | None
    at: datetime
    by: Actor


class PasskeyUsed(DomainEvent, frozen=True):
    user_id: UserId
    passkey_id: PasskeyId
    sign_count: int
    at: datetime
    by: Actor


class PasskeyRemoved(DomainEvent, frozen=True):
    user_id: UserId
    passkey_id: PasskeyId
    name: str
    at: datetime
    by: Actor


class ExternalIdentityLinked(DomainEvent, frozen=True):
    user_id: UserId
    provider: str
    subject: str
    email: str | None
    at: datetime
    by: Actor


class ExternalIdentityUnlinked(DomainEvent, frozen=True):
    user_id: UserId
    provider: str
    subject: str
    at: datetime
    by: Actor


UserEvent = (
    UserRegistered
    | DisplayNameChanged
    | PasswordChanged
    | PasswordResetIssued
    | UserDisabled
    | UserEnabled
    | InstanceAdminGranted
    | InstanceAdminRevoked
    | PasskeyRegistered
    | PasskeyUsed
    | PasskeyRemoved
    | ExternalIdentityLinked
    | ExternalIdentityUnlinked
)
