"""Hostile, malformed and out-of-order input: clear errors, and nothing decided or stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.identity.domain.events import replay_org, replay_user
from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.org_commands import CreateApiKey, InviteMember, RenameOrg
from appliance.identity.domain.org_decide import decide_org
from appliance.identity.domain.org_events import MemberRemoved, OrgCreated
from appliance.identity.domain.principals import Actor, ActorKind, DecisionContext, Operator
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.signup import SignUp
from appliance.identity.domain.user_events import PasskeyUsed, UserRegistered
from appliance.kernel.errors import InvalidInput, InvariantViolation
from appliance.kernel.ids import OrgId, SequentialIds, UserId
from appliance.kernel.structs import from_json

from .world import World, bootstrap, org_state

AT = datetime(2026, 1, 1, tzinfo=UTC)
BY = Actor(kind=ActorKind.OPERATOR, id="root")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"org_id": "01900000-0000-7000-8000-000000000001", "email": "a@b.c", "role": "god"}', InviteMember),
        (b'{"org_id": "not-a-uuid", "email": "a@b.c", "role": "admin"}', InviteMember),
        (
            b'{"org_id": "01900000-0000-7000-8000-000000000001", "email": "a@b.c", "role": "admin", "is_root": true}',
            InviteMember,
        ),
        (b'{"org_id": "01900000-0000-7000-8000-000000000001", "name": 7}', RenameOrg),
        (
            b'{"org_id": "01900000-0000-7000-8000-000000000001", "name": "k", "role": "viewer", "expires_at": "tomorrow"}',
            CreateApiKey,
        ),
        (
            b'{"email": "a@b.c", "display_name": "A", "password_hash": "$argon2id$x", "route": {"type": "backdoor"}}',
            SignUp,
        ),
        (b"[1, 2, 3]", RenameOrg),
        (b'{"org_id": "01900000-0000-7000-8000-000000000001", "name": "x"', RenameOrg),
    ],
)
def test_malformed_command_json_is_invalid_input(body: bytes, kind: type) -> None:
    """Unknown roles, bad ids, extra fields, wrong types, unknown signup routes and broken JSON are refused."""
    with pytest.raises(InvalidInput):
        from_json(body, kind)


def test_a_huge_name_is_refused_without_storing_anything() -> None:
    """A megabyte organisation name is `InvalidInput` and the organisation's history is unchanged."""
    world = World()
    owner_id, org_id = bootstrap(world)
    before = org_state(world, org_id)
    with pytest.raises(InvalidInput):
        world.org_command(org_id, RenameOrg(org_id=org_id, name="x" * 1_000_000), world.as_user(owner_id))
    assert org_state(world, org_id) == before


def test_out_of_order_histories_fail_loudly() -> None:
    """Events that cannot follow one another are a bug or a damaged store: `InvariantViolation`, never a guess."""
    ids = SequentialIds()
    user_id, org_id = ids.new(UserId), ids.new(OrgId)
    removed = MemberRemoved(org_id=org_id, user_id=user_id, email="a@b.c", role=Role.OWNER, at=AT, by=BY)
    created = OrgCreated(org_id=org_id, name="Acme", owner_id=user_id, owner_email="a@b.c", at=AT, by=BY)
    with pytest.raises(InvariantViolation):
        replay_org([removed])
    with pytest.raises(InvariantViolation):
        replay_org([created, created])
    registered = UserRegistered(
        user_id=user_id,
        email="a@b.c",
        display_name="A",
        password_hash="$argon2id$x",
        instance_admin=False,
        route="open",  # type: ignore[arg-type]
        at=AT,
        by=BY,
    )
    used = PasskeyUsed(user_id=user_id, passkey_id=ids.new(PasskeyId), sign_count=1, at=AT, by=BY)
    with pytest.raises(InvariantViolation):
        replay_user([registered, used])


def test_a_workflow_that_loads_the_wrong_aggregate_is_caught() -> None:
    """Deciding a command for one organisation against another's state is an `InvariantViolation`."""
    world = World()
    _, org_id = bootstrap(world)
    state = org_state(world, org_id)
    ctx = DecisionContext(now=world.now, principal=Operator(name="root"))
    with pytest.raises(InvariantViolation):
        decide_org(state, RenameOrg(org_id=world.ids.new(OrgId), name="Other"), ctx)


def test_decision_time_must_be_timezone_aware() -> None:
    """A naive `now` is refused when the context is built, before any decision can misread it."""
    with pytest.raises(InvariantViolation):
        DecisionContext(now=datetime(2026, 1, 1), principal=Operator(name="root"))
