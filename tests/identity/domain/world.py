"""A small in-memory stand-in for the identity workflows, used by the domain tests.

It follows the recipe the domain documents: load an aggregate by decoding its stored envelopes
and replaying them, decide, then append with the expected last sequence. Every event is sealed
into a real envelope (JSON payload) and decoded back when loaded, so every test also exercises
the JSON round trip. Before each decision the state is snapshotted and compared afterwards, so
any test driven through the world also checks that `decide` never mutates its state.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.identity.domain.aggregates import (
    AggregateKind,
    AggregateRef,
    org_ref,
    reservation_ref,
    session_ref,
    user_ref,
)
from appliance.identity.domain.events import (
    decode_event,
    replay_org,
    replay_reservation,
    replay_session,
    replay_user,
)
from appliance.identity.domain.ids import ApiKeyId, InviteId, PasskeyId
from appliance.identity.domain.org_commands import CreateApiKey, InviteMember
from appliance.identity.domain.org_decide import decide_org
from appliance.identity.domain.org_state import OrgState, evolve_org
from appliance.identity.domain.principals import (
    Anonymous,
    DecisionContext,
    Generated,
    Operator,
    Principal,
    SetupTokenHolder,
    UserPrincipal,
    actor_label,
)
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.reservation import ReservationKind, evolve_reservation, external_value
from appliance.identity.domain.session import RecordSignIn, SignInMethod, decide_sign_in, evolve_session
from appliance.identity.domain.signup import (
    InviteRoute,
    OpenRoute,
    SetupRoute,
    SignUp,
    SignupFacts,
    SignupPlan,
    plan_signup,
    signup_email,
    signup_ids,
)
from appliance.identity.domain.user_decide import decide_user
from appliance.identity.domain.user_state import UserState, evolve_user
from appliance.instance import domain as instance_domain
from appliance.instance.domain import ChangeSignupMode, InstanceState, SignupMode, SpendSetupToken
from appliance.kernel.envelope import DomainEvent, EventEnvelope, EventMeta, seal
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput
from appliance.kernel.ids import EventId, InstanceId, OrgId, SequentialIds, SessionId, UserId
from appliance.kernel.structs import to_json

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
OTHER_PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo"

EVOLVE: dict[AggregateKind, Callable[[Any, Any], Any]] = {
    AggregateKind.RESERVATION: evolve_reservation,
    AggregateKind.USER: evolve_user,
    AggregateKind.ORG: evolve_org,
    AggregateKind.SESSION: evolve_session,
}

REPLAY: dict[AggregateKind, Callable[[list[Any]], Any]] = {
    AggregateKind.RESERVATION: replay_reservation,
    AggregateKind.USER: replay_user,
    AggregateKind.ORG: replay_org,
    AggregateKind.SESSION: replay_session,
}


def token_hash(token: str) -> str:
    """How the tests hash one-time tokens (the domain treats hashes as opaque strings)."""
    return hashlib.sha256(token.encode()).hexdigest()


SETUP_TOKEN = "the-setup-token"
INSTANCE = "instance"  # the key of the instance aggregate's sequence in a signup's loaded sequences


class World:
    def __init__(self, seed: int = 0) -> None:
        self.now = START
        self.ids = SequentialIds(seed)
        self.stored: dict[AggregateRef, list[EventEnvelope]] = {}
        # What a long-running process would hold: states evolved one event at a time, from the
        # event objects as decided (never decoded). Compared against fresh replays by the tests.
        self.live: dict[AggregateRef, Any] = {}
        # The instance aggregate (appliance.instance), which holds the signup mode and the setup
        # token: created as the runtime creates it on first start.
        self.instance_events: list[DomainEvent] = []
        self.instance = InstanceState()
        self.instance_decide(
            instance_domain.InitialiseInstance(
                instance_id=self.ids.new(InstanceId), name="test", setup_token_sha256=token_hash(SETUP_TOKEN)
            ),
            expected=0,
        )

    # -- time and context ------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def ctx(self, principal: Principal, **generated: Any) -> DecisionContext:
        return DecisionContext(now=self.now, principal=principal, generated=Generated(**generated))

    # -- the event store ---------------------------------------------------------------------------

    def history(self, ref: AggregateRef) -> list[DomainEvent]:
        return [decode_event(envelope) for envelope in self.stored.get(ref, [])]

    def load(self, ref: AggregateRef) -> tuple[Any, int]:
        return REPLAY[ref.kind](self.history(ref)), len(self.stored.get(ref, []))

    def append(self, ref: AggregateRef, events: Sequence[DomainEvent], *, expected: int, principal: Principal) -> None:
        stored = self.stored.setdefault(ref, [])
        if len(stored) != expected:
            raise ConcurrencyConflict(ref.aggregate_id, expected)
        if not events:
            return
        commit = seal(
            events,
            aggregate_type=ref.kind.value,
            aggregate_id=ref.aggregate_id,
            version_before=len(stored),
            event_ids=[self.ids.new(EventId) for _ in events],
            occurred_at=self.now,
            meta=EventMeta(actor=actor_label(principal), correlation_id="test"),
        )
        stored.extend(commit.events)
        state = self.live.get(ref)
        for event in events:
            state = EVOLVE[ref.kind](state, event)
        self.live[ref] = state

    # -- load, decide (checking it mutates nothing), append -----------------------------------------

    def decide(
        self, ref: AggregateRef, decide: Callable[..., list[Any]], command: Any, ctx: DecisionContext
    ) -> list[Any]:
        state, sequence = self.load(ref)
        before_json = None if state is None else to_json(state)
        before = copy.deepcopy(state)
        try:
            events = decide(state, command, ctx)
        finally:
            assert state == before, "decide mutated the state it was given"
            assert (None if state is None else to_json(state)) == before_json, "decide mutated the state"
        self.append(ref, events, expected=sequence, principal=ctx.principal)
        return events

    def instance_decide(self, command: Any, *, expected: int) -> list[DomainEvent]:
        if len(self.instance_events) != expected:
            raise ConcurrencyConflict("instance", expected)
        events = instance_domain.decide(self.instance, command, instance_domain.Context(now=self.now))
        for event in events:
            self.instance = instance_domain.evolve(self.instance, event)
        self.instance_events.extend(events)
        return events

    def user_command(self, command: Any, principal: Principal, /, **generated: Any) -> list[Any]:
        return self.decide(user_ref(command.user_id), decide_user, command, self.ctx(principal, **generated))

    def org_command(self, target: OrgId, command: Any, principal: Principal, /, **generated: Any) -> list[Any]:
        return self.decide(org_ref(target), decide_org, command, self.ctx(principal, **generated))

    # -- workflows that span aggregates --------------------------------------------------------------

    def plan(self, command: SignUp, principal: Principal) -> tuple[SignupPlan, dict[Any, int]]:
        ctx = self.ctx(principal, user_id=self.ids.new(UserId), org_id=self.ids.new(OrgId))
        email = signup_email(command)
        instance, instance_seq = self.instance, len(self.instance_events)
        reservation, reservation_seq = self.load(reservation_ref(ReservationKind.EMAIL, email))
        ids = signup_ids(command, instance, reservation, ctx)
        user, user_seq = self.load(user_ref(ids.user_id))
        org, org_seq = (None, 0) if ids.org_id is None else self.load(org_ref(ids.org_id))
        facts = SignupFacts(instance=instance, reservation=reservation, user=user, org=org)
        before = (copy.deepcopy(facts), to_json(facts))
        try:
            plan = plan_signup(command, facts, ctx)
        finally:
            assert (facts, to_json(facts)) == before, "plan_signup mutated the facts it was given"
        sequences: dict[Any, int] = {
            INSTANCE: instance_seq,
            reservation_ref(ReservationKind.EMAIL, email): reservation_seq,
            user_ref(ids.user_id): user_seq,
        }
        if ids.org_id is not None:
            sequences[org_ref(ids.org_id)] = org_seq
        return plan, sequences

    def apply_plan(
        self, plan: SignupPlan, sequences: dict[Any, int], principal: Principal, *, steps_max: int = 99
    ) -> None:
        """Carry out the plan's steps (spending the setup token counts as the first), up to `steps_max`."""
        if plan.setup_spend is not None:
            if steps_max < 1:
                return
            steps_max -= 1
            spend = plan.setup_spend
            # The shell checks the presented token: in the world, the setup-token principal holds it.
            presented = token_hash(SETUP_TOKEN if isinstance(principal, SetupTokenHolder) else "not-the-token")
            command = SpendSetupToken(
                presented_token_sha256=presented,
                spent_by=actor_label(principal),
                user_id=spend.user_id,
                org_id=spend.org_id,
                email=spend.email,
            )
            self.instance_decide(command, expected=sequences[INSTANCE])
        for step in plan.steps[:steps_max]:
            self.append(step.target, step.events, expected=sequences[step.target], principal=principal)

    def sign_up_external(self, command: SignUp, principal: Principal) -> SignupPlan:
        """A signup that also reserves its external identity (the workflow loads that reservation too)."""
        assert command.external is not None or command.password_hash is None
        ctx = self.ctx(principal, user_id=self.ids.new(UserId), org_id=self.ids.new(OrgId))
        email = signup_email(command)
        reservation, reservation_seq = self.load(reservation_ref(ReservationKind.EMAIL, email))
        ids = signup_ids(command, self.instance, reservation, ctx)
        external_ref = None
        external, external_seq = None, 0
        if command.external is not None:
            try:
                value = external_value(command.external.provider, command.external.subject)
            except InvalidInput:
                value = None  # the plan refuses it; there is no reservation to load
            if value is not None:
                external_ref = reservation_ref(ReservationKind.EXTERNAL, value)
                external, external_seq = self.load(external_ref)
        user, user_seq = self.load(user_ref(ids.user_id))
        org, org_seq = (None, 0) if ids.org_id is None else self.load(org_ref(ids.org_id))
        facts = SignupFacts(
            instance=self.instance, reservation=reservation, user=user, org=org, external_reservation=external
        )
        plan = plan_signup(command, facts, ctx)
        sequences: dict[Any, int] = {
            INSTANCE: len(self.instance_events),
            reservation_ref(ReservationKind.EMAIL, email): reservation_seq,
            user_ref(ids.user_id): user_seq,
        }
        if external_ref is not None:
            sequences[external_ref] = external_seq
        if ids.org_id is not None:
            sequences[org_ref(ids.org_id)] = org_seq
        self.apply_plan(plan, sequences, principal)
        return plan

    def sign_up(self, command: SignUp, principal: Principal) -> SignupPlan:
        plan, sequences = self.plan(command, principal)
        self.apply_plan(plan, sequences, principal)
        return plan

    def sign_in(self, email: str, *, verified: bool, principal: Principal) -> tuple[SessionId, list[Any]]:
        session_id = self.ids.new(SessionId)
        reservation, _ = self.load(reservation_ref(ReservationKind.EMAIL, email))
        user = None
        if reservation is not None and reservation.user_id is not None:
            user, _ = self.load(user_ref(reservation.user_id))
        ctx = self.ctx(principal, session_id=session_id)
        command = RecordSignIn(email=email, method=SignInMethod.PASSWORD, credential_verified=verified)
        events = decide_sign_in(user, command, ctx)
        self.append(session_ref(session_id), events, expected=0, principal=principal)
        return session_id, events

    # -- principals ------------------------------------------------------------------------------------

    def user(self, user_id: UserId) -> UserState:
        state, _ = self.load(user_ref(user_id))
        assert state is not None
        return state

    def as_user(self, user_id: UserId) -> UserPrincipal:
        """The principal the auth layer would build for this user right now."""
        state = self.user(user_id)
        return UserPrincipal(
            user_id=state.user_id, email=state.email, active=state.active, instance_admin=state.instance_admin
        )

    def new_invite_id(self) -> InviteId:
        return self.ids.new(InviteId)

    def new_api_key_id(self) -> ApiKeyId:
        return self.ids.new(ApiKeyId)

    def new_passkey_id(self) -> PasskeyId:
        return self.ids.new(PasskeyId)


