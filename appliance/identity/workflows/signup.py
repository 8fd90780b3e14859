"""Signup: the instance's setup token (first owner), an invite token, or open signup.

The recipe is the domain's (`domain.signup`): load the instance, the e-mail's reservation, the
user and organisation at the planned ids; `plan_signup` decides; then the setup token is spent on
the instance aggregate (setup route only) and each planned step appended with the sequence that
was loaded. A conflict (someone else signed up with the same address or token meanwhile) starts
again from the top, a bounded number of times; every step is idempotent for the same signup, so a
signup that crashed half-way finishes when submitted again.

Order of checks: the body's shape and the password policy (cheap), the rate limit per client IP
and per e-mail, the credentials of the route (setup token against the instance's hash, invite
token's shape), a dry run of the plan with a placeholder hash (so a request that cannot succeed
never costs an argon2 hash), then the hash, in a worker thread.

After the first owner exists, `secrets/setup-token` is deleted: the token is spent and useless,
and a file that looks like a credential should not linger.

This module must never keep or log a password or a token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

from appliance.eventstore.port import AppendResult
from appliance.identity.auth.passwords import check_password_policy
from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.domain.aggregates import AggregateRef, org_ref, reservation_ref, user_ref
from appliance.identity.domain.principals import (
    Anonymous,
    DecisionContext,
    Generated,
    Principal,
    SetupTokenHolder,
    actor_label,
)
from appliance.identity.domain.reservation import ReservationKind, external_value
from appliance.identity.domain.session import SignInMethod
from appliance.identity.domain.signup import (
    ExternalCredential,
    InviteRoute,
    OpenRoute,
    SetupRoute,
    SignUp,
    SignupFacts,
    SignupPlan,
    SignupRoute,
    plan_signup,
    signup_email,
    signup_ids,
)
from appliance.identity.domain.user_state import UserState
from appliance.identity.domain.validation import DISPLAY_NAME_CHARS_MAX, ORG_NAME_CHARS_MAX, normalise_email
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.invites import parse_invite_token
from appliance.identity.workflows.login import sign_in
from appliance.identity.workflows.sessions import ClientInfo, SessionTokens
from appliance.identity.workflows.store import ORG, RESERVATION, USER, IdentityPorts, append_events, load_ref, meta_for
from appliance.instance.domain import InstanceState, SpendSetupToken
from appliance.instance.service import execute as execute_instance
from appliance.instance.service import load_instance, setup_token_path, token_digest
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput, InvariantViolation, Unauthenticated, invariant
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct

SIGNUP_ATTEMPTS_MAX = 3
SETUP_TOKEN_CHARS_MAX = 256
# A syntactically valid argon2id string for the dry run before hashing; never stored.
_PLACEHOLDER_HASH = "$argon2id$v=19$m=65536,t=3,p=1$cGxhY2Vob2xkZXI$cGxhY2Vob2xkZXJwbGFjZWhvbGRlcg"


class SignupRequest(Struct, frozen=True):
    email: str
    password: str
    display_name: str
    org_name: str | None = None
    setup_token: str | None = None
    invite_token: str | None = None


@dataclass(frozen=True)
class SignupResult:
    user_id: UserId
    org_id: OrgId | None
    tokens: SessionTokens
    appended: list[AppendResult]  # where the signup's events landed (for read-your-writes)


async def sign_up(
    ports: IdentityPorts, identity: IdentityServices, data_dir: Path, request: SignupRequest, client: ClientInfo
) -> SignupResult:
    email = normalise_email(request.email)
    password = check_password_policy(request.password, context=(email, request.display_name))
    acquire_all([(identity.login_ip_limiter, f"ip:{client.ip}"), (identity.login_account_limiter, f"signup:{email}")])
    route, principal = await _route(ports, request)
    command = SignUp(
        email=email,
        display_name=request.display_name,
        password_hash=_PLACEHOLDER_HASH,
        route=route,
        org_name=request.org_name,
    )
    await _plan(ports, command, principal)  # a dry run: refuses what cannot succeed before any hashing
    command = SignUp(
        email=email,
        display_name=request.display_name,
        password_hash=await identity.hashing.hash(password),
        route=route,
        org_name=request.org_name,
    )
    plan, appended = await _carry_out(ports, command, principal, request.setup_token)
    if isinstance(route, SetupRoute):
        setup_token_path(data_dir).unlink(missing_ok=True)
    user: UserState | None = (await load_ref(ports.store, USER, user_ref(plan.user_id))).state
    if user is None:
        raise InvariantViolation("a finished signup has registered its user")
    tokens = await sign_in(ports, identity, user, SignInMethod.PASSWORD, client)
    return SignupResult(user_id=plan.user_id, org_id=plan.org_id, tokens=tokens, appended=appended)


async def _route(ports: IdentityPorts, request: SignupRequest) -> tuple[SignupRoute, Principal]:
    if request.setup_token is not None and request.invite_token is not None:
        raise InvalidInput("send either setup_token or invite_token, not both", field="setup_token")
    if request.setup_token is not None:
        check_setup_token((await load_instance(ports.store)).state, request.setup_token)
        return SetupRoute(), SetupTokenHolder()
    if request.invite_token is not None:
        invite = parse_invite_token(request.invite_token)
        return InviteRoute(org_id=invite.org_id, invite_id=invite.invite_id, token_hash=invite.token_hash), Anonymous()
    return OpenRoute(), Anonymous()


async def sign_up_external(
    ports: IdentityPorts,
    identity: IdentityServices,
    external: ExternalCredential,
    email: str,
    display_name: str,
    client: ClientInfo,
) -> SignupResult:
    """Open a passwordless account (open signup mode) for an identity whose provider verified the
    e-mail, linked to it, with an organisation of its own; then sign it in."""
    acquire_all([(identity.login_ip_limiter, f"ip:{client.ip}")])
    name = display_name.strip() or email.split("@", 1)[0]
    command = SignUp(
        email=email,
        display_name=name[:DISPLAY_NAME_CHARS_MAX],
        password_hash=None,
        route=OpenRoute(),
        org_name=f"{name}'s organisation"[:ORG_NAME_CHARS_MAX],
        external=external,
    )
    plan, appended = await _carry_out(ports, command, Anonymous(), None)
    user: UserState | None = (await load_ref(ports.store, USER, user_ref(plan.user_id))).state
    if user is None:
        raise InvariantViolation("a finished signup has registered its user")
    tokens = await sign_in(ports, identity, user, SignInMethod.OIDC, client)
    return SignupResult(user_id=plan.user_id, org_id=plan.org_id, tokens=tokens, appended=appended)


def check_setup_token(instance: InstanceState, presented: str) -> None:
    """The presented token matches the instance's (spent or not: a spent one may resume its signup)."""
    if not 0 < len(presented) <= SETUP_TOKEN_CHARS_MAX or not presented.isascii():
        raise Unauthenticated("the setup token is not valid")
    if not hmac.compare_digest(token_digest(presented), instance.setup_token_sha256):
        raise Unauthenticated("the setup token is not valid")


