"""Signup: the one decision that spans aggregates, planned purely and appended step by step.

Who may sign up: the holder of the instance's setup token, once (the first user becomes an
instance administrator and the Owner of a first organisation); after that, someone with an invite
(they join the inviting organisation with the invite's role); or anyone, when the instance's
signup mode is `open` (they get an organisation of their own). A signup names an organisation
(`org_name`) except with an invite, where the invite names it.

A signup touches up to four aggregates, which no single append can cover. `plan_signup` checks
everything first and says what to do to each, in this order:

  1. instance     (setup route only) spend the setup token for this user, organisation and e-mail
                  (`SignupPlan.setup_spend`; the workflow sends `SpendSetupToken` to the instance
                  aggregate of `appliance.instance`, which checks the presented token's hash) —
                  spent before anything else, so two people racing with the same token cannot both
                  become administrators;
  2. reservation  `ValueReserved` for the e-mail — exactly one concurrent signup gets the address;
                  and, for an account opened through an external identity (`SignUp.external`, no
                  password), `ValueReserved` for that identity too;
  3. org          `OrgCreated` (setup, open) or `InviteAccepted` (invite);
  4. user         `UserRegistered` (with `ExternalIdentityLinked` in the same commit for an external
                  identity) — last, so an account exists only once all of the above hold.

The instance aggregate (`appliance.instance.domain.InstanceState`) is the one source of truth for
the signup mode and the spent setup token; this module reads it as a fact and never records
either itself.

The workflow recipe (no business `if`s in it):

    email = signup_email(command)
    instance = load the instance;  reservation = load reservation_ref(EMAIL, email)
    ids = signup_ids(command, instance, reservation, ctx)
    user = load user_ref(ids.user_id);  org = load org_ref(ids.org_id) if ids.org_id else None
    plan = plan_signup(command, SignupFacts(...), ctx)
    if plan.setup_spend: send SpendSetupToken(presented hash, **plan.setup_spend) to the instance
    for step in plan.steps: append step.events to step.target, expecting the sequence loaded for
                            it (0 for an aggregate that was empty)
    on ConcurrencyConflict: start again from the top (a bounded number of times)

Every step is idempotent for the same signup, so a signup that crashed half-way can simply be
submitted again: the recorded ids are reused (from the spent setup token, or from the e-mail
reservation) and the steps already done decide no events. A stranger cannot hijack a half-done
signup for the same address: resuming someone else's reservation is allowed only after
`SIGNUP_RESUME_AFTER_S`, and an account that was registered is never touched again.

This module must never append: it only plans.
"""

from __future__ import annotations

from datetime import timedelta

from appliance.identity.domain.aggregates import AggregateRef, org_ref, reservation_ref, user_ref
from appliance.identity.domain.ids import InviteId
from appliance.identity.domain.org_commands import AcceptInvite, CreateOrg
from appliance.identity.domain.org_decide import decide_org
from appliance.identity.domain.org_events import OrgEvent
from appliance.identity.domain.org_state import OrgState
from appliance.identity.domain.principals import (
    DecisionContext,
    Generated,
    SetupTokenHolder,
    UserPrincipal,
    actor_of,
    need,
)
from appliance.identity.domain.reservation import (
    ReservationKind,
    ReservationState,
    ReserveValue,
    decide_reservation,
    external_value,
    holder,
)
from appliance.identity.domain.user_events import ExternalIdentityLinked, SignupRouteKind, UserRegistered
from appliance.identity.domain.user_state import UserState
from appliance.identity.domain.validation import (
    check_display_name,
    check_org_name,
    check_password_hash,
    normalise_email,
)
from appliance.instance.domain import InstanceState, SignupMode
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, PreconditionFailed, invariant
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct

SIGNUP_RESUME_AFTER_S = 15 * 60
_EMAIL_TAKEN = "an account with this e-mail address already exists"


class SetupRoute(Struct, frozen=True, tag="setup_token"):
    pass


class InviteRoute(Struct, frozen=True, tag="invite"):
    org_id: OrgId
    invite_id: InviteId
    token_hash: str


class OpenRoute(Struct, frozen=True, tag="open"):
    pass


SignupRoute = SetupRoute | InviteRoute | OpenRoute


class ExternalCredential(Struct, frozen=True):
    """An identity an OIDC/OAuth provider vouched for, to be the new account's way to sign in."""

    provider: str
    subject: str
    email_verified: bool


class SignUp(Struct, frozen=True):
    """Needs `generated.user_id`, and `generated.org_id` unless the route is an invite.

    A new account needs a way to sign in: a password (its argon2id hash) or an external identity
    whose provider verified the e-mail address (`external`; the account is then linked to it).
    """

    email: str
    display_name: str
    password_hash: str | None
    route: SignupRoute
    org_name: str | None = None
    external: ExternalCredential | None = None