# -- scenario helpers ----------------------------------------------------------------------------------

OPERATOR = Operator(name="root")


def signup_command(email: str, route: Any, *, org_name: str | None = "Acme", name: str = "Someone") -> SignUp:
    return SignUp(email=email, display_name=name, password_hash=PASSWORD_HASH, route=route, org_name=org_name)


def bootstrap(world: World, email: str = "owner@example.org", org_name: str = "Acme") -> tuple[UserId, OrgId]:
    """The first signup with the setup token: an instance admin who owns the first organisation."""
    plan = world.sign_up(signup_command(email, SetupRoute(), org_name=org_name), SetupTokenHolder())
    assert plan.org_id is not None
    return plan.user_id, plan.org_id


def invite(
    world: World, org_id: OrgId, inviter: Principal, email: str, role: Role, **kwargs: Any
) -> tuple[InviteId, str]:
    """Invite `email` with `role`; returns the invite id and its plaintext token."""
    invite_id = world.new_invite_id()
    token = f"invite-token-{invite_id}"
    command = InviteMember(org_id=org_id, email=email, role=role, **kwargs)
    world.org_command(org_id, command, inviter, invite_id=invite_id, secret_hash=token_hash(token))
    return invite_id, token


def join(world: World, org_id: OrgId, inviter: Principal, email: str, role: Role) -> UserId:
    """Invite `email` and sign them up with the invite: a new user who is a member with `role`."""
    invite_id, token = invite(world, org_id, inviter, email, role)
    route = InviteRoute(org_id=org_id, invite_id=invite_id, token_hash=token_hash(token))
    plan = world.sign_up(signup_command(email, route, org_name=None), Anonymous())
    return plan.user_id


def create_key(world: World, org_id: OrgId, creator: Principal, role: Role, **kwargs: Any) -> ApiKeyId:
    api_key_id = world.new_api_key_id()
    command = CreateApiKey(org_id=org_id, name=f"key {api_key_id}", role=role, **kwargs)
    world.org_command(
        org_id,
        command,
        creator,
        api_key_id=api_key_id,
        secret_hash=token_hash(f"crk_{api_key_id}"),
        secret_prefix=f"crk_{str(api_key_id)[-6:]}",
    )
    return api_key_id


def open_signups(world: World) -> None:
    world.instance_decide(ChangeSignupMode(signup_mode=SignupMode.OPEN), expected=len(world.instance_events))


def second_tenant(world: World, email: str = "rival@example.net") -> tuple[UserId, OrgId]:
    """Another organisation, made by open signup, owned by someone unrelated to the first."""
    open_signups(world)
    plan = world.sign_up(signup_command(email, OpenRoute(), org_name="Rival"), Anonymous())
    assert plan.org_id is not None
    return plan.user_id, plan.org_id


def org_state(world: World, org_id: OrgId) -> OrgState:
    state, _ = world.load(org_ref(org_id))
    assert state is not None
    return state
