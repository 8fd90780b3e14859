"""OAuth / OIDC sign-in and linking: start a login at a configured provider, finish it at the
callback, and let a signed-in user confirm linking an external identity to their account.

`begin` makes the pending login (state, nonce, PKCE verifier — `auth.oidc`) and keeps it as a
single-use record in the one-time store (NATS KV) under its `state`; a signed-in caller starting
it records who they are (`link_user_id`). `complete` takes that record back exactly once, lets the
provider client check the callback and the ID token, and asks `link_decision` what it means:

* identity already linked → sign in as that account;
* a signed-in user started it to link → only if the provider verified the e-mail, and only after
  the user confirms while still signed in: the callback answers `confirm` with a single-use
  `link_id`, and `confirm_link` (called with the user's own bearer token) links it;
* an account already uses the e-mail, nobody signed in → refused: its owner must sign in and link
  (never a silent takeover by e-mail);
* nothing matches → a new passwordless account, when signups are open and the e-mail is verified.

This module must never link without both a verified e-mail and the signed-in user's confirmation,
and never keep a provider token.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Literal

from appliance.identity.auth.oidc import (
    ExternalIdentity,
    FederatedLogin,
    LinkOutcome,
    PendingLogin,
    check_state_param,
    link_decision,
)
from appliance.identity.auth.oidc_login import LOGIN_TTL_S
from appliance.identity.domain.aggregates import reservation_ref, user_ref
from appliance.identity.domain.principals import UserPrincipal
from appliance.identity.domain.reservation import (
    ReleaseReason,
    ReleaseValue,
    ReservationKind,
    ReserveValue,
    external_value,
    holder,
)
from appliance.identity.domain.session import SignInMethod
from appliance.identity.domain.signup import ExternalCredential
from appliance.identity.domain.user_commands import LinkExternalIdentity
from appliance.identity.domain.user_state import UserState
from appliance.identity.domain.validation import normalise_email
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.login import sign_in, user_by_email
from appliance.identity.workflows.sessions import ClientInfo, SessionTokens
from appliance.identity.workflows.signup import sign_up_external
from appliance.identity.workflows.store import RESERVATION, USER, IdentityPorts, execute, load_ref
from appliance.identity.workflows.users import UserChange, run_user_command
from appliance.instance.domain import SignupMode
from appliance.instance.service import load_instance
from appliance.kernel.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed, Unauthenticated
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct, from_json, to_json

LINK_TTL_S = 600
LINK_ID_BYTES = 24  # 32 base64url characters: unguessable, and a valid one-time key
CALLBACK_PARAMS_MAX = 16


class PendingLink(Struct, frozen=True):
    """An identity a signed-in user may link, waiting for their confirmation."""

    provider: str
    subject: str
    issuer: str
    email: str | None
    email_verified: bool
    user_id: UserId
    expires_at: datetime


class CallbackResult(Struct, frozen=True):
    outcome: Literal["signed_in", "signed_up", "confirm"]
    reason: str
    tokens: SessionTokens | None = None
    link_id: str | None = None
    provider: str | None = None
    email: str | None = None


def provider(identity: IdentityServices, name: str) -> FederatedLogin:
    login = identity.federated.get(name)
    if login is None:
        raise NotFound(f"no identity provider named {name[:40]!r} is configured")
    return login


async def begin(identity: IdentityServices, name: str, link_user_id: UserId | None) -> tuple[str, PendingLogin]:
    """The provider's authorization URL for a new pending login, kept until its callback."""
    redirect = await provider(identity, name).begin(link_user_id=link_user_id)
    await identity.pending.put(redirect.pending.state, to_json(redirect.pending), ttl_s=LOGIN_TTL_S)
    return redirect.url, redirect.pending


async def _holder_of(ports: IdentityPorts, external: ExternalIdentity) -> UserId | None:
    value = external_value(external.provider, external.subject)
    reservation = await load_ref(ports.store, RESERVATION, reservation_ref(ReservationKind.EXTERNAL, value))
    return holder(reservation.state)


async def _email_owner(ports: IdentityPorts, email: str | None) -> UserState | None:
    if email is None:
        return None
    try:
        normalised = normalise_email(email)
    except InvalidInput:
        return None  # an address we could never have registered
    return await user_by_email(ports, normalised)


