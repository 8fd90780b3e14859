"""The reservation aggregate: one unique value (an e-mail, a passkey credential id, an external
identity) held by at most one user.

Uniqueness across users cannot be decided inside any one user's aggregate, so each unique value
gets its own tiny aggregate (see `aggregates.reservation_ref`). Reserving appends to it with the
expected last sequence the workflow read — 0 for a value never seen — so of two concurrent
signups for the same address exactly one append succeeds; the other gets `ConcurrencyConflict`,
reloads, and is refused with `AlreadyExists`. The reservation also serves as the index from the
value to its holder: login by e-mail and usernameless passkey login load it to find the user.

An e-mail reservation also records the organisation planned at signup, so that a signup that
crashed half-way can be resumed with the same ids (see `signup`).

Reserving again for the same holder adds nothing (retries are harmless). A released value can be
reserved again. This module must never decide who may sign up: that is `signup.plan_signup`.
"""

from __future__ import annotations

import base64
import binascii
import enum
from datetime import datetime

from appliance.identity.domain.principals import (
    Actor,
    DecisionContext,
    Operator,
    UserPrincipal,
    actor_of,
    is_instance_admin,
    require_active,
)
from appliance.identity.domain.validation import (
    CREDENTIAL_ID_BYTES_MAX,
    check_bytes,
    check_external_subject,
    check_provider,
    normalise_email,
)
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, invariant
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct


class ReservationKind(enum.StrEnum):
    EMAIL = "email"
    PASSKEY = "passkey"
    EXTERNAL = "external"


class ReleaseReason(enum.StrEnum):
    PASSKEY_REMOVED = "passkey_removed"
    IDENTITY_UNLINKED = "identity_unlinked"
    OPERATOR = "operator"


_TAKEN = {
    ReservationKind.EMAIL: "an account with this e-mail address already exists",
    ReservationKind.PASSKEY: "this passkey is already registered to an account",
    ReservationKind.EXTERNAL: "this external identity is already linked to an account",
}


def passkey_value(credential_id: bytes) -> str:
    """The reservation value of a WebAuthn credential id: unpadded base64url."""
    raw = check_bytes(credential_id, field="credential_id", bytes_max=CREDENTIAL_ID_BYTES_MAX)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def external_value(provider: str, subject: str) -> str:
    """The reservation value of an external identity; providers never contain ':'."""
    return f"{check_provider(provider)}:{check_external_subject(subject)}"


def normalise_value(kind: ReservationKind, value: object) -> str:
    """Validate `value` for `kind` and return its one canonical spelling."""
    if kind is ReservationKind.EMAIL:
        return normalise_email(value)
    if not isinstance(value, str):
        raise InvalidInput(f"a {kind.value} reservation value must be a string", field="value")
    if kind is ReservationKind.PASSKEY:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise InvalidInput("credential id must be base64url", field="credential_id") from None
        canonical = passkey_value(raw)
        if canonical != value:
            raise InvalidInput("credential id must be unpadded base64url", field="credential_id")
        return canonical
    provider, _, subject = value.partition(":")
    return external_value(provider, subject)


class ReservationState(Struct, frozen=True):
    kind: ReservationKind
    value: str
    user_id: UserId | None  # None once released
    org_id: OrgId | None = None
    reserved_at: datetime | None = None


class ValueReserved(DomainEvent, frozen=True):
    kind: ReservationKind
    value: str
    user_id: UserId
    org_id: OrgId | None
    at: datetime
    by: Actor


class ValueReleased(DomainEvent, frozen=True):
    kind: ReservationKind
    value: str
    user_id: UserId
    reason: ReleaseReason
    at: datetime
    by: Actor


ReservationEvent = ValueReserved | ValueReleased


class ReserveValue(Struct, frozen=True):
    """Hold `value` for `user_id`. E-mail reservations are made only by `signup.plan_signup`."""

    kind: ReservationKind
    value: str
    user_id: UserId
    org_id: OrgId | None = None


class ReleaseValue(Struct, frozen=True):
    kind: ReservationKind
    value: str
    user_id: UserId
    reason: ReleaseReason


ReservationCommand = ReserveValue | ReleaseValue


def holder(state: ReservationState | None) -> UserId | None:
    return None if state is None else state.user_id


def decide_reservation(
    state: ReservationState | None, command: ReservationCommand, ctx: DecisionContext
) -> list[ReservationEvent]:
    value = normalise_value(command.kind, command.value)
    invariant(
        state is None or (state.kind, state.value) == (command.kind, value),
        "the workflow loaded the reservation of this value",
    )
    if isinstance(command, ReserveValue):
        return _reserve(state, command, value, ctx)
    return _release(state, command, value, ctx)


def _reserve(
    state: ReservationState | None, command: ReserveValue, value: str, ctx: DecisionContext
) -> list[ReservationEvent]:
    if command.kind is not ReservationKind.EMAIL:
        _require_self(command.user_id, ctx)
    current = holder(state)
    if current == command.user_id:
        return []
    if current is not None:
        raise AlreadyExists(_TAKEN[command.kind])
    event = ValueReserved(
        kind=command.kind,
        value=value,
        user_id=command.user_id,
        org_id=command.org_id,
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    return [event]


def _release(
    state: ReservationState | None, command: ReleaseValue, value: str, ctx: DecisionContext
) -> list[ReservationEvent]:
    if not is_instance_admin(ctx.principal):
        _require_self(command.user_id, ctx)
    if holder(state) != command.user_id:
        raise NotFound(f"this {command.kind.value} is not held by that user")
    event = ValueReleased(
        kind=command.kind,
        value=value,
        user_id=command.user_id,
        reason=command.reason,
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    return [event]


def _require_self(user_id: UserId, ctx: DecisionContext) -> None:
    require_active(ctx.principal)
    if isinstance(ctx.principal, Operator):
        return
    if not isinstance(ctx.principal, UserPrincipal) or ctx.principal.user_id != user_id:
        raise Forbidden("only the account's own user may do this")


def evolve_reservation(state: ReservationState | None, event: ReservationEvent) -> ReservationState:
    if isinstance(event, ValueReserved):
        invariant(holder(state) is None, "a value is reserved only while free")
        return ReservationState(
            kind=event.kind,
            value=event.value,
            user_id=event.user_id,
            org_id=event.org_id,
            reserved_at=event.at,
        )
    invariant(state is not None and state.user_id == event.user_id, "only the holder's reservation is released")
    return ReservationState(kind=event.kind, value=event.value, user_id=None)
