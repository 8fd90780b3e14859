"""Tests of the organisation aggregate's rules: roles, the last Owner, invites, API keys, isolation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from appliance.identity.domain.aggregates import org_ref
from appliance.identity.domain.ids import InviteId
from appliance.identity.domain.org_commands import (
    INVITE_TTL_S_DEFAULT,
    AcceptInvite,
    ChangeMemberRole,
    CreateApiKey,
    CreateOrg,
    DeleteOrg,
    InviteMember,
    LeaveOrg,
    RemoveMember,
    RenameOrg,
    RevokeApiKey,
    RevokeInvite,
)
from appliance.identity.domain.org_decide import acting_role
from appliance.identity.domain.org_events import InviteAccepted, MemberRoleChanged, OrgCreated
from appliance.identity.domain.org_state import InviteStatus, invite_view
from appliance.identity.domain.principals import Anonymous, ApiKeyPrincipal, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.signup import InviteRoute
from appliance.identity.domain.user_commands import DisableUser
from appliance.kernel.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Rejected,
    Unauthenticated,
)
from appliance.kernel.ids import OrgId, UserId

from .world import (
    OPERATOR,
    World,
    bootstrap,
    create_key,
    invite,
    join,
    org_state,
    second_tenant,
    signup_command,
    token_hash,
)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def org(world: World) -> tuple[UserId, OrgId]:
    return bootstrap(world)


def _accept(world: World, org_id: OrgId, invite_id: InviteId, token: str, user_id: UserId) -> list[object]:
    command = AcceptInvite(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    return world.org_command(org_id, command, world.as_user(user_id))


def _assert_unchanged(world: World, org_id: OrgId, action: Callable[[], object]) -> None:
    """Run `action`; it must be rejected and leave the organisation's history as it was."""
    before = list(world.stored[org_ref(org_id)])
    with pytest.raises(Rejected):
        action()
    assert world.stored[org_ref(org_id)] == before


def test_creating_an_organisation_makes_the_creator_its_only_owner(world: World, org: tuple[UserId, OrgId]) -> None:
    """A signed-in user who creates an organisation is its one member, as Owner."""
    owner_id, _ = org
    new_org = world.ids.new(OrgId)
    events = world.org_command(new_org, CreateOrg(name="Second"), world.as_user(owner_id), org_id=new_org)
    assert isinstance(events[0], OrgCreated)
    state = org_state(world, new_org)
    assert {user_id: member.role for user_id, member in state.members.items()} == {owner_id: Role.OWNER}


def test_only_signed_in_users_create_organisations(world: World) -> None:
    """Anonymous callers and API keys cannot create organisations."""
    new_org = world.ids.new(OrgId)
    with pytest.raises(Forbidden):
        world.org_command(new_org, CreateOrg(name="Nope"), Anonymous(), org_id=new_org)


def test_last_owner_cannot_leave_be_removed_or_be_demoted(world: World, org: tuple[UserId, OrgId]) -> None:
    """With one Owner, leaving, removal and demotion of that Owner are refused and change nothing."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    for command in (
        LeaveOrg(org_id=org_id),
        RemoveMember(org_id=org_id, user_id=owner_id),
        ChangeMemberRole(org_id=org_id, user_id=owner_id, role=Role.ADMIN),
    ):
        with pytest.raises(PreconditionFailed, match="last owner"):
            world.org_command(org_id, command, me)
    assert org_state(world, org_id).members[owner_id].role is Role.OWNER


def test_an_owner_may_step_down_once_there_is_another(world: World, org: tuple[UserId, OrgId]) -> None:
    """After promoting a second Owner, the first may demote themself and then leave."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    second = join(world, org_id, me, "second@example.org", Role.MEMBER)
    world.org_command(org_id, ChangeMemberRole(org_id=org_id, user_id=second, role=Role.OWNER), me)
    world.org_command(org_id, ChangeMemberRole(org_id=org_id, user_id=owner_id, role=Role.ADMIN), me)
    world.org_command(org_id, LeaveOrg(org_id=org_id), world.as_user(owner_id))
    state = org_state(world, org_id)
    assert owner_id not in state.members
    assert [m.role for m in state.members.values()] == [Role.OWNER]


