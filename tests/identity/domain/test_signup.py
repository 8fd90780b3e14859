"""Tests of signup across aggregates: routes, the setup token, races and resuming after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appliance.identity.domain.aggregates import AggregateKind, reservation_ref, user_ref
from appliance.identity.domain.org_commands import DeleteOrg
from appliance.identity.domain.principals import Anonymous, SetupTokenHolder
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.reservation import ReservationKind
from appliance.identity.domain.signup import (
    SIGNUP_RESUME_AFTER_S,
    ExternalCredential,
    InviteRoute,
    OpenRoute,
    SetupRoute,
    SignUp,
)
from appliance.identity.domain.user_events import UserRegistered
from appliance.instance.domain import ChangeSignupMode, SignupMode
from appliance.kernel.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)

from .world import World, bootstrap, invite, open_signups, org_state, signup_command, token_hash


@pytest.fixture
def world() -> World:
    return World()


def _users(world: World) -> list[UserRegistered]:
    return [
        event
        for ref in world.stored
        if ref.kind is AggregateKind.USER
        for event in world.history(ref)
        if isinstance(event, UserRegistered)
    ]


def test_the_setup_token_makes_the_first_owner(world: World) -> None:
    """The first signup spends the token (on the instance), reserves the e-mail, creates the org and the admin
    user, in that order."""
    plan = world.sign_up(signup_command("First@Example.org", SetupRoute(), org_name="Acme"), SetupTokenHolder())
    assert plan.setup_spend is not None
    assert [step.target.kind for step in plan.steps] == [
        AggregateKind.RESERVATION,
        AggregateKind.ORG,
        AggregateKind.USER,
    ]
    user = world.user(plan.user_id)
    assert (user.email, user.instance_admin) == ("first@example.org", True)
    assert plan.org_id is not None
    assert org_state(world, plan.org_id).members[plan.user_id].role is Role.OWNER
    assert world.instance.setup_spent
    assert (world.instance.setup_user_id, world.instance.setup_org_id) == (plan.user_id, plan.org_id)
    assert world.instance.setup_email == "first@example.org"


def test_the_setup_route_needs_the_setup_token(world: World) -> None:
    """Without the setup token principal, the setup route is `Forbidden` and nothing is stored."""
    with pytest.raises(Forbidden):
        world.sign_up(signup_command("first@example.org", SetupRoute()), Anonymous())
    assert world.stored == {}
    assert not world.instance.setup_spent


def test_the_setup_token_works_once(world: World) -> None:
    """After the first signup, the token is refused for another address and the same address already exists."""
    bootstrap(world, "first@example.org")
    with pytest.raises(PreconditionFailed, match="already been used"):
        world.sign_up(signup_command("second@example.org", SetupRoute()), SetupTokenHolder())
    with pytest.raises(AlreadyExists):
        world.sign_up(signup_command("first@example.org", SetupRoute()), SetupTokenHolder())
    assert len(_users(world)) == 1


def test_open_signup_needs_open_mode(world: World) -> None:
    """By default signup needs an invite; once an admin opens signups, anyone gets an account and an org."""
    bootstrap(world)
    with pytest.raises(Forbidden, match="invite only"):
        world.sign_up(signup_command("walk-in@example.org", OpenRoute()), Anonymous())
    open_signups(world)
    plan = world.sign_up(signup_command("walk-in@example.org", OpenRoute(), org_name="Walk-in"), Anonymous())
    assert plan.org_id is not None
    assert not world.user(plan.user_id).instance_admin
    assert org_state(world, plan.org_id).name == "Walk-in"


def test_the_signup_mode_lives_on_the_instance(world: World) -> None:
    """Signup reads the instance's mode (the one source of truth); setting the current mode again decides nothing."""
    bootstrap(world)
    assert world.instance.signup_mode is SignupMode.INVITE_ONLY
    open_signups(world)
    assert world.instance.signup_mode is SignupMode.OPEN
    assert (
        world.instance_decide(ChangeSignupMode(signup_mode=SignupMode.OPEN), expected=len(world.instance_events)) == []
    )


def test_an_invite_signup_joins_with_the_invites_role(world: World) -> None:
    """An invited person signs up and is a member with the invite's role, without an org of their own."""
    owner_id, org_id = bootstrap(world)
    invite_id, token = invite(world, org_id, world.as_user(owner_id), "guest@example.org", Role.VIEWER)
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    plan = world.sign_up(signup_command("Guest@Example.org", route, org_name=None), Anonymous())
    assert plan.org_id == org_id
    assert org_state(world, org_id).members[plan.user_id].role is Role.VIEWER