async def complete(
    ports: IdentityPorts, identity: IdentityServices, name: str, callback: dict[str, str], client: ClientInfo
) -> CallbackResult:
    login = provider(identity, name)
    if len(callback) > CALLBACK_PARAMS_MAX:
        raise InvalidInput("too many callback parameters")
    raw = await identity.pending.take(check_state_param(callback))
    if raw is None:
        raise Unauthenticated("unknown, expired or already used login; start again")
    pending = from_json(raw, PendingLogin, what="pending login")
    external = await login.complete(pending, callback)
    owner = await _email_owner(ports, external.email)
    decision = link_decision(
        identity=external,
        linked_user_id=await _holder_of(ports, external),
        email_owner_id=None if owner is None else owner.user_id,
        logged_in_user_id=pending.link_user_id,
        confirmed=False,
    )
    match decision.outcome:
        case LinkOutcome.SIGN_IN if decision.user_id is not None:
            user = await _user(ports, decision.user_id)
            tokens = await sign_in(ports, identity, user, SignInMethod.OIDC, client)
            return CallbackResult(outcome="signed_in", reason=decision.reason, tokens=tokens)
        case LinkOutcome.CONFIRM if decision.user_id is not None:
            link_id = await _remember_link(ports, identity, external, decision.user_id)
            return CallbackResult(
                outcome="confirm", reason=decision.reason, link_id=link_id, provider=name, email=external.email
            )
        case LinkOutcome.NO_ACCOUNT:
            return await _open_account(ports, identity, external, client)
        case LinkOutcome.LOG_IN_TO_LINK:
            raise PreconditionFailed(decision.reason)
    raise Forbidden(decision.reason)


async def _user(ports: IdentityPorts, user_id: UserId) -> UserState:
    state: UserState | None = (await load_ref(ports.store, USER, user_ref(user_id))).state
    if state is None:
        raise NotFound("user not found")
    return state


async def _remember_link(
    ports: IdentityPorts, identity: IdentityServices, external: ExternalIdentity, user_id: UserId
) -> str:
    link_id = secrets.token_urlsafe(LINK_ID_BYTES)
    record = PendingLink(
        provider=external.provider,
        subject=external.subject,
        issuer=external.issuer,
        email=external.email,
        email_verified=external.email_verified,
        user_id=user_id,
        expires_at=ports.clock.now() + timedelta(seconds=LINK_TTL_S),
    )
    await identity.pending.put(link_id, to_json(record), ttl_s=LINK_TTL_S)
    return link_id


async def _open_account(
    ports: IdentityPorts, identity: IdentityServices, external: ExternalIdentity, client: ClientInfo
) -> CallbackResult:
    instance = (await load_instance(ports.store)).state
    if instance.signup_mode is not SignupMode.OPEN:
        raise Forbidden("no account uses this identity, and this instance accepts new accounts by invite only")
    if external.email is None or not external.email_verified:
        raise Forbidden("the provider has not verified this identity's e-mail, so it cannot open an account")
    credential = ExternalCredential(provider=external.provider, subject=external.subject, email_verified=True)
    result = await sign_up_external(
        ports, identity, credential, normalise_email(external.email), external.name or "", client
    )
    return CallbackResult(
        outcome="signed_up", reason="a new account was opened for this identity", tokens=result.tokens
    )


async def confirm_link(
    ports: IdentityPorts, identity: IdentityServices, principal: UserPrincipal, name: str, link_id: object
) -> UserChange:
    """The signed-in user who started the link confirms it: the identity is reserved and linked."""
    provider(identity, name)
    if not isinstance(link_id, str):
        raise InvalidInput("link_id must be the id from the callback reply", field="link_id")
    raw = await identity.pending.take(link_id)
    record = None if raw is None else from_json(raw, PendingLink, what="pending link")
    if record is None or record.provider != name or ports.clock.now() >= record.expires_at:
        raise NotFound("no such link waits for confirmation; start again")
    if record.user_id != principal.user_id:
        raise NotFound("no such link waits for confirmation; start again")
    external = ExternalIdentity(
        provider=record.provider,
        issuer=record.issuer,
        subject=record.subject,
        email=record.email,
        email_verified=record.email_verified,
        name=None,
    )
    decision = link_decision(
        identity=external,
        linked_user_id=await _holder_of(ports, external),
        email_owner_id=None,
        logged_in_user_id=principal.user_id,
        confirmed=True,
    )
    if decision.outcome is LinkOutcome.SIGN_IN:
        raise PreconditionFailed("this identity is already linked to your account")
    if decision.outcome is not LinkOutcome.LINK:
        raise Forbidden(decision.reason)
    value = external_value(record.provider, record.subject)
    ref = reservation_ref(ReservationKind.EXTERNAL, value)
    reserve = ReserveValue(kind=ReservationKind.EXTERNAL, value=value, user_id=principal.user_id)
    reserved = await execute(ports, RESERVATION, ref, reserve, principal)
    command = LinkExternalIdentity(
        user_id=principal.user_id,
        provider=record.provider,
        subject=record.subject,
        email=record.email,
        email_verified=record.email_verified,
    )
    try:
        return await run_user_command(ports, principal, command, principal.user_id)
    except Exception:
        if reserved.events:  # the account refused it (limit): free the identity again
            release = ReleaseValue(
                kind=ReservationKind.EXTERNAL,
                value=value,
                user_id=principal.user_id,
                reason=ReleaseReason.IDENTITY_UNLINKED,
            )
            await execute(ports, RESERVATION, ref, release, principal)
        raise
