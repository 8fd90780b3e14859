"""The instance aggregate, pure: commands, events, decide and evolve.

There is exactly one instance per event store, at subject `platform.instance.settings.main`. It is
created on the first start with a one-time setup token (only its SHA-256 is recorded), renamed by
an instance administrator, and its setup token is spent when the first owner signs up.

It is the ONE source of truth for the instance-wide settings the identity context reads: whether
the setup token was spent (and for which user, organisation and e-mail, so that a first signup
that crashed half-way can be finished by presenting the same token and e-mail again) and the
signup mode (`invite_only` or `open`). The identity domain's signup plan takes this state as a fact.

Pure: no clock, no randomness, no I/O. Time and ids arrive in `Context`.
"""

from __future__ import annotations

import enum
import hmac
import unicodedata
from datetime import datetime

import msgspec

from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import InvalidInput, PreconditionFailed, Unauthenticated, invariant
from appliance.kernel.ids import InstanceId, OrgId, UserId
from appliance.kernel.structs import Struct

AGGREGATE_TYPE = "instance"
AGGREGATE_ID = "main"
NAME_CHARS_MAX = 64


class SignupMode(enum.StrEnum):
    INVITE_ONLY = "invite_only"
    OPEN = "open"


class InstanceInitialised(DomainEvent, frozen=True):
    instance_id: InstanceId
    name: str
    setup_token_sha256: str
    initialised_at: datetime


class InstanceRenamed(DomainEvent, frozen=True):
    name: str
    previous_name: str


class SetupTokenSpent(DomainEvent, frozen=True):
    spent_by: str
    # For whom: the first owner's ids and e-mail (absent in events written before identity existed).
    user_id: UserId | None = None
    org_id: OrgId | None = None
    email: str | None = None


class SignupModeChanged(DomainEvent, frozen=True):
    signup_mode: SignupMode


InstanceEvent = InstanceInitialised | InstanceRenamed | SetupTokenSpent | SignupModeChanged


class InitialiseInstance(Struct, frozen=True):
    instance_id: InstanceId
    name: str
    setup_token_sha256: str


class RenameInstance(Struct, frozen=True):
    name: str


class SpendSetupToken(Struct, frozen=True):
    """Spend the token for the first owner; presenting it again for the same e-mail resumes (no events)."""

    presented_token_sha256: str
    spent_by: str
    user_id: UserId | None = None
    org_id: OrgId | None = None
    email: str | None = None


class ChangeSignupMode(Struct, frozen=True):
    signup_mode: SignupMode


InstanceCommand = InitialiseInstance | RenameInstance | SpendSetupToken | ChangeSignupMode


class InstanceState(Struct, frozen=True):
    instance_id: InstanceId | None = None
    name: str = ""
    initialised_at: datetime | None = None
    setup_token_sha256: str = ""
    setup_spent: bool = False
    setup_user_id: UserId | None = None
    setup_org_id: OrgId | None = None
    setup_email: str | None = None
    signup_mode: SignupMode = SignupMode.INVITE_ONLY

    @property
    def exists(self) -> bool:
        return self.instance_id is not None


class Context(Struct, frozen=True):
    now: datetime


def validate_name(name: str) -> str:
    """Instance names: trimmed, 1-64 characters, no control characters."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not 1 <= len(cleaned) <= NAME_CHARS_MAX:
        raise InvalidInput(f"name must be 1 to {NAME_CHARS_MAX} characters", field="name")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InvalidInput("name must not contain control characters", field="name")
    return cleaned


def decide(state: InstanceState, command: InstanceCommand, ctx: Context) -> list[DomainEvent]:
    match command:
        case InitialiseInstance():
            if state.exists:
                raise PreconditionFailed("the instance is already initialised")
            return [
                InstanceInitialised(
                    instance_id=command.instance_id,
                    name=validate_name(command.name),
                    setup_token_sha256=command.setup_token_sha256,
                    initialised_at=ctx.now,
                )
            ]
        case _ if not state.exists:
            raise PreconditionFailed("the instance is not initialised")
        case RenameInstance():
            name = validate_name(command.name)
            return [] if name == state.name else [InstanceRenamed(name=name, previous_name=state.name)]
        case SpendSetupToken():
            return _spend(state, command)
        case ChangeSignupMode():
            return (
                [] if command.signup_mode == state.signup_mode else [SignupModeChanged(signup_mode=command.signup_mode)]
            )
    raise InvalidInput(f"unknown command {type(command).__name__}")


def _spend(state: InstanceState, command: SpendSetupToken) -> list[DomainEvent]:
    if not hmac.compare_digest(command.presented_token_sha256, state.setup_token_sha256):
        raise Unauthenticated("the setup token is not valid")
    if state.setup_spent:
        if command.email is not None and command.email == state.setup_email:
            # The same first signup again, after a crash: nothing more to record.
            invariant(
                (command.user_id, command.org_id) == (state.setup_user_id, state.setup_org_id),
                "a resumed first signup reuses the recorded ids",
            )
            return []
        raise Unauthenticated("the setup token has already been used")
    event = SetupTokenSpent(
        spent_by=command.spent_by, user_id=command.user_id, org_id=command.org_id, email=command.email
    )
    return [event]


def evolve(state: InstanceState, event: DomainEvent) -> InstanceState:
    match event:
        case InstanceInitialised():
            return InstanceState(
                instance_id=event.instance_id,
                name=event.name,
                initialised_at=event.initialised_at,
                setup_token_sha256=event.setup_token_sha256,
            )
        case InstanceRenamed():
            return _replace(state, name=event.name)
        case SetupTokenSpent():
            invariant(not state.setup_spent, "the setup token is spent once")
            return _replace(
                state,
                setup_spent=True,
                setup_user_id=event.user_id,
                setup_org_id=event.org_id,
                setup_email=event.email,
            )
        case SignupModeChanged():
            return _replace(state, signup_mode=event.signup_mode)
    invariant(False, f"instance cannot evolve with {type(event).__name__}")
    return state


def _replace(state: InstanceState, **changes: object) -> InstanceState:
    return msgspec.structs.replace(state, **changes)