def test_admins_cannot_grant_or_touch_the_owner_role(world: World, org: tuple[UserId, OrgId]) -> None:
    """An Admin can neither promote to Owner, demote or remove an Owner, nor invite an Owner."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin = world.as_user(join(world, org_id, me, "admin@example.org", Role.ADMIN))
    member_id = join(world, org_id, me, "member@example.org", Role.MEMBER)
    refused = [
        ChangeMemberRole(org_id=org_id, user_id=member_id, role=Role.OWNER),
        ChangeMemberRole(org_id=org_id, user_id=owner_id, role=Role.MEMBER),
        RemoveMember(org_id=org_id, user_id=owner_id),
        InviteMember(org_id=org_id, email="boss@example.org", role=Role.OWNER),
    ]
    for command in refused:
        with pytest.raises(Forbidden):
            world.org_command(org_id, command, admin, invite_id=world.new_invite_id(), secret_hash=token_hash("t" * 20))


def test_admins_manage_members_below_owner(world: World, org: tuple[UserId, OrgId]) -> None:
    """An Admin promotes a Member to Admin, demotes to Viewer, and removes a member."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin = world.as_user(join(world, org_id, me, "admin@example.org", Role.ADMIN))
    member_id = join(world, org_id, me, "member@example.org", Role.MEMBER)
    events = world.org_command(org_id, ChangeMemberRole(org_id=org_id, user_id=member_id, role=Role.ADMIN), admin)
    assert isinstance(events[0], MemberRoleChanged)
    assert (events[0].previous, events[0].role) == (Role.MEMBER, Role.ADMIN)
    world.org_command(org_id, ChangeMemberRole(org_id=org_id, user_id=member_id, role=Role.VIEWER), admin)
    world.org_command(org_id, RemoveMember(org_id=org_id, user_id=member_id), admin)
    assert member_id not in org_state(world, org_id).members


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_manage(world: World, org: tuple[UserId, OrgId], role: Role) -> None:
    """Members and Viewers may not rename, invite, change roles, remove members or manage keys."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    low = world.as_user(join(world, org_id, me, "low@example.org", role))
    for command in (
        RenameOrg(org_id=org_id, name="Mine now"),
        InviteMember(org_id=org_id, email="x@example.org", role=Role.VIEWER),
        ChangeMemberRole(org_id=org_id, user_id=low.user_id, role=Role.ADMIN),
        RemoveMember(org_id=org_id, user_id=owner_id),
        CreateApiKey(org_id=org_id, name="k", role=Role.VIEWER),
        DeleteOrg(org_id=org_id),
    ):
        _assert_unchanged(
            world,
            org_id,
            lambda command=command: world.org_command(
                org_id,
                command,
                low,
                invite_id=world.new_invite_id(),
                api_key_id=world.new_api_key_id(),
                secret_hash=token_hash("secret"),
                secret_prefix="crk_x",
            ),
        )


def test_only_owners_delete_and_a_deleted_org_is_gone(world: World, org: tuple[UserId, OrgId]) -> None:
    """An Admin cannot delete the organisation; after the Owner does, every command says not found."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin = world.as_user(join(world, org_id, me, "admin@example.org", Role.ADMIN))
    with pytest.raises(Forbidden):
        world.org_command(org_id, DeleteOrg(org_id=org_id), admin)
    world.org_command(org_id, DeleteOrg(org_id=org_id), me)
    assert org_state(world, org_id).deleted
    for command in (RenameOrg(org_id=org_id, name="Back"), DeleteOrg(org_id=org_id), LeaveOrg(org_id=org_id)):
        with pytest.raises(NotFound):
            world.org_command(org_id, command, me)