@pytest.mark.parametrize(
    ("email", "token", "error"),
    [
        ("someone-else@example.org", "right", Forbidden),
        ("guest@example.org", "wrong", NotFound),
    ],
)
def test_an_invite_signup_needs_the_right_address_and_token(
    world: World, email: str, token: str, error: type[Exception]
) -> None:
    """Signing up with an invite for another address, or a wrong token, is refused and stores nothing new."""
    owner_id, org_id = bootstrap(world)
    invite_id, real_token = invite(world, org_id, world.as_user(owner_id), "guest@example.org", Role.MEMBER)
    presented = real_token if token == "right" else "not-the-token"
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(presented))
    before = {ref: list(envelopes) for ref, envelopes in world.stored.items()}
    with pytest.raises(error):
        world.sign_up(signup_command(email, route, org_name=None), Anonymous())
    assert world.stored == before


def test_an_invite_to_a_deleted_org_is_not_found(world: World) -> None:
    """Once the organisation is deleted, its invites cannot be used to sign up."""
    owner_id, org_id = bootstrap(world)
    invite_id, token = invite(world, org_id, world.as_user(owner_id), "late@example.org", Role.MEMBER)
    world.org_command(org_id, DeleteOrg(org_id=org_id), world.as_user(owner_id))
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    with pytest.raises(NotFound):
        world.sign_up(signup_command("late@example.org", route, org_name=None), Anonymous())


def test_org_name_goes_with_the_route(world: World) -> None:
    """Setup and open signups need an org name; an invite signup must not carry one."""
    with pytest.raises(InvalidInput) as caught:
        world.sign_up(signup_command("first@example.org", SetupRoute(), org_name=None), SetupTokenHolder())
    assert caught.value.field == "org_name"
    owner_id, org_id = bootstrap(world)
    invite_id, token = invite(world, org_id, world.as_user(owner_id), "guest@example.org", Role.MEMBER)
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    with pytest.raises(InvalidInput) as caught:
        world.sign_up(signup_command("guest@example.org", route, org_name="Mine"), Anonymous())
    assert caught.value.field == "org_name"


@pytest.mark.parametrize(
    ("field", "command"),
    [
        (
            "email",
            SignUp(
                email="not an email", display_name="X", password_hash="$argon2id$x", route=SetupRoute(), org_name="A"
            ),
        ),
        (
            "display_name",
            SignUp(
                email="a@b.c", display_name="\x1b[31mred", password_hash="$argon2id$x", route=SetupRoute(), org_name="A"
            ),
        ),
        (
            "password_hash",
            SignUp(email="a@b.c", display_name="X", password_hash="plaintext!", route=SetupRoute(), org_name="A"),
        ),
        (
            "org_name",
            SignUp(email="a@b.c", display_name="X", password_hash="$argon2id$x", route=SetupRoute(), org_name=""),
        ),
    ],
)
def test_malformed_signups_are_refused_before_anything_is_stored(world: World, field: str, command: SignUp) -> None:
    """Bad e-mail, display name, hash or org name is `InvalidInput` on that field, and the token stays unspent."""
    with pytest.raises(InvalidInput) as caught:
        world.sign_up(command, SetupTokenHolder())
    assert caught.value.field == field
    assert world.stored == {}
    assert not world.instance.setup_spent


def test_an_email_is_taken_once_whatever_its_case(world: World) -> None:
    """A second signup for the same address, differently cased, is `AlreadyExists`."""
    bootstrap(world, "taken@example.org")
    open_signups(world)
    with pytest.raises(AlreadyExists):
        world.sign_up(signup_command("TAKEN@example.ORG", OpenRoute()), Anonymous())


def test_concurrent_signups_for_one_address_yield_one_account(world: World) -> None:
    """Two signups planned from the same reads: the second append conflicts, and its retry is refused."""
    bootstrap(world)
    open_signups(world)
    first = signup_command("race@example.org", OpenRoute(), org_name="First")
    second = signup_command("Race@example.org", OpenRoute(), org_name="Second")
    plan_a, seqs_a = world.plan(first, Anonymous())
    plan_b, seqs_b = world.plan(second, Anonymous())
    world.apply_plan(plan_a, seqs_a, Anonymous())
    with pytest.raises(ConcurrencyConflict):
        world.apply_plan(plan_b, seqs_b, Anonymous())
    with pytest.raises(AlreadyExists):
        world.sign_up(second, Anonymous())
    assert [user.email for user in _users(world)].count("race@example.org") == 1


def test_racing_setup_signups_make_one_admin(world: World) -> None:
    """Two first signups with different addresses: the token is spent once, and only one admin exists."""
    plan_a, seqs_a = world.plan(signup_command("a@example.org", SetupRoute()), SetupTokenHolder())
    plan_b, seqs_b = world.plan(signup_command("b@example.org", SetupRoute()), SetupTokenHolder())
    world.apply_plan(plan_a, seqs_a, SetupTokenHolder())
    with pytest.raises(ConcurrencyConflict):
        world.apply_plan(plan_b, seqs_b, SetupTokenHolder())
    with pytest.raises(PreconditionFailed):
        world.sign_up(signup_command("b@example.org", SetupRoute()), SetupTokenHolder())
    assert [user.email for user in _users(world) if user.instance_admin] == ["a@example.org"]