Loaded = dict[AggregateRef, tuple[int, int]]  # (version, last sequence) of each aggregate loaded


async def _plan(ports: IdentityPorts, command: SignUp, principal: Principal) -> tuple[SignupPlan, Loaded]:
    """Load the facts and plan; returns the plan and what was loaded of each aggregate it may touch."""
    instance = await load_instance(ports.store)
    email = signup_email(command)
    email_ref = reservation_ref(ReservationKind.EMAIL, email)
    reservation = await load_ref(ports.store, RESERVATION, email_ref)
    ctx = DecisionContext(
        now=ports.clock.now(),
        principal=principal,
        generated=Generated(user_id=ports.ids.new(UserId), org_id=ports.ids.new(OrgId)),
    )
    ids = signup_ids(command, instance.state, reservation.state, ctx)
    loaded: Loaded = {email_ref: (reservation.version, reservation.last_sequence)}
    user = await load_ref(ports.store, USER, user_ref(ids.user_id))
    loaded[user_ref(ids.user_id)] = (user.version, user.last_sequence)
    org_state = None
    if ids.org_id is not None:
        org = await load_ref(ports.store, ORG, org_ref(ids.org_id))
        loaded[org_ref(ids.org_id)] = (org.version, org.last_sequence)
        org_state = org.state
    external_state = None
    if command.external is not None:
        value = external_value(command.external.provider, command.external.subject)
        external = await load_ref(ports.store, RESERVATION, reservation_ref(ReservationKind.EXTERNAL, value))
        loaded[reservation_ref(ReservationKind.EXTERNAL, value)] = (external.version, external.last_sequence)
        external_state = external.state
    facts = SignupFacts(
        instance=instance.state,
        reservation=reservation.state,
        user=user.state,
        org=org_state,
        external_reservation=external_state,
    )
    return plan_signup(command, facts, ctx), loaded


async def _carry_out(
    ports: IdentityPorts, command: SignUp, principal: Principal, setup_token: str | None
) -> tuple[SignupPlan, list[AppendResult]]:
    for attempt in range(SIGNUP_ATTEMPTS_MAX):
        plan, loaded = await _plan(ports, command, principal)
        try:
            return plan, await _append_plan(ports, plan, loaded, principal, setup_token)
        except ConcurrencyConflict:
            if attempt == SIGNUP_ATTEMPTS_MAX - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _append_plan(
    ports: IdentityPorts, plan: SignupPlan, loaded: Loaded, principal: Principal, setup_token: str | None
) -> list[AppendResult]:
    appended: list[AppendResult] = []
    meta = meta_for(principal, ports.ids)
    if plan.setup_spend is not None:
        invariant(setup_token is not None, "the setup route was chosen by presenting the setup token")
        spend = plan.setup_spend
        outcome = await execute_instance(
            ports.store,
            SpendSetupToken(
                presented_token_sha256=token_digest(setup_token or ""),
                spent_by=actor_label(principal),
                user_id=spend.user_id,
                org_id=spend.org_id,
                email=spend.email,
            ),
            actor=actor_label(principal),
            ids=ports.ids,
            clock=ports.clock,
            correlation_id=meta.correlation_id,
        )
        appended.extend([] if outcome.append is None else [outcome.append])
    for step in plan.steps:
        version, sequence = loaded[step.target]
        appended.append(
            await append_events(
                ports,
                step.target,
                step.events,
                aggregate_type=step.target.kind.value,
                loaded_version=version,
                loaded_sequence=sequence,
                meta=meta,
            )
        )
    return appended