def test_strangers_and_foreign_keys_are_told_not_found(world: World, org: tuple[UserId, OrgId]) -> None:
    """A user of another organisation, or its API key, gets `NotFound` (never `Forbidden`) for every command."""
    _, org_id = org
    other_owner, other_org = second_tenant(world)
    foreign_key = create_key(world, other_org, world.as_user(other_owner), Role.ADMIN)
    for principal in (world.as_user(other_owner), ApiKeyPrincipal(org_id=other_org, api_key_id=foreign_key)):
        for command in (
            RenameOrg(org_id=org_id, name="Taken"),
            DeleteOrg(org_id=org_id),
            RemoveMember(org_id=org_id, user_id=other_owner),
        ):
            with pytest.raises(NotFound):
                world.org_command(org_id, command, principal)


def test_a_disabled_user_cannot_act(world: World, org: tuple[UserId, OrgId]) -> None:
    """Once an admin's account is disabled, their principal is refused even for things their role allows."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin_id = join(world, org_id, me, "admin@example.org", Role.ADMIN)
    world.user_command(DisableUser(user_id=admin_id), me)
    with pytest.raises(Forbidden, match="disabled"):
        world.org_command(org_id, RenameOrg(org_id=org_id, name="Renamed"), world.as_user(admin_id))


def test_rename_validates_and_ignores_a_same_name(world: World, org: tuple[UserId, OrgId]) -> None:
    """Renaming to the current name decides nothing; a name with a line break is `InvalidInput`."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    assert world.org_command(org_id, RenameOrg(org_id=org_id, name="  Acme "), me) == []
    with pytest.raises(InvalidInput):
        world.org_command(org_id, RenameOrg(org_id=org_id, name="Evil\nCorp"), me)
    world.org_command(org_id, RenameOrg(org_id=org_id, name="Acme Two"), me)
    assert org_state(world, org_id).name == "Acme Two"


# -- invites ---------------------------------------------------------------------------------------------


def test_an_invite_is_single_use(world: World, org: tuple[UserId, OrgId]) -> None:
    """After an invite is accepted, presenting it again (even by its own user after leaving) is refused."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    invite_id, token = invite(world, org_id, me, "newbie@example.org", Role.MEMBER)
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    newbie = world.sign_up(signup_command("newbie@example.org", route, org_name=None), Anonymous()).user_id
    assert _accept(world, org_id, invite_id, token, newbie) == []  # a retry by the same user is harmless
    world.org_command(org_id, LeaveOrg(org_id=org_id), world.as_user(newbie))
    with pytest.raises(PreconditionFailed, match="accepted"):
        _accept(world, org_id, invite_id, token, newbie)


def test_an_invite_expires(world: World, org: tuple[UserId, OrgId]) -> None:
    """An invite presented after its time to live is refused as expired, and shows as expired."""
    owner_id, org_id = org
    invite_id, token = invite(world, org_id, world.as_user(owner_id), "late@example.org", Role.VIEWER)
    late_id = _registered_elsewhere(world, "late@example.org")
    world.advance(INVITE_TTL_S_DEFAULT)
    with pytest.raises(PreconditionFailed, match="expired"):
        _accept(world, org_id, invite_id, token, late_id)
    assert invite_view(org_state(world, org_id).invites[invite_id], world.now) is InviteStatus.EXPIRED


def _registered_elsewhere(world: World, email: str) -> UserId:
    owner, rival_org = second_tenant(world)
    return join(world, rival_org, world.as_user(owner), email, Role.VIEWER)


def test_a_wrong_token_looks_like_a_missing_invite(world: World, org: tuple[UserId, OrgId]) -> None:
    """A wrong token for a real invite gets the same `NotFound` as an invite that does not exist."""
    owner_id, org_id = org
    invite_id, _ = invite(world, org_id, world.as_user(owner_id), "guess@example.org", Role.MEMBER)
    guesser = _registered_elsewhere(world, "guess@example.org")
    with pytest.raises(NotFound, match="invite not found"):
        _accept(world, org_id, invite_id, "not-the-token", guesser)


def test_an_invite_is_accepted_only_by_its_addressee(world: World, org: tuple[UserId, OrgId]) -> None:
    """A signed-in user with another e-mail address cannot use someone else's invite token."""
    owner_id, org_id = org
    invite_id, token = invite(world, org_id, world.as_user(owner_id), "intended@example.org", Role.ADMIN)
    thief = _registered_elsewhere(world, "thief@example.org")
    with pytest.raises(Forbidden, match="another e-mail"):
        _accept(world, org_id, invite_id, token, thief)


