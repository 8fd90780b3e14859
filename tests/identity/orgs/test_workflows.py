"""Organisation workflows against the in-memory event store and the real SQLite projections."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from appliance.eventstore.port import org_stream
from appliance.identity.auth.apikeys import api_key_matches, parse_api_key
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.org_commands import INVITE_TTL_S_MIN
from appliance.identity.domain.principals import ApiKeyPrincipal, Operator, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.projections.orgs_query import api_keys_of, invites_of, members_of, org_of_api_key, orgs_of_user
from appliance.identity.workflows.apikeys import create_api_key, revoke_api_key
from appliance.identity.workflows.invites import accept_invite, invite_member, parse_invite_token, revoke_invite
from appliance.identity.workflows.members import change_member_role, remove_member
from appliance.identity.workflows.orgs import ORGS_OWNED_PER_USER_MAX, create_org, delete_org, rename_org
from appliance.kernel.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from appliance.kernel.ids import OrgId

from .bench import Bench


async def _org_with(bench: Bench, owner: UserPrincipal, *members: tuple[UserPrincipal, Role]) -> OrgId:
    change = await create_org(bench.ports, bench.db, owner, "Acme")
    for member, role in members:
        issued = await invite_member(bench.ports, change.org_id, owner, member.email, role)
        await accept_invite(bench.ports, member, issued.token)
    await bench.project()
    return change.org_id


async def _all_stored_bytes(bench: Bench) -> bytes:
    chunks = []
    for info in await bench.store.streams():
        for stored in await bench.store.read(info.name, after_sequence=0, limit=10_000):
            chunks.append(msgspec.json.encode(stored.commit))
    return b"".join(chunks)


def _dump_db(bench: Bench) -> str:
    tables = [row[0] for row in bench.db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    return repr([list(bench.db.execute(f'SELECT * FROM "{table}"')) for table in tables])


async def test_create_org_makes_its_stream_and_an_owner() -> None:
    """Creating an organisation creates ORG_<id> and projects the org, its Owner and an audit row."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    change = await create_org(bench.ports, bench.db, alice, "  Acme  ")
    await bench.project()
    assert org_stream(change.org_id) in {info.name for info in await bench.store.streams()}
    orgs = orgs_of_user(bench.db, alice.user_id)
    assert [(o.org_id, o.name, o.role, o.members) for o in orgs] == [(str(change.org_id), "Acme", "owner", 1)]
    audit = list(bench.db.execute("SELECT event_type, org_id, user_id FROM audit_events"))
    assert audit == [("OrgCreated", str(change.org_id), str(alice.user_id))]


async def test_refused_create_leaves_no_stream() -> None:
    """A refused creation (API key caller, bad name) creates no stream and appends nothing."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org_id = await _org_with(bench, alice)
    key = ApiKeyPrincipal(org_id=org_id, api_key_id=bench.ids.new(ApiKeyId))
    before = await bench.store.streams()
    with pytest.raises(Forbidden):
        await create_org(bench.ports, bench.db, key, "Other")
    with pytest.raises(InvalidInput):
        await create_org(bench.ports, bench.db, alice, "\x00" * 3)
    with pytest.raises(InvalidInput):
        await create_org(bench.ports, bench.db, alice, 42)  # type: ignore[arg-type]
    assert await bench.store.streams() == before


async def test_orgs_owned_per_user_are_capped() -> None:
    """A user owns at most ORGS_OWNED_PER_USER_MAX organisations; the next one is refused."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    for index in range(ORGS_OWNED_PER_USER_MAX):
        await create_org(bench.ports, bench.db, alice, f"Org {index}")
    await bench.project()
    with pytest.raises(PreconditionFailed):
        await create_org(bench.ports, bench.db, alice, "One too many")


async def test_last_owner_cannot_leave_be_removed_or_demoted() -> None:
    """The last Owner can neither leave, be removed nor be demoted; with a second Owner all three work."""
    bench = Bench()
    alice, bob = bench.user("alice@example.org"), bench.user("bob@example.org")
    org_id = await _org_with(bench, alice, (bob, Role.ADMIN))
    with pytest.raises(PreconditionFailed):
        await remove_member(bench.ports, org_id, alice, alice.user_id)
    with pytest.raises(PreconditionFailed):
        await change_member_role(bench.ports, org_id, alice, alice.user_id, Role.ADMIN)
    with pytest.raises(Forbidden):
        await remove_member(bench.ports, org_id, bob, alice.user_id)  # an Admin never acts on an Owner
    await change_member_role(bench.ports, org_id, alice, bob.user_id, Role.OWNER)
    await change_member_role(bench.ports, org_id, bob, alice.user_id, Role.VIEWER)
    await remove_member(bench.ports, org_id, alice, alice.user_id)  # leaving
    await bench.project()
    assert [(m.email, m.role) for m in members_of(bench.db, org_id)] == [("bob@example.org", "owner")]
    with pytest.raises(PreconditionFailed):
        await remove_member(bench.ports, org_id, bob, bob.user_id)


