"""Passkeys (WebAuthn): register one on the signed-in account, sign in with one (with or without a
user name), remove one.

Each ceremony is two requests. The options request makes a challenge (`auth.webauthn`) and keeps
it as a single-use record with a time to live in the one-time store (NATS KV); the verify request
takes it back — exactly once, even across appliances — and hands the authenticator's answer to
the `webauthn` library through `auth.webauthn`.

A credential id belongs to one account: registering reserves it (the domain's reservation
aggregate) before the passkey is added to the user, and removing a passkey releases it. Signing
in finds the account through that same reservation, so a usernameless login needs nothing but
the credential the authenticator chose. The new signature counter is stored through the domain
(`RecordPasskeyUse`), which refuses a counter that went backwards (a cloned authenticator).
Every sign-in attempt that names a known passkey is recorded, success or failure.

This module must never trust a credential before the library verified it, or store a challenge
anywhere but the one-time store.
"""

from __future__ import annotations

from typing import Any

from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.auth.webauthn import (
    CeremonyKind,
    PasskeyDescriptor,
    PendingChallenge,
    StoredPasskey,
    authentication_options,
    check_challenge_id,
    new_challenge,
    read_assertion,
    redeem_challenge,
    registration_options,
    verify_authentication,
    verify_registration,
)
from appliance.identity.auth.webauthn_challenges import CHALLENGE_TTL_S
from appliance.identity.auth.webauthn_input import CredentialInput
from appliance.identity.domain.aggregates import reservation_ref, user_ref
from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.principals import Anonymous, Generated, UserPrincipal
from appliance.identity.domain.reservation import (
    ReleaseReason,
    ReleaseValue,
    ReservationKind,
    ReserveValue,
    holder,
    passkey_value,
)
from appliance.identity.domain.session import RecordSignIn, SignInMethod
from appliance.identity.domain.user_commands import RecordPasskeyUse, RegisterPasskey, RemovePasskey
from appliance.identity.domain.user_state import UserState, passkey_by_credential
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.login import record_sign_in, sign_in, user_by_email
from appliance.identity.workflows.sessions import ClientInfo, SessionTokens
from appliance.identity.workflows.store import RESERVATION, USER, IdentityPorts, execute, load_ref
from appliance.identity.workflows.users import UserChange, run_user_command
from appliance.kernel.errors import NotFound, Unauthenticated
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import Struct, from_json, to_json

PASSKEY_NOT_RECOGNISED = "this passkey is not registered here"


class CeremonyOptions(Struct, frozen=True):
    """What the browser needs: the id to send back, and the options for `navigator.credentials`."""

    challenge_id: str
    options: dict[str, Any]


async def _issue(
    identity: IdentityServices, ports: IdentityPorts, kind: CeremonyKind, user_id: UserId | None
) -> PendingChallenge:
    pending = new_challenge(kind, user_id, now=ports.clock.now())
    await identity.pending.put(pending.challenge_id, to_json(pending), ttl_s=CHALLENGE_TTL_S)
    return pending


async def _take(
    identity: IdentityServices, ports: IdentityPorts, challenge_id: object, kind: CeremonyKind
) -> PendingChallenge:
    raw = await identity.pending.take(check_challenge_id(challenge_id))
    record = None if raw is None else from_json(raw, PendingChallenge, what="passkey challenge")
    return redeem_challenge(record, kind, ports.clock.now())


async def _user(ports: IdentityPorts, user_id: UserId) -> UserState:
    state: UserState | None = (await load_ref(ports.store, USER, user_ref(user_id))).state
    if state is None:
        raise NotFound("user not found")
    return state


def _descriptors(user: UserState) -> list[PasskeyDescriptor]:
    return [PasskeyDescriptor(credential_id=p.credential_id, transports=p.transports) for p in user.passkeys.values()]


async def begin_registration(ports: IdentityPorts, identity: IdentityServices, user_id: UserId) -> CeremonyOptions:
    user = await _user(ports, user_id)
    pending = await _issue(identity, ports, CeremonyKind.REGISTRATION, user_id)
    options = registration_options(
        identity.relying_party,
        pending,
        user_name=user.email,
        display_name=user.display_name,
        existing=_descriptors(user),
    )
    return CeremonyOptions(challenge_id=pending.challenge_id, options=options)


