"""The instance's identity settings: the signup mode and whether the setup token was spent.

One aggregate per instance (`aggregates.settings_ref()`); before its first event it is
`INITIAL_SETTINGS` (invite-only, token unspent). The setup token itself — its value and hash — is
the instance record's business (issue 2); the auth layer checks a presented token against it and,
if it matches, the principal is a `SetupTokenHolder`. This aggregate records that the token was
used, by which e-mail and for which user and organisation, so the token works exactly once — and
so a first signup that crashed half-way can be finished by presenting the same token and e-mail.

This module must never hold or compare the setup token.
"""

from __future__ import annotations

import enum
from datetime import datetime

from appliance.identity.domain.principals import (
    Actor,
    DecisionContext,
    SetupTokenHolder,
    actor_of,
    require_instance_admin,
)
from appliance.identity.domain.validation import normalise_email
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import Forbidden, PreconditionFailed, invariant
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct


class SignupMode(enum.StrEnum):
    INVITE_ONLY = "invite_only"
    OPEN = "open"


class SetupSpend(Struct, frozen=True):
    user_id: UserId
    org_id: OrgId
    email: str
    at: datetime


class SettingsState(Struct, frozen=True):
    signup_mode: SignupMode = SignupMode.INVITE_ONLY
    setup: SetupSpend | None = None


INITIAL_SETTINGS = SettingsState()


class SetupTokenSpent(DomainEvent, frozen=True):
    user_id: UserId
    org_id: OrgId
    email: str
    at: datetime
    by: Actor


class SignupModeChanged(DomainEvent, frozen=True):
    mode: SignupMode
    previous: SignupMode
    at: datetime
    by: Actor


SettingsEvent = SetupTokenSpent | SignupModeChanged


class SpendSetupToken(Struct, frozen=True):
    """Made only by `signup.plan_signup`, for the first user and organisation."""

    user_id: UserId
    org_id: OrgId
    email: str


class ChangeSignupMode(Struct, frozen=True):
    mode: SignupMode


SettingsCommand = SpendSetupToken | ChangeSignupMode


def setup_token_spent_for_another(state: SettingsState, email: str) -> bool:
    return state.setup is not None and state.setup.email != email


def decide_settings(state: SettingsState, command: SettingsCommand, ctx: DecisionContext) -> list[SettingsEvent]:
    if isinstance(command, SpendSetupToken):
        return _spend(state, command, ctx)
    require_instance_admin(ctx.principal)
    if command.mode is state.signup_mode:
        return []
    return [SignupModeChanged(mode=command.mode, previous=state.signup_mode, at=ctx.now, by=actor_of(ctx.principal))]


def _spend(state: SettingsState, command: SpendSetupToken, ctx: DecisionContext) -> list[SettingsEvent]:
    if not isinstance(ctx.principal, SetupTokenHolder):
        raise Forbidden("the setup token is required for the first signup")
    email = normalise_email(command.email)
    if state.setup is not None:
        if setup_token_spent_for_another(state, email):
            raise PreconditionFailed("the setup token has already been used")
        # The same first signup again, after a crash: nothing more to record.
        invariant(
            (state.setup.user_id, state.setup.org_id) == (command.user_id, command.org_id),
            "a resumed first signup reuses the recorded ids",
        )
        return []
    event = SetupTokenSpent(
        user_id=command.user_id, org_id=command.org_id, email=email, at=ctx.now, by=actor_of(ctx.principal)
    )
    return [event]


def evolve_settings(state: SettingsState, event: SettingsEvent) -> SettingsState:
    if isinstance(event, SetupTokenSpent):
        invariant(state.setup is None, "the setup token is spent once")
        spend = SetupSpend(user_id=event.user_id, org_id=event.org_id, email=event.email, at=event.at)
        return SettingsState(signup_mode=state.signup_mode, setup=spend)
    invariant(event.previous == state.signup_mode, "a mode change starts from the current mode")
    return SettingsState(signup_mode=event.mode, setup=state.setup)
