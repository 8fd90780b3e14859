"""The audit trail: which events an organisation sees, paging newest first, and cursors."""

from __future__ import annotations

import base64

import pytest

from appliance.eventstore.port import platform_subject
from appliance.identity.domain.principals import Actor, ActorKind, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.session import SignedIn, SignInMethod
from appliance.identity.projections.audit_query import (
    AUDIT_PAGE_ENTRIES_MAX,
    check_event_types,
    check_limit,
    instance_audit_page,
    org_audit_page,
)
from appliance.identity.workflows.apikeys import create_api_key
from appliance.identity.workflows.invites import accept_invite, invite_member
from appliance.identity.workflows.members import change_member_role, remove_member
from appliance.identity.workflows.orgs import create_org
from appliance.kernel.envelope import EventMeta, seal
from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import EventId, OrgId, SessionId

from .bench import Bench


async def _sign_in(bench: Bench, user: UserPrincipal) -> None:
    """Append a real `SignedIn` event on the platform stream, as the login workflow does."""
    session_id = bench.ids.new(SessionId)
    event = SignedIn(
        session_id=session_id,
        user_id=user.user_id,
        email=user.email,
        method=SignInMethod.PASSWORD,
        at=bench.clock.now(),
        by=Actor(kind=ActorKind.ANONYMOUS),
    )
    commit = seal(
        [event],
        aggregate_type="session",
        aggregate_id=str(session_id),
        version_before=0,
        event_ids=[bench.ids.new(EventId)],
        occurred_at=bench.clock.now(),
        meta=EventMeta(actor="anonymous", correlation_id="test"),
    )
    await bench.store.ensure_stream("PLATFORM")
    await bench.store.append(platform_subject("identity", "session", str(session_id)), commit, expected_last_sequence=0)


def _all(bench: Bench, org_id: OrgId | None, limit: int, types: frozenset[str] = frozenset()) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        if org_id is None:
            page = instance_audit_page(bench.db, types=types, cursor=cursor, limit=limit)
        else:
            page = org_audit_page(bench.db, org_id, types=types, cursor=cursor, limit=limit)
        seen.extend(f"{entry.type}:{entry.user_id}" for entry in page.entries)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_org_sees_its_members_events_only_while_they_are_members() -> None:
    """A user's sign-ins show in an org's audit only between joining and leaving; never in a foreign org."""
    bench = Bench()
    alice, bob = bench.user("alice@example.org"), bench.user("bob@example.org")
    org = (await create_org(bench.ports, bench.db, alice, "Acme")).org_id
    other = (await create_org(bench.ports, bench.db, bob, "Other")).org_id
    bench.clock.advance(1)
    await _sign_in(bench, bob)  # before bob joins Acme
    bench.clock.advance(1)
    issued = await invite_member(bench.ports, org, alice, bob.email, Role.MEMBER)
    bench.clock.advance(1)
    await accept_invite(bench.ports, bob, issued.token)
    bench.clock.advance(1)
    await _sign_in(bench, bob)  # while a member
    bench.clock.advance(1)
    await remove_member(bench.ports, org, bob, bob.user_id)
    bench.clock.advance(1)
    await _sign_in(bench, bob)  # after leaving
    await _sign_in(bench, alice)
    await bench.project()
    acme = _all(bench, org, limit=2)
    assert acme == [
        f"SignedIn:{alice.user_id}",
        f"MemberLeft:{bob.user_id}",
        f"SignedIn:{bob.user_id}",
        f"InviteAccepted:{bob.user_id}",
        "MemberInvited:None",
        f"OrgCreated:{alice.user_id}",
    ]
    assert _all(bench, other, limit=50) == [f"SignedIn:{bob.user_id}"] * 3 + [f"OrgCreated:{bob.user_id}"]
    assert len(_all(bench, None, limit=3)) == 9  # 2 OrgCreated, 4 SignedIn, invited, accepted, left


