"""The sign-in aggregate (`platform.identity.session.<session id>`): the audit record of one
sign-in attempt and, when it succeeded, of the session it opened and how that session ended.

The live session — its refresh-token hash, idle and absolute expiry — is kept in the session
store (NATS KV) by the auth layer; this aggregate records what an auditor asks about: who signed
in, how, when, which attempts failed and why, and who ended a session and why. Each attempt gets
a fresh session id (`generated.session_id`), so a failed attempt is an aggregate of one event and
a successful one has at most two. Attempts refused by the rate limiter are not recorded (they are
counted in metrics instead), so a flood of requests cannot flood the event log.

`decide_sign_in` reads the user's state (or `None` when no account matched) and the verdict of
the credential check done by `auth`; it always decides exactly one event, `SignedIn` or
`SignInFailed`, which the workflow appends before answering — `sign_in_granted` says which.
A wrong credential is reported as such even for a disabled account, so the reply to someone
without the password never reveals whether the account is disabled.

`session_sweep(event)` says which of a user's live sessions a user event ends (disabling ends all;
a credential change ends all but the current one); the workflow then deletes them from the
session store and records a `SessionEnded` for each.

This module must never verify a credential.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from appliance.identity.domain.checks import present
from appliance.identity.domain.principals import (
    Actor,
    Anonymous,
    DecisionContext,
    UserPrincipal,
    actor_of,
    is_instance_admin,
    need,
)
from appliance.identity.domain.user_events import (
    ExternalIdentityUnlinked,
    PasskeyRemoved,
    PasswordChanged,
    PasswordChangeVia,
    UserDisabled,
)
from appliance.identity.domain.user_state import UserState
from appliance.identity.domain.validation import normalise_email
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import NotFound, invariant
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import Struct


class SignInMethod(enum.StrEnum):
    PASSWORD = "password"  # noqa: S105 - names a method, holds no secret
    PASSKEY = "passkey"
    OIDC = "oidc"


class SignInFailure(enum.StrEnum):
    UNKNOWN_ACCOUNT = "unknown_account"
    BAD_CREDENTIALS = "bad_credentials"
    ACCOUNT_DISABLED = "account_disabled"


class SessionEndReason(enum.StrEnum):
    LOGOUT = "logout"
    REVOKED = "revoked"
    REFRESH_REUSE = "refresh_reuse"
    USER_DISABLED = "user_disabled"
    CREDENTIALS_CHANGED = "credentials_changed"


class SignedIn(DomainEvent, frozen=True):
    session_id: SessionId
    user_id: UserId
    email: str
    method: SignInMethod
    at: datetime
    by: Actor


class SignInFailed(DomainEvent, frozen=True):
    session_id: SessionId
    email: str | None
    user_id: UserId | None
    method: SignInMethod
    reason: SignInFailure
    at: datetime
    by: Actor


class SessionEnded(DomainEvent, frozen=True):
    session_id: SessionId
    user_id: UserId
    reason: SessionEndReason
    at: datetime
    by: Actor


SessionEvent = SignedIn | SignInFailed | SessionEnded


class RecordSignIn(Struct, frozen=True):
    """One sign-in attempt; needs `generated.session_id`. `email` is what was typed, if anything."""

    email: str | None
    method: SignInMethod
    credential_verified: bool


class EndSession(Struct, frozen=True):
    session_id: SessionId
    reason: SessionEndReason


class SessionState(Struct, frozen=True):
    session_id: SessionId
    user_id: UserId | None
    email: str | None
    method: SignInMethod
    started_at: datetime
    failure: SignInFailure | None = None
    ended_at: datetime | None = None
    end_reason: SessionEndReason | None = None

    @property
    def open(self) -> bool:
        return self.failure is None and self.ended_at is None


class SessionSweep(Struct, frozen=True):
    """Which of a user's sessions a change ends: all, or all but the one that made the change."""

    reason: SessionEndReason
    keep_current: bool