@pytest.mark.parametrize("steps_done", [1, 2, 3])
def test_a_crashed_first_signup_is_finished_by_resubmitting(world: World, steps_done: int) -> None:
    """After a crash part-way through the setup signup, the same request completes it with the same ids."""
    command = signup_command("first@example.org", SetupRoute(), org_name="Acme")
    plan, sequences = world.plan(command, SetupTokenHolder())
    world.apply_plan(plan, sequences, SetupTokenHolder(), steps_max=steps_done)
    resumed = world.sign_up(command, SetupTokenHolder())
    assert (resumed.user_id, resumed.org_id) == (plan.user_id, plan.org_id)
    assert len(resumed.steps) == 4 - steps_done
    assert len(_users(world)) == 1
    assert plan.org_id is not None
    assert list(org_state(world, plan.org_id).members) == [plan.user_id]
    orgs = [ref for ref in world.stored if ref.kind is AggregateKind.ORG]
    assert len(orgs) == 1


def test_a_stalled_open_signup_is_resumable_only_after_a_grace_period(world: World) -> None:
    """A half-done signup blocks others for 15 minutes, then a retry finishes it with the recorded ids."""
    bootstrap(world)
    open_signups(world)
    command = signup_command("slow@example.org", OpenRoute(), org_name="Slow")
    plan, sequences = world.plan(command, Anonymous())
    world.apply_plan(plan, sequences, Anonymous(), steps_max=2)  # reservation and org, then a crash
    with pytest.raises(PreconditionFailed, match="in progress"):
        world.sign_up(command, Anonymous())
    world.advance(SIGNUP_RESUME_AFTER_S)
    resumed = world.sign_up(command, Anonymous())
    assert (resumed.user_id, resumed.org_id) == (plan.user_id, plan.org_id)
    assert world.user(plan.user_id).email == "slow@example.org"
    reservation, _ = world.load(reservation_ref(ReservationKind.EMAIL, "slow@example.org"))
    assert reservation.user_id == plan.user_id


def test_a_registered_account_is_never_taken_over(world: World) -> None:
    """However late, a signup for a registered address never touches the existing account."""
    bootstrap(world)
    open_signups(world)
    plan = world.sign_up(signup_command("kept@example.org", OpenRoute()), Anonymous())
    world.advance(timedelta(days=365).total_seconds())
    with pytest.raises(AlreadyExists):
        world.sign_up(signup_command("kept@example.org", OpenRoute()), Anonymous())
    assert len(world.stored[user_ref(plan.user_id)]) == 1


def test_an_external_identity_opens_a_passwordless_account(world: World) -> None:
    """An open signup with a provider-verified identity and no password reserves the identity and links it."""
    bootstrap(world)
    open_signups(world)
    external = ExternalCredential(provider="keycloak", subject="sub-ada", email_verified=True)
    command = SignUp(
        email="ada@example.org",
        display_name="Ada",
        password_hash=None,
        route=OpenRoute(),
        org_name="Ada's",
        external=external,
    )
    plan = world.sign_up_external(command, Anonymous())
    user = world.user(plan.user_id)
    assert user.password_hash is None
    assert list(user.identities) == ["keycloak:sub-ada"]
    assert [step.target.kind for step in plan.steps] == [
        AggregateKind.RESERVATION,
        AggregateKind.RESERVATION,
        AggregateKind.ORG,
        AggregateKind.USER,
    ]


@pytest.mark.parametrize(
    ("external", "error"),
    [
        (None, InvalidInput),
        (ExternalCredential(provider="keycloak", subject="sub", email_verified=False), PreconditionFailed),
        (ExternalCredential(provider="Not A Provider!", subject="sub", email_verified=True), InvalidInput),
    ],
)
def test_a_passwordless_signup_needs_a_verified_external_identity(
    world: World, external: ExternalCredential | None, error: type[Exception]
) -> None:
    """No password and no identity, or an unverified e-mail, or a malformed provider: refused, nothing stored."""
    bootstrap(world)
    open_signups(world)
    before = {ref: list(envelopes) for ref, envelopes in world.stored.items()}
    command = SignUp(
        email="x@example.org", display_name="X", password_hash=None, route=OpenRoute(), org_name="X", external=external
    )
    with pytest.raises(error):
        world.sign_up_external(command, Anonymous())
    assert world.stored == before


def test_an_external_identity_opens_one_account_only(world: World) -> None:
    """The same external identity cannot open a second account under another e-mail."""
    bootstrap(world)
    open_signups(world)
    external = ExternalCredential(provider="keycloak", subject="sub-1", email_verified=True)
    first = SignUp(
        email="a@example.org", display_name="A", password_hash=None, route=OpenRoute(), org_name="A", external=external
    )
    world.sign_up_external(first, Anonymous())
    second = SignUp(
        email="b@example.org", display_name="B", password_hash=None, route=OpenRoute(), org_name="B", external=external
    )
    with pytest.raises(AlreadyExists):
        world.sign_up_external(second, Anonymous())