async def test_type_filter_and_detail_without_secrets() -> None:
    """Filtering by type keeps only that type; entries carry the event's fields but never hashes."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org = (await create_org(bench.ports, bench.db, alice, "Acme")).org_id
    await invite_member(bench.ports, org, alice, "carol@example.org", Role.VIEWER)
    key = await create_api_key(bench.ports, org, alice, "ci", Role.MEMBER)
    await bench.project()
    page = org_audit_page(bench.db, org, types=check_event_types(["ApiKeyCreated"]), cursor=None, limit=10)
    [entry] = page.entries
    assert entry.detail["api_key_id"] == str(key.api_key_id)
    assert entry.detail["role"] == "member"
    assert entry.actor == f"user:{alice.user_id}"
    every = org_audit_page(bench.db, org, types=frozenset(), cursor=None, limit=10)
    for shown in every.entries:
        assert not {"key_hash", "token_hash", "password_hash"} & set(shown.detail)


async def test_paging_is_stable_under_concurrent_appends() -> None:
    """Events appended between pages never repeat or hide rows that existed when paging began."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org = (await create_org(bench.ports, bench.db, alice, "Acme")).org_id
    for index in range(9):
        bench.clock.advance(1)
        await create_api_key(bench.ports, org, alice, f"k{index}", Role.VIEWER)
    await bench.project()
    before = _all(bench, org, limit=100)
    seen: list[str] = []
    page = org_audit_page(bench.db, org, types=frozenset(), cursor=None, limit=3)
    seen.extend(e.event_id for e in page.entries)
    while page.next_cursor is not None:
        bench.clock.advance(1)
        await create_api_key(bench.ports, org, alice, "meanwhile", Role.VIEWER)
        await change_member_role(bench.ports, org, alice, alice.user_id, Role.OWNER)  # a no-op decision
        await bench.project()
        page = org_audit_page(bench.db, org, types=frozenset(), cursor=page.next_cursor, limit=3)
        seen.extend(e.event_id for e in page.entries)
    assert len(seen) == len(set(seen)) == len(before) == 10


async def test_hostile_cursors_are_refused() -> None:
    """Malformed, tampered, oversized and foreign cursors are InvalidInput, never a wrong page."""
    bench = Bench()
    alice = bench.user("alice@example.org")
    org = (await create_org(bench.ports, bench.db, alice, "Acme")).org_id
    other = (await create_org(bench.ports, bench.db, alice, "Other")).org_id
    for index in range(3):
        await create_api_key(bench.ports, org, alice, f"k{index}", Role.VIEWER)
    await bench.project()
    cursor = org_audit_page(bench.db, org, types=frozenset(), cursor=None, limit=1).next_cursor
    assert cursor is not None
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    forged = decoded.replace(".", ".9", 1)
    hostile = [
        "",
        "x" * 10_000,
        "not base64!",
        "////",
        cursor[:-2],
        cursor + "AA",
        base64.urlsafe_b64encode(b"a1.1.zz.0000000000000000").decode(),
        base64.urlsafe_b64encode("a1.\u0661.x".encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(f"a1.{2**64}.{decoded.split('.')[2]}.{decoded.split('.')[3]}".encode()).decode(),
    ]
    for bad in hostile:
        with pytest.raises(InvalidInput, match="cursor"):
            org_audit_page(bench.db, org, types=frozenset(), cursor=bad, limit=5)
    # A cursor is a position, not a capability: an edited position only starts elsewhere in the
    # same view (here: after the newest possible moment, i.e. from the top), never outside it.
    moved = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    from_top = org_audit_page(bench.db, org, types=frozenset(), cursor=moved, limit=50)
    assert from_top.entries == org_audit_page(bench.db, org, types=frozenset(), cursor=None, limit=50).entries
    with pytest.raises(InvalidInput):  # another organisation's listing
        org_audit_page(bench.db, other, types=frozenset(), cursor=cursor, limit=5)
    with pytest.raises(InvalidInput):  # the same organisation with another filter
        org_audit_page(bench.db, org, types=frozenset({"OrgCreated"}), cursor=cursor, limit=5)
    with pytest.raises(InvalidInput):  # the instance-wide listing
        instance_audit_page(bench.db, types=frozenset(), cursor=cursor, limit=5)


def test_filters_and_limits_are_checked() -> None:
    """Unknown event types, too many types and limits out of range are InvalidInput."""
    with pytest.raises(InvalidInput):
        check_event_types(["NoSuchEvent"])
    with pytest.raises(InvalidInput):
        check_event_types([f"T{index}" for index in range(100)])
    assert check_event_types(["OrgCreated", "OrgCreated"]) == frozenset({"OrgCreated"})
    for bad in (0, -1, AUDIT_PAGE_ENTRIES_MAX + 1):
        with pytest.raises(InvalidInput):
            check_limit(bad)
