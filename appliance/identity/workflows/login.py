"""Signing in: password login, and the sign-in record every method (password, passkey, OIDC) writes.

Password login, in this order (the order is the security property):

  1. the e-mail is normalised (a malformed one cannot name an account: 400, nothing spent);
  2. rate limits, per client IP and per account, taken together (`ratelimit.acquire_all`) —
     BEFORE any hashing, so a flood of guesses costs the appliance no argon2 work (429);
  3. the account is found through its e-mail reservation, and the password checked in a worker
     thread, bounded (`PasswordHashing`); an unknown account or one without a password spends
     the same work (`verify_password_absent`), so timing does not reveal which e-mails exist;
  4. the attempt is recorded on a fresh sign-in aggregate (`SignedIn` or `SignInFailed`, decided
     by the domain), success or not, so the audit trail shows failures too;
  5. on success a session is opened in the store and tokens are issued.

A wrong password and an unknown account get the same answer. The right password for a disabled
account gets "disabled" (only someone who knows the password learns it).

This module must never log or keep a password, and never hash before the limits are taken.
"""

from __future__ import annotations

from appliance.eventstore.port import AppendResult
from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.domain.aggregates import reservation_ref, session_ref, user_ref
from appliance.identity.domain.principals import Anonymous, DecisionContext, Generated, Principal
from appliance.identity.domain.reservation import ReservationKind, holder
from appliance.identity.domain.session import RecordSignIn, SignInFailed, SignInFailure, SignInMethod, decide_sign_in
from appliance.identity.domain.user_state import UserState
from appliance.identity.domain.validation import normalise_email
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.sessions import ClientInfo, SessionTokens, open_session
from appliance.identity.workflows.store import RESERVATION, USER, IdentityPorts, append_events, load_ref, meta_for
from appliance.kernel.errors import Forbidden, Unauthenticated
from appliance.kernel.ids import SessionId

WRONG_CREDENTIALS = "the e-mail address or password is wrong"


async def user_by_email(ports: IdentityPorts, email: str) -> UserState | None:
    """The account holding `email` (already normalised), found through its reservation."""
    reservation = (await load_ref(ports.store, RESERVATION, reservation_ref(ReservationKind.EMAIL, email))).state
    user_id = holder(reservation)
    if user_id is None:
        return None
    state: UserState | None = (await load_ref(ports.store, USER, user_ref(user_id))).state
    return state


async def record_sign_in(
    ports: IdentityPorts,
    session_id: SessionId,
    user: UserState | None,
    command: RecordSignIn,
    principal: Principal,
) -> tuple[bool, AppendResult]:
    """Append the domain's verdict on one attempt; returns whether it was granted, and where it landed."""
    ctx = DecisionContext(now=ports.clock.now(), principal=principal, generated=Generated(session_id=session_id))
    events = decide_sign_in(user, command, ctx)
    appended = await append_events(
        ports,
        session_ref(session_id),
        events,
        aggregate_type="session",
        loaded_version=0,
        loaded_sequence=0,
        meta=meta_for(principal, ports.ids),
    )
    failure = events[0].reason if isinstance(events[0], SignInFailed) else None
    if failure is SignInFailure.ACCOUNT_DISABLED:
        raise Forbidden("this account is disabled")
    return failure is None, appended


async def sign_in(
    ports: IdentityPorts,
    identity: IdentityServices,
    user: UserState,
    method: SignInMethod,
    client: ClientInfo,
    *,
    email: str | None = None,
) -> SessionTokens:
    """Record a verified sign-in by any method and open its session."""
    session_id = ports.ids.new(SessionId)
    command = RecordSignIn(email=email or user.email, method=method, credential_verified=True)
    granted, _ = await record_sign_in(ports, session_id, user, command, Anonymous())
    if not granted:
        raise Unauthenticated(WRONG_CREDENTIALS)
    return await open_session(ports, identity, user.user_id, session_id, method, client)


async def log_in_with_password(
    ports: IdentityPorts, identity: IdentityServices, email_text: object, password: object, client: ClientInfo
) -> SessionTokens:
    email = normalise_email(email_text)
    acquire_all([(identity.login_ip_limiter, f"ip:{client.ip}"), (identity.login_account_limiter, f"account:{email}")])
    user = await user_by_email(ports, email)
    check = await identity.hashing.verify(None if user is None else user.password_hash, password_text(password))
    session_id = ports.ids.new(SessionId)
    command = RecordSignIn(email=email, method=SignInMethod.PASSWORD, credential_verified=check.ok)
    granted, _ = await record_sign_in(ports, session_id, user, command, Anonymous())
    if not granted or user is None:
        raise Unauthenticated(WRONG_CREDENTIALS)
    return await open_session(ports, identity, user.user_id, session_id, SignInMethod.PASSWORD, client)


def password_text(password: object) -> str:
    # A non-string never matches; the hasher still spends its work on a placeholder.
    return password if isinstance(password, str) else ""