def test_inviting_a_member_or_a_pending_address_is_refused(world: World, org: tuple[UserId, OrgId]) -> None:
    """Inviting a member's address (in any case) or an address with a pending invite is `AlreadyExists`."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    with pytest.raises(AlreadyExists, match="already a member"):
        invite(world, org_id, me, "OWNER@Example.org", Role.MEMBER)
    invite(world, org_id, me, "twice@example.org", Role.MEMBER)
    with pytest.raises(AlreadyExists, match="pending"):
        invite(world, org_id, me, "Twice@example.org", Role.VIEWER)


def test_a_revoked_or_expired_invite_can_be_replaced(world: World, org: tuple[UserId, OrgId]) -> None:
    """After revocation, a revoked invite is unusable, revoking again decides nothing, and the address can be re-invited."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    invite_id, token = invite(world, org_id, me, "maybe@example.org", Role.MEMBER)
    world.org_command(org_id, RevokeInvite(org_id=org_id, invite_id=invite_id), me)
    assert world.org_command(org_id, RevokeInvite(org_id=org_id, invite_id=invite_id), me) == []
    maybe = _registered_elsewhere(world, "maybe@example.org")
    with pytest.raises(PreconditionFailed, match="revoked"):
        _accept(world, org_id, invite_id, token, maybe)
    second, second_token = invite(world, org_id, me, "maybe@example.org", Role.MEMBER)
    events = _accept(world, org_id, second, second_token, maybe)
    assert isinstance(events[0], InviteAccepted)


def test_an_accepted_invite_cannot_be_revoked(world: World, org: tuple[UserId, OrgId]) -> None:
    """Revoking an invite that was already used is refused; removal is the way out."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    join(world, org_id, me, "in@example.org", Role.MEMBER)
    accepted = next(iter(org_state(world, org_id).invites))
    with pytest.raises(PreconditionFailed, match="accepted"):
        world.org_command(org_id, RevokeInvite(org_id=org_id, invite_id=accepted), me)


@pytest.mark.parametrize("ttl_s", [0, 59, 31 * 24 * 3600, -5])
def test_invite_time_to_live_is_bounded(world: World, org: tuple[UserId, OrgId], ttl_s: int) -> None:
    """Invite lifetimes outside one hour to thirty days are refused."""
    owner_id, org_id = org
    with pytest.raises(InvalidInput) as caught:
        invite(world, org_id, world.as_user(owner_id), "ttl@example.org", Role.MEMBER, ttl_s=ttl_s)
    assert caught.value.field == "ttl_s"


# -- API keys ----------------------------------------------------------------------------------------------


def test_api_keys_act_with_their_own_role(world: World, org: tuple[UserId, OrgId]) -> None:
    """An Admin key may rename and invite; a Viewer key may not."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin_key = ApiKeyPrincipal(org_id=org_id, api_key_id=create_key(world, org_id, me, Role.ADMIN))
    viewer_key = ApiKeyPrincipal(org_id=org_id, api_key_id=create_key(world, org_id, me, Role.VIEWER))
    world.org_command(org_id, RenameOrg(org_id=org_id, name="By key"), admin_key)
    with pytest.raises(Forbidden):
        world.org_command(org_id, RenameOrg(org_id=org_id, name="By viewer"), viewer_key)
    assert acting_role(org_state(world, org_id), viewer_key, world.now) is Role.VIEWER