async def test_invite_token_is_shown_once_and_stored_hashed() -> None:
    """The invite token appears in no stored event and no read-model row; its hash is what is kept."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org_id = await _org_with(bench, alice)
    issued = await invite_member(bench.ports, org_id, alice, "Carol@Example.org", Role.MEMBER)
    await bench.project()
    presented = parse_invite_token(issued.token)
    assert (presented.org_id, presented.invite_id) == (org_id, issued.invite_id)
    stored = await _all_stored_bytes(bench)
    assert issued.token.encode() not in stored
    assert presented.token_hash.encode() in stored
    assert issued.token not in _dump_db(bench)
    assert presented.token_hash not in _dump_db(bench)  # the read model does not even keep the hash
    [view] = invites_of(bench.db, org_id, bench.clock.now(), pending_only=True)
    assert (view.email, view.role, view.status) == ("carol@example.org", "member", "pending")


async def test_invite_is_single_use() -> None:
    """An accepted invite cannot be used again by anyone; the same user accepting again is a no-op."""
    bench = Bench()
    alice, carol = bench.user("alice@example.org"), bench.user("carol@example.org")
    org_id = await _org_with(bench, alice)
    issued = await invite_member(bench.ports, org_id, alice, carol.email, Role.MEMBER)
    first = await accept_invite(bench.ports, carol, issued.token)
    again = await accept_invite(bench.ports, carol, issued.token)
    assert first.sequence is not None
    assert again.sequence is None
    impostor = UserPrincipal(user_id=bench.user("x@example.org").user_id, email=carol.email)
    with pytest.raises(PreconditionFailed, match="accepted"):
        await accept_invite(bench.ports, impostor, issued.token)
    await bench.project()
    [view] = invites_of(bench.db, org_id, bench.clock.now(), pending_only=False)
    assert (view.status, view.accepted_by) == ("accepted", str(carol.user_id))
    assert invites_of(bench.db, org_id, bench.clock.now(), pending_only=True) == []


async def test_invite_expires() -> None:
    """An invite past its expiry is refused, and listed as expired."""
    bench = Bench()
    alice, carol = bench.user("alice@example.org"), bench.user("carol@example.org")
    org_id = await _org_with(bench, alice)
    issued = await invite_member(bench.ports, org_id, alice, carol.email, Role.VIEWER, ttl_s=INVITE_TTL_S_MIN)
    bench.clock.advance(INVITE_TTL_S_MIN)
    with pytest.raises(PreconditionFailed, match="expired"):
        await accept_invite(bench.ports, carol, issued.token)
    await bench.project()
    [view] = invites_of(bench.db, org_id, bench.clock.now(), pending_only=False)
    assert view.status == "expired"


async def test_invite_refusals() -> None:
    """Wrong address, tampered token, malformed token and a revoked invite are each refused precisely."""
    bench = Bench()
    alice, carol, dave = bench.user("alice@example.org"), bench.user("carol@example.org"), bench.user("d@example.org")
    org_id = await _org_with(bench, alice)
    issued = await invite_member(bench.ports, org_id, alice, carol.email, Role.MEMBER)
    with pytest.raises(Forbidden):
        await accept_invite(bench.ports, dave, issued.token)
    flipped = issued.token[:-2] + ("A" if issued.token[-2] != "A" else "B") + issued.token[-1]
    with pytest.raises(NotFound):
        await accept_invite(bench.ports, carol, flipped)
    for bad in ["", "cri_", issued.token + "A", "crk_" + issued.token[4:], issued.token[:-1] + "!", None, 7]:
        with pytest.raises(InvalidInput):
            await accept_invite(bench.ports, carol, bad)
    with pytest.raises(AlreadyExists):
        await invite_member(bench.ports, org_id, alice, carol.email, Role.MEMBER)
    await revoke_invite(bench.ports, org_id, alice, issued.invite_id)
    with pytest.raises(PreconditionFailed, match="revoked"):
        await accept_invite(bench.ports, carol, issued.token)


async def test_api_key_shown_once_stored_hashed_and_revocable() -> None:
    """A key's text is returned once and stored only as its SHA-256; revocation is projected."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org_id = await _org_with(bench, alice)
    issued = await create_api_key(bench.ports, org_id, alice, "ci", Role.MEMBER)
    await bench.project()
    assert issued.token not in _dump_db(bench)
    assert issued.token.encode() not in await _all_stored_bytes(bench)
    presented = parse_api_key(issued.token)
    row = bench.db.execute(
        "SELECT key_sha256, prefix, role, created_by, revoked FROM api_keys WHERE key_id = ?", (str(issued.api_key_id),)
    ).fetchone()
    assert api_key_matches(presented, row[0])
    assert row[1:] == (presented.prefix, "member", str(alice.user_id), 0)
    assert org_of_api_key(bench.db, issued.api_key_id) == org_id
    await revoke_api_key(bench.ports, org_id, alice, issued.api_key_id)
    await bench.project()
    assert api_keys_of(bench.db, org_id, bench.clock.now(), include_revoked=False) == []
    [view] = api_keys_of(bench.db, org_id, bench.clock.now(), include_revoked=True)
    assert view.revoked
    assert view.revoked_at is not None


