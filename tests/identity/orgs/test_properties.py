"""Random sequences of organisation commands, through the real workflows and projections, keep the
invariants: every live organisation has at least one Owner, every role is one of the four, the
read model's members, invites and keys equal the aggregates' own state, and the live read model
(streams interleaved in random batches) is byte-identical to a rebuild from sequence 0.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.domain.org_state import OrgState, owners
from appliance.identity.domain.principals import ApiKeyPrincipal, Principal, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.workflows.apikeys import create_api_key, revoke_api_key
from appliance.identity.workflows.invites import accept_invite, invite_member, revoke_invite
from appliance.identity.workflows.members import change_member_role, remove_member
from appliance.identity.workflows.orgs import create_org, delete_org, load_org, rename_org
from appliance.kernel.errors import Rejected
from appliance.kernel.ids import OrgId

from .bench import Bench

USERS = 4
ROLES = list(Role)
OPS = (
    "create",
    "rename",
    "delete",
    "invite",
    "accept",
    "revoke_invite",
    "role",
    "remove",
    "key",
    "revoke_key",
    "as_key",
    "wait",
)

operation = st.tuples(
    st.sampled_from(OPS),
    st.integers(0, USERS - 1),  # who acts
    st.integers(0, USERS - 1),  # whom it concerns
    st.integers(0, 7),  # which org / invite / key (modulo what exists)
    st.sampled_from(ROLES),
    st.sampled_from([True, True, True, False]),  # the actor is a member of the org (or the invitee)
)
Op = tuple[str, int, int, int, Role, bool]


@dataclass
class World:
    bench: Bench
    users: list[UserPrincipal]
    orgs: list[OrgId]
    tokens: list[tuple[OrgId, InviteId, str]]
    keys: list[tuple[OrgId, ApiKeyId]]
    invitees: dict[str, str]


def _pick(items: list, index: int):  # type: ignore[no-untyped-def, type-arg]
    return items[index % len(items)] if items else None


async def _actor(world: World, org_id: OrgId | None, index: int, insider: bool) -> UserPrincipal:
    """Mostly a member of the org (so commands get past the membership check), sometimes anyone."""
    if insider and org_id is not None:
        state = (await load_org(world.bench.store, org_id)).state
        members = sorted(str(user_id) for user_id in state.members) if state else []
        chosen = _pick(members, index)
        if chosen is not None:
            return next(user for user in world.users if str(user.user_id) == chosen)
    return world.users[index]


def _invitee(world: World, token: str, fallback: UserPrincipal, insider: bool) -> UserPrincipal:
    """The user the invite was sent to (the one whose e-mail it names), unless an outsider tries."""
    if not insider:
        return fallback
    sent_to = world.invitees.get(token)
    return next((user for user in world.users if user.email == sent_to), fallback)


async def _step(world: World, op: Op) -> None:
    kind, actor_index, target_index, pick, role, insider = op
    bench, target = world.bench, world.users[target_index]
    org_id = _pick(world.orgs, pick)
    actor = await _actor(world, org_id, actor_index, insider)
    ports = bench.ports
    if kind == "create":
        world.orgs.append((await create_org(ports, bench.db, actor, f"Org {len(world.orgs)}")).org_id)
    elif org_id is None:
        return
    elif kind == "rename":
        await rename_org(ports, org_id, actor, f"Renamed {pick}")
    elif kind == "delete":
        await delete_org(ports, org_id, actor)
    elif kind == "invite":
        issued = await invite_member(ports, org_id, actor, target.email, role)
        world.tokens.append((org_id, issued.invite_id, issued.token))
        world.invitees[issued.token] = target.email
    elif kind == "accept" and world.tokens:
        token = _pick(world.tokens, pick)[2]
        await accept_invite(ports, _invitee(world, token, actor, insider), token)
    elif kind == "revoke_invite" and world.tokens:
        invite_org, invite_id, _ = _pick(world.tokens, pick)
        await revoke_invite(ports, invite_org, actor, invite_id)
    elif kind == "role":
        member = await _actor(world, org_id, target_index, insider)
        await change_member_role(ports, org_id, actor, member.user_id, role)
    elif kind == "remove":
        member = await _actor(world, org_id, target_index, insider)
        await remove_member(ports, org_id, actor, member.user_id)
    elif kind == "key":
        issued_key = await create_api_key(ports, org_id, actor, f"key {pick}", role)
        world.keys.append((org_id, issued_key.api_key_id))
    elif kind == "revoke_key" and world.keys:
        key_org, key_id = _pick(world.keys, pick)
        await revoke_api_key(ports, key_org, actor, key_id)
    elif kind == "as_key" and world.keys:
        key_org, key_id = _pick(world.keys, pick)
        as_key: Principal = ApiKeyPrincipal(org_id=key_org, api_key_id=key_id)
        await change_member_role(ports, key_org, as_key, target.user_id, role)
    elif kind == "wait":
        bench.clock.advance(3600 * (pick + 1) * 24)


def _check_org(world: World, state: OrgState) -> None:
    db = world.bench.db
    org_id = str(state.org_id)
    deleted = db.execute("SELECT deleted FROM orgs WHERE org_id = ?", (org_id,)).fetchone()[0]
    assert bool(deleted) == state.deleted
    if not state.deleted:
        assert owners(state), "a live organisation has an Owner"
    rows = set(db.execute("SELECT user_id, role FROM org_members WHERE org_id = ?", (org_id,)))
    assert rows == {(str(m.user_id), m.role.value) for m in state.members.values()}
    assert {role for _, role in rows} <= {r.value for r in Role}
    open_periods = {
        row[0]
        for row in db.execute("SELECT user_id FROM org_member_periods WHERE org_id = ? AND left_us IS NULL", (org_id,))
    }
    assert open_periods == ({str(u) for u in state.members} if not state.deleted else set())
    invites = set(db.execute("SELECT invite_id, status FROM org_invites WHERE org_id = ?", (org_id,)))
    assert invites == {(str(i.invite_id), i.status.value) for i in state.invites.values()}
    keys = set(db.execute("SELECT key_id, role, revoked FROM api_keys WHERE org_id = ?", (org_id,)))
    expected = {
        (str(k.api_key_id), k.role.value, int(k.revoked_at is not None or state.deleted))
        for k in state.api_keys.values()
    }
    assert keys == expected
    assert all(k.role is not Role.OWNER for k in state.api_keys.values())


async def _run(ops: list[Op], seed: int) -> None:
    bench = Bench(seed=seed)
    users = [bench.user(f"user{index}@example.org") for index in range(USERS)]
    world = World(bench=bench, users=users, orgs=[], tokens=[], keys=[], invitees={})
    world.orgs.append((await create_org(bench.ports, bench.db, users[0], "First")).org_id)
    for op in ops:
        with contextlib.suppress(Rejected):
            await _step(world, op)
        await bench.project()
        for org_id in world.orgs:
            state = (await load_org(bench.store, org_id)).state
            assert state is not None
            _check_org(world, state)
    live, rebuilt = await bench.digests()
    assert live == rebuilt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=30), seed=st.integers(0, 2**16))
def test_random_org_commands_keep_invariants(ops: list[Op], seed: int) -> None:
    """Any sequence of org commands by any user or key keeps ≥ 1 Owner per live org and read model = aggregate = rebuild."""
    asyncio.run(_run(ops, seed))