class SignupIds(Struct, frozen=True):
    user_id: UserId
    org_id: OrgId | None


class SignupFacts(Struct, frozen=True):
    """What the workflow loaded: the instance, the e-mail's reservation, and the user and
    organisation at the ids `signup_ids` returned (`None` where the aggregate is empty)."""

    instance: InstanceState
    reservation: ReservationState | None
    user: UserState | None
    org: OrgState | None
    external_reservation: ReservationState | None = None  # of `command.external`, when there is one


class PlanStep(Struct, frozen=True):
    target: AggregateRef
    events: tuple[DomainEvent, ...]


class SetupSpend(Struct, frozen=True):
    """For whom the setup token is to be spent (the instance aggregate records it)."""

    user_id: UserId
    org_id: OrgId
    email: str


class SignupPlan(Struct, frozen=True):
    user_id: UserId
    org_id: OrgId | None
    setup_spend: SetupSpend | None
    steps: tuple[PlanStep, ...]


def signup_email(command: SignUp) -> str:
    return normalise_email(command.email)


def setup_token_spent_for_another(instance: InstanceState, email: str) -> bool:
    return instance.setup_spent and instance.setup_email != email


def signup_ids(
    command: SignUp, instance: InstanceState, reservation: ReservationState | None, ctx: DecisionContext
) -> SignupIds:
    """The user and organisation ids this signup uses: recorded ones when resuming, else fresh ones."""
    email = signup_email(command)
    route = command.route
    if (
        isinstance(route, SetupRoute)
        and instance.setup_spent
        and instance.setup_email == email
        and instance.setup_user_id is not None
        and instance.setup_org_id is not None
    ):
        return SignupIds(user_id=instance.setup_user_id, org_id=instance.setup_org_id)
    held = holder(reservation)
    if held is not None and reservation is not None:
        user_id, created_org = held, reservation.org_id
    else:
        user_id, created_org = need(ctx.generated.user_id, "user_id"), None
    if isinstance(route, InviteRoute):
        return SignupIds(user_id=user_id, org_id=route.org_id)
    return SignupIds(user_id=user_id, org_id=created_org or need(ctx.generated.org_id, "org_id"))


class _Applicant(Struct, frozen=True):
    """The signup's input, validated."""

    email: str
    display_name: str
    password_hash: str | None
    org_name: str | None
    external: ExternalCredential | None


def plan_signup(command: SignUp, facts: SignupFacts, ctx: DecisionContext) -> SignupPlan:
    applicant = _Applicant(
        email=signup_email(command),
        display_name=check_display_name(command.display_name),
        password_hash=_password_hash(command),
        org_name=_org_name(command),
        external=command.external,
    )
    _authorise_route(command.route, facts.instance, applicant.email, ctx)
    ids = signup_ids(command, facts.instance, facts.reservation, ctx)
    if facts.user is not None:
        raise AlreadyExists(_EMAIL_TAKEN)
    _check_resumable(command.route, facts, ids, ctx)
    steps = [
        _reservation_step(command.route, facts.reservation, ids, applicant.email, ctx),
        *_external_steps(applicant, facts.external_reservation, ids, ctx),
        _org_step(command.route, facts.org, ids, applicant, ctx),
        _user_step(command.route, ids.user_id, applicant, ctx),
    ]
    return SignupPlan(
        user_id=ids.user_id,
        org_id=ids.org_id,
        setup_spend=_setup_spend(command.route, ids, applicant.email),
        steps=tuple(step for step in steps if step.events),
    )


def _password_hash(command: SignUp) -> str | None:
    if command.password_hash is not None:
        return check_password_hash(command.password_hash)
    if command.external is None:
        raise InvalidInput("a new account needs a password or an external identity", field="password")
    if not command.external.email_verified:
        raise PreconditionFailed("the provider has not verified this e-mail address, so it cannot open an account")
    external_value(command.external.provider, command.external.subject)  # validates both
    return None


def _newcomer(ids: SignupIds, email: str, ctx: DecisionContext) -> DecisionContext:
    """The new user as the actor of what they do to their own new aggregates."""
    return DecisionContext(
        now=ctx.now, principal=UserPrincipal(user_id=ids.user_id, email=email), generated=Generated(org_id=ids.org_id)
    )


def _external_steps(
    applicant: _Applicant, reservation: ReservationState | None, ids: SignupIds, ctx: DecisionContext
) -> list[PlanStep]:
    if applicant.external is None:
        return []
    value = external_value(applicant.external.provider, applicant.external.subject)
    command = ReserveValue(kind=ReservationKind.EXTERNAL, value=value, user_id=ids.user_id)
    events = decide_reservation(reservation, command, _newcomer(ids, applicant.email, ctx))
    return [PlanStep(target=reservation_ref(ReservationKind.EXTERNAL, value), events=tuple(events))]


