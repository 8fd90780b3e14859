"""The user aggregate's state and `evolve_user`, which folds user events into it.

A user has an e-mail (normalised, unique through its reservation), a display name, an optional
argon2id password hash (produced by `auth.passwords`, never here), a status, the instance-admin
flag, registered passkeys, linked external identities, and at most one outstanding password-reset
token (its hash and expiry: issuing a new one replaces the old, so only the latest printed token
works).

States are frozen structs holding dicts; `evolve_user` never mutates the state it is given — it
returns a new one whose dicts are fresh copies — so a state read by a `decide` function is never
changed behind its back. `evolve_user` never fails on a valid history; an event that does not fit
is a bug and raises `InvariantViolation`.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from appliance.identity.domain.checks import present
from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.principals import Actor
from appliance.identity.domain.user_events import (
    DisplayNameChanged,
    ExternalIdentityLinked,
    ExternalIdentityUnlinked,
    InstanceAdminGranted,
    InstanceAdminRevoked,
    PasskeyRegistered,
    PasskeyRemoved,
    PasskeyUsed,
    PasswordChanged,
    PasswordResetIssued,
    UserDisabled,
    UserEnabled,
    UserEvent,
    UserRegistered,
)
from appliance.kernel.errors import InvariantViolation, invariant
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Passkey(Struct, frozen=True):
    passkey_id: PasskeyId
    credential_id: bytes
    public_key: bytes
    sign_count: int
    name: str
    transports: tuple[str, ...]
    aaguid: str | None
    created_at: datetime
    last_used_at: datetime | None = None


class LinkedIdentity(Struct, frozen=True):
    provider: str
    subject: str
    email: str | None
    linked_at: datetime


class ResetToken(Struct, frozen=True):
    token_hash: str
    expires_at: datetime
    issued_at: datetime
    issued_by: Actor


class UserState(Struct, frozen=True):
    user_id: UserId
    email: str
    display_name: str
    password_hash: str | None
    status: UserStatus
    instance_admin: bool
    created_at: datetime
    passkeys: dict[PasskeyId, Passkey] = msgspec.field(default_factory=dict)
    # Keyed by `identity_key(provider, subject)`.
    identities: dict[str, LinkedIdentity] = msgspec.field(default_factory=dict)
    reset: ResetToken | None = None

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE


def identity_key(provider: str, subject: str) -> str:
    # Same spelling as reservation.external_value, without re-validating stored values.
    return f"{provider}:{subject}"


def credential_count(state: UserState) -> int:
    """How many independent ways the user has to sign in."""
    return int(state.password_hash is not None) + len(state.passkeys) + len(state.identities)


def passkey_by_credential(state: UserState, credential_id: bytes) -> Passkey | None:
    for passkey in state.passkeys.values():
        if passkey.credential_id == credential_id:
            return passkey
    return None


def evolve_user(state: UserState | None, event: UserEvent) -> UserState:
    if isinstance(event, UserRegistered):
        invariant(state is None, "a user is registered once")
        return _registered(event)
    current = present(state, "user events follow the registration")
    invariant(current.user_id == event.user_id, "user events apply to their own user")
    return _apply(current, event)


def _registered(event: UserRegistered) -> UserState:
    return UserState(
        user_id=event.user_id,
        email=event.email,
        display_name=event.display_name,
        password_hash=event.password_hash,
        status=UserStatus.ACTIVE,
        instance_admin=event.instance_admin,
        created_at=event.at,
    )


def _apply(state: UserState, event: UserEvent) -> UserState:  # noqa: PLR0911 - one line per event kind
    replace = msgspec.structs.replace
    match event:
        case DisplayNameChanged(display_name=name):
            return replace(state, display_name=name)
        case PasswordChanged(password_hash=password_hash):
            return replace(state, password_hash=password_hash, reset=None)
        case PasswordResetIssued():
            token = ResetToken(
                token_hash=event.token_hash,
                expires_at=event.expires_at,
                issued_at=event.at,
                issued_by=event.by,
            )
            return replace(state, reset=token)
        case UserDisabled():
            return replace(state, status=UserStatus.DISABLED)
        case UserEnabled():
            return replace(state, status=UserStatus.ACTIVE)
        case InstanceAdminGranted():
            return replace(state, instance_admin=True)
        case InstanceAdminRevoked():
            return replace(state, instance_admin=False)
        case PasskeyRegistered():
            return _passkey_registered(state, event)
        case PasskeyUsed():
            return _passkey_used(state, event)
        case PasskeyRemoved(passkey_id=passkey_id):
            invariant(passkey_id in state.passkeys, "only a registered passkey is removed")
            return replace(state, passkeys={k: v for k, v in state.passkeys.items() if k != passkey_id})
        case ExternalIdentityLinked():
            link = LinkedIdentity(provider=event.provider, subject=event.subject, email=event.email, linked_at=event.at)
            return replace(state, identities={**state.identities, identity_key(event.provider, event.subject): link})
        case ExternalIdentityUnlinked():
            key = identity_key(event.provider, event.subject)
            invariant(key in state.identities, "only a linked identity is unlinked")
            return replace(state, identities={k: v for k, v in state.identities.items() if k != key})
    raise InvariantViolation(f"unhandled user event {type(event).__name__}")


def _passkey_registered(state: UserState, event: PasskeyRegistered) -> UserState:
    invariant(event.passkey_id not in state.passkeys, "a passkey id is registered once")
    invariant(passkey_by_credential(state, event.credential_id) is None, "a credential is registered once")
    passkey = Passkey(
        passkey_id=event.passkey_id,
        credential_id=event.credential_id,
        public_key=event.public_key,
        sign_count=event.sign_count,
        name=event.name,
        transports=event.transports,
        aaguid=event.aaguid,
        created_at=event.at,
    )
    return msgspec.structs.replace(state, passkeys={**state.passkeys, event.passkey_id: passkey})


def _passkey_used(state: UserState, event: PasskeyUsed) -> UserState:
    passkey = present(state.passkeys.get(event.passkey_id), "only a registered passkey is used")
    used = msgspec.structs.replace(passkey, sign_count=event.sign_count, last_used_at=event.at)
    return msgspec.structs.replace(state, passkeys={**state.passkeys, event.passkey_id: used})