def test_api_keys_never_hold_owner_or_more_than_their_creator(world: World, org: tuple[UserId, OrgId]) -> None:
    """No key gets the Owner role; an Admin key cannot mint an Admin... only up to its own role."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    with pytest.raises(InvalidInput, match="owner"):
        create_key(world, org_id, me, Role.OWNER)
    admin = world.as_user(join(world, org_id, me, "admin@example.org", Role.ADMIN))
    create_key(world, org_id, admin, Role.ADMIN)
    member_key = ApiKeyPrincipal(org_id=org_id, api_key_id=create_key(world, org_id, me, Role.MEMBER))
    with pytest.raises(Forbidden):
        create_key(world, org_id, member_key, Role.VIEWER)


def test_revoked_and_expired_keys_stop_working(world: World, org: tuple[UserId, OrgId]) -> None:
    """A revoked key and a key past its expiry are refused as `Unauthenticated`; revoking twice decides nothing."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    revoked = create_key(world, org_id, me, Role.ADMIN)
    expiring = create_key(world, org_id, me, Role.ADMIN, expires_at=world.now + timedelta(days=1))
    world.org_command(org_id, RevokeApiKey(org_id=org_id, api_key_id=revoked), me)
    assert world.org_command(org_id, RevokeApiKey(org_id=org_id, api_key_id=revoked), me) == []
    with pytest.raises(Unauthenticated):
        world.org_command(
            org_id, RenameOrg(org_id=org_id, name="x1"), ApiKeyPrincipal(org_id=org_id, api_key_id=revoked)
        )
    world.org_command(org_id, RenameOrg(org_id=org_id, name="x2"), ApiKeyPrincipal(org_id=org_id, api_key_id=expiring))
    world.advance(24 * 3600)
    with pytest.raises(Unauthenticated):
        world.org_command(
            org_id, RenameOrg(org_id=org_id, name="x3"), ApiKeyPrincipal(org_id=org_id, api_key_id=expiring)
        )


def test_api_key_expiry_must_be_future_aware_and_bounded(world: World, org: tuple[UserId, OrgId]) -> None:
    """A past, naive or more-than-five-years expiry is `InvalidInput` on `expires_at`."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    for expires_at in (
        world.now - timedelta(seconds=1),
        world.now.replace(tzinfo=None),
        world.now + timedelta(days=2000),
    ):
        with pytest.raises(InvalidInput) as caught:
            create_key(world, org_id, me, Role.VIEWER, expires_at=expires_at)
        assert caught.value.field == "expires_at"


def test_an_api_key_cannot_leave(world: World, org: tuple[UserId, OrgId]) -> None:
    """Leaving is for members; an API key that tries is refused."""
    owner_id, org_id = org
    key = ApiKeyPrincipal(org_id=org_id, api_key_id=create_key(world, org_id, world.as_user(owner_id), Role.MEMBER))
    with pytest.raises(Forbidden):
        world.org_command(org_id, LeaveOrg(org_id=org_id), key)


def test_the_operator_acts_as_an_owner(world: World, org: tuple[UserId, OrgId]) -> None:
    """The operator (data-dir access, `craton admin`) can revoke a key in any organisation."""
    owner_id, org_id = org
    key = create_key(world, org_id, world.as_user(owner_id), Role.ADMIN)
    world.org_command(org_id, RevokeApiKey(org_id=org_id, api_key_id=key), OPERATOR)
    assert org_state(world, org_id).api_keys[key].revoked_at == world.now


def test_a_user_principal_with_a_stale_role_claim_cannot_escalate(world: World, org: tuple[UserId, OrgId]) -> None:
    """The acting role comes from the organisation's state, so a removed member has none left."""
    owner_id, org_id = org
    me = world.as_user(owner_id)
    admin_id = join(world, org_id, me, "admin@example.org", Role.ADMIN)
    world.org_command(org_id, RemoveMember(org_id=org_id, user_id=admin_id), me)
    with pytest.raises(NotFound):
        world.org_command(
            org_id, RenameOrg(org_id=org_id, name="Revenge"), UserPrincipal(user_id=admin_id, email="admin@example.org")
        )