async def finish_registration(
    ports: IdentityPorts,
    identity: IdentityServices,
    principal: UserPrincipal,
    challenge_id: object,
    credential: CredentialInput,
    name: str,
) -> tuple[UserChange, PasskeyId]:
    """Verify the attestation, reserve the credential id, add the passkey to the account."""
    pending = await _take(identity, ports, challenge_id, CeremonyKind.REGISTRATION)
    passkey = verify_registration(identity.relying_party, pending, credential, principal.user_id)
    value = passkey_value(passkey.credential_id)
    reserve = ReserveValue(kind=ReservationKind.PASSKEY, value=value, user_id=principal.user_id)
    reserved = await execute(ports, RESERVATION, reservation_ref(ReservationKind.PASSKEY, value), reserve, principal)
    passkey_id = ports.ids.new(PasskeyId)
    command = RegisterPasskey(
        user_id=principal.user_id,
        credential_id=passkey.credential_id,
        public_key=passkey.public_key,
        sign_count=passkey.sign_count,
        name=name,
        transports=passkey.transports,
        aaguid=passkey.aaguid,
    )
    try:
        change = await run_user_command(
            ports, principal, command, principal.user_id, generated=Generated(passkey_id=passkey_id)
        )
    except Exception:
        if reserved.events:  # give the credential back: the account refused it (limit, bad name)
            release = ReleaseValue(
                kind=ReservationKind.PASSKEY,
                value=value,
                user_id=principal.user_id,
                reason=ReleaseReason.PASSKEY_REMOVED,
            )
            await execute(ports, RESERVATION, reservation_ref(ReservationKind.PASSKEY, value), release, principal)
        raise
    return change, passkey_id


async def begin_login(ports: IdentityPorts, identity: IdentityServices, email: str | None) -> CeremonyOptions:
    """Options for a known user (their passkeys allowed) or, without an e-mail, for any discoverable one.

    An unknown e-mail gets the usernameless options, so the reply never says whether it exists.
    """
    user = None if email is None else await user_by_email(ports, email)
    pending = await _issue(identity, ports, CeremonyKind.AUTHENTICATION, None if user is None else user.user_id)
    allowed = [] if user is None else _descriptors(user)
    return CeremonyOptions(
        challenge_id=pending.challenge_id,
        options=authentication_options(identity.relying_party, pending, allowed=allowed),
    )


async def finish_login(
    ports: IdentityPorts,
    identity: IdentityServices,
    challenge_id: object,
    credential: CredentialInput,
    client: ClientInfo,
) -> SessionTokens:
    acquire_all([(identity.login_ip_limiter, f"ip:{client.ip}")])
    assertion = read_assertion(credential)
    pending = await _take(identity, ports, challenge_id, CeremonyKind.AUTHENTICATION)
    reservation = await load_ref(
        ports.store, RESERVATION, reservation_ref(ReservationKind.PASSKEY, passkey_value(assertion.credential_id))
    )
    owner = holder(reservation.state)
    if owner is None:
        raise Unauthenticated(PASSKEY_NOT_RECOGNISED)
    user = await _user(ports, owner)
    stored = passkey_by_credential(user, assertion.credential_id)
    if stored is None:
        raise Unauthenticated(PASSKEY_NOT_RECOGNISED)
    key = StoredPasskey(
        credential_id=stored.credential_id, public_key=stored.public_key, sign_count=stored.sign_count, user_id=owner
    )
    try:
        result = verify_authentication(identity.relying_party, pending, assertion, key)
    except Unauthenticated:
        failed = RecordSignIn(email=user.email, method=SignInMethod.PASSKEY, credential_verified=False)
        await record_sign_in(ports, ports.ids.new(SessionId), user, failed, Anonymous())
        raise
    acting = UserPrincipal(user_id=owner, email=user.email, active=user.active, instance_admin=user.instance_admin)
    if user.active:
        use = RecordPasskeyUse(user_id=owner, passkey_id=stored.passkey_id, sign_count=result.new_sign_count)
        await run_user_command(ports, acting, use, owner)
    return await sign_in(ports, identity, user, SignInMethod.PASSKEY, client)


async def remove_passkey(
    ports: IdentityPorts, principal: UserPrincipal, passkey_id: PasskeyId, current_session: SessionId
) -> UserChange:
    """Remove a passkey (not the account's last way in), end the user's other sessions, free its id."""
    user = await _user(ports, principal.user_id)
    passkey = user.passkeys.get(passkey_id)
    if passkey is None:
        raise NotFound("passkey not found")
    command = RemovePasskey(user_id=principal.user_id, passkey_id=passkey_id)
    change = await run_user_command(ports, principal, command, principal.user_id, current_session=current_session)
    value = passkey_value(passkey.credential_id)
    release = ReleaseValue(
        kind=ReservationKind.PASSKEY, value=value, user_id=principal.user_id, reason=ReleaseReason.PASSKEY_REMOVED
    )
    await execute(ports, RESERVATION, reservation_ref(ReservationKind.PASSKEY, value), release, principal)
    return change