async def test_key_made_by_a_key_acts_for_the_same_user() -> None:
    """A key created with an Admin key records the creating key's user; an operator's key records none."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org_id = await _org_with(bench, alice)
    admin_key = await create_api_key(bench.ports, org_id, alice, "admin", Role.ADMIN)
    as_key = ApiKeyPrincipal(org_id=org_id, api_key_id=admin_key.api_key_id)
    child = await create_api_key(bench.ports, org_id, as_key, "child", Role.VIEWER)
    by_operator = await create_api_key(bench.ports, org_id, Operator(name="root"), "ops", Role.VIEWER)
    with pytest.raises(InvalidInput):
        await create_api_key(bench.ports, org_id, as_key, "never an owner", Role.OWNER)
    viewer_key = await create_api_key(bench.ports, org_id, alice, "viewer", Role.VIEWER)
    with pytest.raises(Forbidden):
        await create_api_key(
            bench.ports, org_id, ApiKeyPrincipal(org_id=org_id, api_key_id=viewer_key.api_key_id), "x", Role.VIEWER
        )
    await bench.project()
    creators = dict(bench.db.execute("SELECT key_id, created_by FROM api_keys"))
    assert creators[str(child.api_key_id)] == str(alice.user_id)
    assert creators[str(by_operator.api_key_id)] is None


async def test_deleted_org_disappears_and_its_keys_stop() -> None:
    """Deleting an organisation hides it from its members' lists and marks every key revoked."""
    bench = Bench()
    alice, bob = bench.user("alice@example.org"), bench.user("bob@example.org")
    org_id = await _org_with(bench, alice, (bob, Role.ADMIN))
    await create_api_key(bench.ports, org_id, alice, "ci", Role.MEMBER)
    with pytest.raises(Forbidden):
        await delete_org(bench.ports, org_id, bob)
    await delete_org(bench.ports, org_id, alice)
    await bench.project()
    assert orgs_of_user(bench.db, alice.user_id) == []
    assert [row[0] for row in bench.db.execute("SELECT revoked FROM api_keys")] == [1]
    with pytest.raises(NotFound):
        await rename_org(bench.ports, org_id, alice, "Back")


async def test_live_projection_equals_rebuild_with_interleaved_streams() -> None:
    """Projecting streams interleaved in random batches gives the same bytes as a rebuild stream by stream."""
    for seed in range(3):
        bench = Bench(seed=seed)
        alice, bob = bench.user("alice@example.org"), bench.user("bob@example.org")
        first = await _org_with(bench, alice, (bob, Role.MEMBER))
        second = await _org_with(bench, bob, (alice, Role.VIEWER))
        await rename_org(bench.ports, first, alice, "Renamed")
        await remove_member(bench.ports, second, alice, alice.user_id)
        bench.clock.advance(timedelta(hours=1).total_seconds())
        await create_api_key(bench.ports, first, alice, "k", Role.VIEWER)
        live, rebuilt = await bench.digests()
        assert live == rebuilt, f"seed {seed}"
