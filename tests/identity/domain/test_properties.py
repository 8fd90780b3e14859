"""Any sequence of identity commands, by any principal, keeps the domain's invariants.

A hypothesis state machine drives the domain through the same load/decide/append recipe as the
workflows (`world.World`), with random principals (members of every role, API keys, strangers,
the operator, anonymous callers), random targets, clock jumps and signups that crash half-way.
A rejected command must leave the store exactly as it was. After every step it checks:

  * every live organisation has at least one Owner;
  * no two registered users share an e-mail, and each user's e-mail reservation names them;
  * members are unique (by id and by e-mail) and every role in play is one of the four;
  * membership equals an independent model kept from the commands that succeeded, so a removed
    member holds no role;
  * no API key holds the Owner role, and no pending invite is addressed to a current member;
  * every user keeps a way to sign in;
  * replaying each aggregate's stored JSON reproduces, byte for byte, the state evolved live;
and `World` itself checks that no `decide` or `plan_signup` ever mutates what it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from appliance.identity.domain.aggregates import AggregateKind, org_ref, reservation_ref
from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.domain.org_commands import (
    AcceptInvite,
    ChangeMemberRole,
    CreateOrg,
    DeleteOrg,
    LeaveOrg,
    RemoveMember,
    RenameOrg,
    RevokeApiKey,
    RevokeInvite,
)
from appliance.identity.domain.org_events import InviteAccepted
from appliance.identity.domain.org_state import InviteStatus, OrgState, invite_view
from appliance.identity.domain.principals import Anonymous, ApiKeyPrincipal, Principal
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.reservation import ReservationKind
from appliance.identity.domain.signup import InviteRoute, OpenRoute
from appliance.identity.domain.user_commands import DisableUser, EnableUser, GrantInstanceAdmin
from appliance.identity.domain.user_state import UserState, credential_count
from appliance.instance.domain import ChangeSignupMode, SignupMode
from appliance.kernel.errors import ConcurrencyConflict, Rejected
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import to_json

from .world import (
    OPERATOR,
    REPLAY,
    World,
    bootstrap,
    create_key,
    invite,
    join,
    second_tenant,
    signup_command,
    token_hash,
)

EMAILS = ["ann@x.org", "Ann@X.org", "bob@x.org", "cy@y.net", "dee@y.net", "eve@z.io"]
ROLES = list(Role)
ORGS_MAX = 5  # more organisations would mostly hold a lone owner and dilute the interesting steps


class IdentityMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.users: list[UserId] = []
        self.orgs: list[OrgId] = []
        self.invites: list[tuple[OrgId, InviteId, str, str]] = []  # org, invite, e-mail, token
        self.keys: list[tuple[OrgId, ApiKeyId]] = []
        self.model: dict[OrgId, dict[UserId, Role]] = {}
        self.successes = 0

    # -- helpers ---------------------------------------------------------------------------------------

    def _attempt(self, action: Callable[[], Any]) -> Any:
        """Run one decision; a rejection must leave every stored history untouched."""
        before = {ref: list(envelopes) for ref, envelopes in self.world.stored.items()}
        try:
            result = action()
        except Rejected:
            after = {ref: envelopes for ref, envelopes in self.world.stored.items() if envelopes}
            assert after == {ref: envelopes for ref, envelopes in before.items() if envelopes}
            return None
        self.successes += 1
        return result

    def _principal(self, data: st.DataObject) -> Principal:
        choices: list[Principal] = [self.world.as_user(user_id) for user_id in self.users]
        choices += [ApiKeyPrincipal(org_id=org_id, api_key_id=key_id) for org_id, key_id in self.keys]
        choices += [OPERATOR, Anonymous()]
        return data.draw(st.sampled_from(choices), label="principal")

    def _insider(self, data: st.DataObject, org_id: OrgId) -> Principal:
        """Mostly a member of `org_id` (so that decisions get past the door), sometimes anyone."""
        # A half-done signup can leave an organisation owned by a user who is not registered yet.
        members = [user_id for user_id in self.model.get(org_id, {}) if user_id in self.users]
        if members and data.draw(st.integers(0, 3), label="insider?") > 0:
            return self.world.as_user(data.draw(st.sampled_from(members), label="member"))
        return self._principal(data)

    def _member(self, data: st.DataObject, org_id: OrgId) -> UserId:
        """Mostly a member of `org_id`, sometimes any user."""
        members = list(self.model.get(org_id, {}))
        if members and data.draw(st.integers(0, 3), label="member?") > 0:
            return data.draw(st.sampled_from(members), label="target")
        return self._user(data)

    def _addressee(self, data: st.DataObject, email: str) -> Principal:
        """Mostly the registered user the invite was sent to, sometimes anyone."""
        for user_id in self.users:
            if self.world.user(user_id).email == email.lower() and data.draw(st.booleans(), label="addressee?"):
                return self.world.as_user(user_id)
        return self._principal(data)

    def _org(self, data: st.DataObject) -> OrgId:
        return data.draw(st.sampled_from(self.orgs), label="org")

    def _user(self, data: st.DataObject) -> UserId:
        return data.draw(st.sampled_from(self.users), label="user")

    def _org_command(self, target: OrgId, command: Any, principal: Principal, /, **generated: Any) -> list[Any] | None:
        return self._attempt(lambda: self.world.org_command(target, command, principal, **generated))

    def _registered(self, user_id: UserId) -> None:
        if user_id not in self.users:
            self.users.append(user_id)

    # -- rules -------------------------------------------------------------------------------------------

    @initialize()
    def first_team(self) -> None:
        """A first organisation with one member of each role, and a second, unrelated tenant."""
        owner_id, org_id = bootstrap(self.world, "root@x.org")
        self.users.append(owner_id)
        self.orgs.append(org_id)
        self.model[org_id] = {owner_id: Role.OWNER}
        for email, role in (("adm@x.org", Role.ADMIN), ("mem@x.org", Role.MEMBER), ("vee@x.org", Role.VIEWER)):
            user_id = join(self.world, org_id, self.world.as_user(owner_id), email, role)
            self.users.append(user_id)
            self.model[org_id][user_id] = role
        rival_id, rival_org = second_tenant(self.world, "rival@w.org")
        self.users.append(rival_id)
        self.orgs.append(rival_org)
        self.model[rival_org] = {rival_id: Role.OWNER}

    @rule(mode=st.sampled_from(list(SignupMode)))
    def set_signup_mode(self, mode: SignupMode) -> None:
        # The instance aggregate holds the mode; who may change it is the API's guard (instance admins).
        self.world.instance_decide(ChangeSignupMode(signup_mode=mode), expected=len(self.world.instance_events))

    @rule(email=st.sampled_from(EMAILS), steps_max=st.sampled_from([1, 2, 99, 99]))
    def open_signup(self, email: str, steps_max: int) -> None:
        command = signup_command(email, OpenRoute(), org_name=f"Org of {email}")

        def sign_up() -> Any:
            plan, sequences = self.world.plan(command, Anonymous())
            self.world.apply_plan(plan, sequences, Anonymous(), steps_max=steps_max)
            return plan

        plan = self._attempt(sign_up)
        if plan is None:
            return
        done = plan.steps[:steps_max]
        if any(step.target.kind is AggregateKind.ORG for step in done) and plan.org_id not in self.orgs:
            self.orgs.append(plan.org_id)
            self.model[plan.org_id] = {plan.user_id: Role.OWNER}
        if len(done) == len(plan.steps):
            self._registered(plan.user_id)

    @rule(
        data=st.data(),
        use_own_email=st.sampled_from([True, True, True, False]),
        right_token=st.sampled_from([True, True, True, False]),
    )
    def invite_signup(self, data: st.DataObject, use_own_email: bool, right_token: bool) -> None:
        if not self.invites:
            return
        org_id, invite_id, email, real_token = data.draw(st.sampled_from(self.invites), label="invite")
        signup_email = email if use_own_email else data.draw(st.sampled_from(EMAILS), label="email")
        token = real_token if right_token else "guess"
        route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
        plan = self._attempt(
            lambda: self.world.sign_up(signup_command(signup_email, route, org_name=None), Anonymous())
        )
        if plan is not None:
            self._registered(plan.user_id)
            self.model[org_id][plan.user_id] = self._invited_role(org_id, invite_id)

    def _invited_role(self, org_id: OrgId, invite_id: InviteId) -> Role:
        state, _ = self.world.load(org_ref(org_id))
        return state.invites[invite_id].role

    @precondition(lambda self: len(self.orgs) < ORGS_MAX)
    @rule(data=st.data())
    def create_org(self, data: st.DataObject) -> None:
        principal = self._principal(data)
        org_id = self.world.ids.new(OrgId)
        events = self._org_command(org_id, CreateOrg(name="New org"), principal, org_id=org_id)
        if events:
            self.orgs.append(org_id)
            self.model[org_id] = {events[0].owner_id: Role.OWNER}

    @rule(
        data=st.data(), email=st.sampled_from(EMAILS), role=st.sampled_from(ROLES), ttl_s=st.sampled_from([3600, 86400])
    )
    def invite_member(self, data: st.DataObject, email: str, role: Role, ttl_s: int) -> None:
        org_id = self._org(data)
        principal = self._insider(data, org_id)
        result = self._attempt(lambda: invite(self.world, org_id, principal, email, role, ttl_s=ttl_s))
        if result is not None:
            invite_id, token = result
            self.invites.append((org_id, invite_id, email, token))

    @rule(data=st.data(), right_token=st.sampled_from([True, True, True, False]))
    def accept_invite(self, data: st.DataObject, right_token: bool) -> None:
        if not self.invites:
            return
        org_id, invite_id, email, real_token = data.draw(st.sampled_from(self.invites), label="invite")
        principal = self._addressee(data, email)
        token = real_token if right_token else "wrong"
        command = AcceptInvite(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
        events = self._org_command(org_id, command, principal)
        for event in events or []:
            if isinstance(event, InviteAccepted):
                self.model[org_id][event.user_id] = event.role

    @rule(data=st.data())
    def revoke_invite(self, data: st.DataObject) -> None:
        if not self.invites:
            return
        org_id, invite_id, _, _ = data.draw(st.sampled_from(self.invites), label="invite")
        self._org_command(org_id, RevokeInvite(org_id=org_id, invite_id=invite_id), self._insider(data, org_id))

    @rule(data=st.data(), role=st.sampled_from(ROLES))
    def change_role(self, data: st.DataObject, role: Role) -> None:
        org_id = self._org(data)
        target, principal = self._member(data, org_id), self._insider(data, org_id)
        events = self._org_command(org_id, ChangeMemberRole(org_id=org_id, user_id=target, role=role), principal)
        if events is not None:
            self.model[org_id][target] = role

    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        org_id = self._org(data)
        target, principal = self._member(data, org_id), self._insider(data, org_id)
        if self._org_command(org_id, RemoveMember(org_id=org_id, user_id=target), principal) is not None:
            del self.model[org_id][target]

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        org_id = self._org(data)
        principal = self._insider(data, org_id)
        if self._org_command(org_id, LeaveOrg(org_id=org_id), principal) is not None:
            del self.model[org_id][principal.user_id]  # type: ignore[union-attr]

    @rule(data=st.data())
    def rename_or_delete(self, data: st.DataObject) -> None:
        org_id = self._org(data)
        principal = self._insider(data, org_id)
        command = data.draw(st.sampled_from([RenameOrg(org_id=org_id, name="Renamed"), DeleteOrg(org_id=org_id)]))
        self._org_command(org_id, command, principal)

    @rule(data=st.data(), role=st.sampled_from(ROLES))
    def create_api_key(self, data: st.DataObject, role: Role) -> None:
        org_id = self._org(data)
        principal = self._insider(data, org_id)
        key_id = self._attempt(lambda: create_key(self.world, org_id, principal, role))
        if key_id is not None:
            self.keys.append((org_id, key_id))

    @rule(data=st.data())
    def revoke_api_key(self, data: st.DataObject) -> None:
        if not self.keys:
            return
        org_id, key_id = data.draw(st.sampled_from(self.keys), label="key")
        self._org_command(org_id, RevokeApiKey(org_id=org_id, api_key_id=key_id), self._insider(data, org_id))

    @rule(data=st.data(), which=st.sampled_from(["disable", "enable", "grant"]))
    def administer_user(self, data: st.DataObject, which: str) -> None:
        target, principal = self._user(data), self._principal(data)
        command = {"disable": DisableUser, "enable": EnableUser, "grant": GrantInstanceAdmin}[which](user_id=target)
        self._attempt(lambda: self.world.user_command(command, principal))

    @rule(seconds=st.sampled_from([60, 3600, 15 * 60, 2 * 86400]))
    def time_passes(self, seconds: int) -> None:
        self.world.advance(seconds)

    # -- invariants ----------------------------------------------------------------------------------------

    def _org_states(self) -> dict[OrgId, OrgState]:
        return {org_id: self.world.load(org_ref(org_id))[0] for org_id in self.orgs}

    def _user_states(self) -> list[UserState]:
        return [state for ref, state in self.world.live.items() if ref.kind is AggregateKind.USER]

    @invariant()
    def live_orgs_have_an_owner(self) -> None:
        for state in self._org_states().values():
            if state is not None and not state.deleted:
                assert any(member.role is Role.OWNER for member in state.members.values())

    @invariant()
    def emails_are_unique_and_reserved(self) -> None:
        users = self._user_states()
        emails = [user.email for user in users]
        assert len(emails) == len(set(emails))
        for user in users:
            reservation, _ = self.world.load(reservation_ref(ReservationKind.EMAIL, user.email))
            assert reservation is not None
            assert reservation.user_id == user.user_id
            assert credential_count(user) >= 1

    @invariant()
    def membership_matches_the_model_and_roles_are_valid(self) -> None:
        for org_id, state in self._org_states().items():
            if state is None:
                continue
            roles = {user_id: member.role for user_id, member in state.members.items()}
            assert roles == self.model[org_id]
            member_emails = [member.email for member in state.members.values()]
            assert len(member_emails) == len(set(member_emails))
            assert all(role in ROLES for role in roles.values())
            assert all(invite.role in ROLES for invite in state.invites.values())
            assert all(key.role in ROLES and key.role is not Role.OWNER for key in state.api_keys.values())
            pending = [
                i.email for i in state.invites.values() if invite_view(i, self.world.now) is InviteStatus.PENDING
            ]
            assert len(pending) == len(set(pending))
            assert not set(pending) & set(member_emails)

    @invariant()
    def replay_reproduces_the_live_state(self) -> None:
        for ref, live in self.world.live.items():
            replayed = REPLAY[ref.kind](self.world.history(ref))
            assert replayed == live
            assert to_json(replayed) == to_json(live)


IdentityMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestIdentityInvariants = IdentityMachine.TestCase


def test_concurrency_conflicts_are_the_only_way_two_appends_interleave() -> None:
    """The world refuses an append whose expected sequence is stale, as the real store does."""
    world = World()
    owner_id, org_id = bootstrap(world)
    _, sequence = world.load(org_ref(org_id))
    world.org_command(org_id, RenameOrg(org_id=org_id, name="One"), world.as_user(owner_id))
    try:
        world.append(org_ref(org_id), [], expected=sequence, principal=OPERATOR)
    except ConcurrencyConflict:
        return
    raise AssertionError("a stale expected sequence was accepted")