def session_sweep(event: DomainEvent) -> SessionSweep | None:
    """The sessions a user event ends (the issue's rule), or `None` when it ends none.

    Disabling an account ends all its sessions; a change of credentials (new password, removed
    passkey, unlinked identity) ends every session but the one that made it. A password set with a
    reset token was not made from a session, so it ends them all.
    """
    match event:
        case UserDisabled():
            return SessionSweep(reason=SessionEndReason.USER_DISABLED, keep_current=False)
        case PasswordChanged(via=via):
            return SessionSweep(reason=SessionEndReason.CREDENTIALS_CHANGED, keep_current=via is PasswordChangeVia.SELF)
        case PasskeyRemoved() | ExternalIdentityUnlinked():
            return SessionSweep(reason=SessionEndReason.CREDENTIALS_CHANGED, keep_current=True)
    return None


def sign_in_granted(events: list[SessionEvent]) -> bool:
    return len(events) == 1 and isinstance(events[0], SignedIn)


def decide_sign_in(user: UserState | None, command: RecordSignIn, ctx: DecisionContext) -> list[SessionEvent]:
    session_id = need(ctx.generated.session_id, "session_id")
    typed = None if command.email is None else normalise_email(command.email)
    by = actor_of(ctx.principal)
    failure = _failure(user, command)
    if failure is not None:
        email = typed if user is None else user.email
        user_id = None if user is None else user.user_id
        return [
            SignInFailed(
                session_id=session_id,
                email=email,
                user_id=user_id,
                method=command.method,
                reason=failure,
                at=ctx.now,
                by=by,
            )
        ]
    account = present(user, "a granted sign-in has an account")
    return [
        SignedIn(
            session_id=session_id,
            user_id=account.user_id,
            email=account.email,
            method=command.method,
            at=ctx.now,
            by=by,
        )
    ]


def _failure(user: UserState | None, command: RecordSignIn) -> SignInFailure | None:
    if user is None:
        return SignInFailure.UNKNOWN_ACCOUNT
    if not command.credential_verified:
        return SignInFailure.BAD_CREDENTIALS
    if not user.active:
        return SignInFailure.ACCOUNT_DISABLED
    return None


def decide_session(state: SessionState | None, command: EndSession, ctx: DecisionContext) -> list[SessionEvent]:
    """End a session: its own user (any reason), an instance admin or the operator (any reason),
    or — for `refresh_reuse` only — whoever presented the session's spent refresh token."""
    if state is None or state.failure is not None or state.user_id is None:
        raise NotFound("session not found")
    invariant(state.session_id == command.session_id, "the workflow loaded the commanded session")
    principal = ctx.principal
    owner = isinstance(principal, UserPrincipal) and principal.user_id == state.user_id
    reuse = isinstance(principal, Anonymous) and command.reason is SessionEndReason.REFRESH_REUSE
    if not (owner or reuse or is_instance_admin(principal)):
        raise NotFound("session not found")
    if state.ended_at is not None:
        return []
    by = actor_of(principal)
    return [SessionEnded(session_id=state.session_id, user_id=state.user_id, reason=command.reason, at=ctx.now, by=by)]


def evolve_session(state: SessionState | None, event: SessionEvent) -> SessionState:
    match event:
        case SignedIn():
            invariant(state is None, "a session starts once")
            return SessionState(
                session_id=event.session_id,
                user_id=event.user_id,
                email=event.email,
                method=event.method,
                started_at=event.at,
            )
        case SignInFailed():
            invariant(state is None, "a failed attempt is the whole of its aggregate")
            return SessionState(
                session_id=event.session_id,
                user_id=event.user_id,
                email=event.email,
                method=event.method,
                started_at=event.at,
                failure=event.reason,
            )
        case SessionEnded():
            current = present(state, "a session ends after it started")
            invariant(current.open and current.user_id == event.user_id, "only an open session ends, once")
            return msgspec.structs.replace(current, ended_at=event.at, end_reason=event.reason)