def _org_name(command: SignUp) -> str | None:
    if isinstance(command.route, InviteRoute):
        if command.org_name is not None:
            raise InvalidInput(
                "org_name is not used with an invite: the invite names the organisation", field="org_name"
            )
        return None
    if command.org_name is None:
        raise InvalidInput("org_name is required: a new account starts with its own organisation", field="org_name")
    return check_org_name(command.org_name)


def _authorise_route(route: SignupRoute, instance: InstanceState, email: str, ctx: DecisionContext) -> None:
    if isinstance(route, SetupRoute):
        if not isinstance(ctx.principal, SetupTokenHolder):
            raise Forbidden("the setup token is required for the first signup")
        if setup_token_spent_for_another(instance, email):
            raise PreconditionFailed("the setup token has already been used")
    elif isinstance(route, OpenRoute) and instance.signup_mode is not SignupMode.OPEN:
        raise Forbidden("this instance accepts new accounts by invite only")


def _check_resumable(route: SignupRoute, facts: SignupFacts, ids: SignupIds, ctx: DecisionContext) -> None:
    reservation = facts.reservation
    held = holder(reservation)
    if held is None or reservation is None:
        return
    if held != ids.user_id:
        raise AlreadyExists(_EMAIL_TAKEN)
    if isinstance(route, SetupRoute):
        return  # only the setup token's holder can be here, and the token names this e-mail
    reserved_at = reservation.reserved_at
    invariant(reserved_at is not None, "a held reservation records when it was made")
    if reserved_at is not None and ctx.now - reserved_at < timedelta(seconds=SIGNUP_RESUME_AFTER_S):
        raise PreconditionFailed("a signup for this e-mail address is already in progress; try again later")


def _setup_spend(route: SignupRoute, ids: SignupIds, email: str) -> SetupSpend | None:
    if not isinstance(route, SetupRoute):
        return None
    return SetupSpend(user_id=ids.user_id, org_id=need(ids.org_id, "org_id"), email=email)


def _reservation_step(
    route: SignupRoute, reservation: ReservationState | None, ids: SignupIds, email: str, ctx: DecisionContext
) -> PlanStep:
    # The organisation is recorded only when this signup creates it, so a later resume recreates
    # the same one; an invite's organisation is named by the invite itself.
    planned_org = None if isinstance(route, InviteRoute) else ids.org_id
    command = ReserveValue(kind=ReservationKind.EMAIL, value=email, user_id=ids.user_id, org_id=planned_org)
    events = decide_reservation(reservation, command, ctx)
    return PlanStep(target=reservation_ref(ReservationKind.EMAIL, email), events=tuple(events))


def _org_step(
    route: SignupRoute, org: OrgState | None, ids: SignupIds, applicant: _Applicant, ctx: DecisionContext
) -> PlanStep:
    org_id = need(ids.org_id, "org_id")
    invariant(org is None or org.org_id == org_id, "the workflow loaded the planned organisation")
    newcomer = _newcomer(ids, applicant.email, ctx)
    events: list[OrgEvent]
    if isinstance(route, InviteRoute):
        if org is None or org.deleted:
            raise NotFound("invite not found")
        accept = AcceptInvite(org_id=org_id, invite_id=route.invite_id, token_hash=route.token_hash)
        events = decide_org(org, accept, newcomer)
    elif org is None:
        events = decide_org(None, CreateOrg(name=need(applicant.org_name, "org_name")), newcomer)
    else:
        # Created by an earlier, interrupted attempt of this same signup: its id came from this
        # signup's own record (the spent setup token or the e-mail reservation), never from a guess.
        events = []
    return PlanStep(target=org_ref(org_id), events=tuple(events))


def _user_step(route: SignupRoute, user_id: UserId, applicant: _Applicant, ctx: DecisionContext) -> PlanStep:
    kind = {
        SetupRoute: SignupRouteKind.SETUP_TOKEN,
        InviteRoute: SignupRouteKind.INVITE,
        OpenRoute: SignupRouteKind.OPEN,
    }[type(route)]
    event = UserRegistered(
        user_id=user_id,
        email=applicant.email,
        display_name=applicant.display_name,
        password_hash=applicant.password_hash,
        instance_admin=kind is SignupRouteKind.SETUP_TOKEN,
        route=kind,
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    events: tuple[DomainEvent, ...] = (event,)
    if applicant.external is not None:
        linked = ExternalIdentityLinked(
            user_id=user_id,
            provider=applicant.external.provider,
            subject=applicant.external.subject,
            email=applicant.email,
            at=ctx.now,
            by=actor_of(ctx.principal),
        )
        events = (event, linked)
    return PlanStep(target=user_ref(user_id), events=events)
