"""Tests of the identity calls and their replies (tui.identity_api, tui.identity_replies,
tui.identity_format): paths and encoding, tolerant decoding, bounds, and the wording of problems."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from tests.tui.fake_appliance import BASE_URL, FakeAppliance
from tests.tui.fake_identity import ADMIN_EMAIL, PASSWORD, Directory, FakeIdentity, audit_entry, standard_routes
from tui.client import ApplianceClient
from tui.errors import ApplianceProblem, ApplianceUnreachable, InvariantViolation, ReplyInvalid
from tui.identity_api import IdentityApi, segment
from tui.identity_format import audit_summary, describe_error, user_cells
from tui.identity_replies import AuditEntry, Member, UserSummary, decode_list, list_items_max
from tui.session import Session


@pytest.fixture
async def api() -> AsyncIterator[tuple[IdentityApi, FakeIdentity, FakeAppliance]]:
    fake = FakeAppliance()
    identity = FakeIdentity()
    standard_routes(identity, Directory())
    fake.identity = identity
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = Session(client, clock=lambda: 0.0)
        await session.login(ADMIN_EMAIL, PASSWORD)
        yield IdentityApi(session), identity, fake


def test_segments_from_the_appliance_cannot_leave_their_place_in_the_path() -> None:
    """`..`, `/`, `?` and `#` in an id are percent-encoded; an empty id is a bug."""
    assert segment("../../admin") == "..%2F..%2Fadmin"
    assert segment("a?b#c d") == "a%3Fb%23c%20d"
    with pytest.raises(InvariantViolation):
        segment("")


async def test_a_hostile_member_id_reaches_only_its_own_encoded_path(
    api: tuple[IdentityApi, FakeIdentity, FakeAppliance],
) -> None:
    """Removing a member whose id is `../../../admin/users` asks the members route, encoded."""
    client, _, fake = api
    with pytest.raises(ApplianceProblem) as missing:
        await client.remove_member("org", "../../../admin/users")
    assert missing.value.status == 404
    assert fake.requests[-1].raw_path == b"/api/v1/orgs/org/members/..%2F..%2F..%2Fadmin%2Fusers"


async def test_calls_send_the_documented_methods_bodies_and_page_parameters(
    api: tuple[IdentityApi, FakeIdentity, FakeAppliance],
) -> None:
    """users/audit send limit (and cursor); change_role PATCHes {"role"}; enable POSTs …/enable."""
    client, identity, fake = api
    users, cursor = await client.users()
    assert [user.email for user in users] == [ADMIN_EMAIL, "bob@example.org"]
    assert cursor is None
    page = await client.audit(None, "c12")
    assert page.next_cursor == "c24"
    assert fake.requests[-1].params["cursor"] == "c12"
    assert fake.requests[-1].params["limit"] == "50"
    me = await client.me()
    assert me.instance_admin
    orgs = await client.orgs()
    await client.change_role(orgs[0].org_id, users[1].user_id, "viewer")
    await client.set_user_enabled(users[1].user_id, enabled=True)
    assert identity.calls[-2][:2] == ("PATCH", f"/api/v1/orgs/{orgs[0].org_id}/members/{users[1].user_id}")
    assert identity.calls[-1][:2] == ("POST", f"/api/v1/admin/users/{users[1].user_id}/enable")
    with pytest.raises(InvariantViolation):
        await client.change_role(orgs[0].org_id, users[1].user_id, "superuser")


def test_lists_decode_bare_or_wrapped_and_ignore_unknown_fields() -> None:
    """`[...]` and `{"members": [...], "next_cursor": …}` both decode; extra fields are ignored."""
    member = {"user_id": "u1", "role": "viewer", "x_new": {"a": 1}}
    bare, none = decode_list(msgspec.json.encode([member]), Member, key="members", what="GET m")
    wrapped, cursor = decode_list(
        msgspec.json.encode({"members": [member], "next_cursor": "abc", "total": 1}), Member, key="members", what="m"
    )
    assert bare == wrapped
    assert (none, cursor) == (None, "abc")
    assert bare[0].email == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"members": {"a": 1}}', "expected a list of members"),
        (b'{"other": []}', "expected a list of members"),
        (b'[{"role": "viewer"}]', "unexpected reply shape"),
        (b'[{"user_id": 5, "role": "viewer"}]', "unexpected reply shape"),
        (b'{"members": [], "next_cursor": 7}', "next_cursor must be null or a string"),
        (b'{"members": [], "next_cursor": ""}', "next_cursor must be null or a string"),
        (b'{"members": [], "next_cursor": "' + b"c" * 513 + b'"}', "next_cursor must be null or a string"),
        (b"[" + b",".join([b'{"user_id":"u","role":"r"}'] * (list_items_max + 1)) + b"]", "exceeds 1000"),
    ],
)
def test_malformed_or_oversized_lists_are_reply_invalid(body: bytes, message: str) -> None:
    """Broken JSON, wrong shapes, bad cursors and absurdly long pages are ReplyInvalid, never half-shown."""
    with pytest.raises(ReplyInvalid, match=message):
        decode_list(body, Member, key="members", what="GET m")


def test_user_status_reads_either_status_or_active() -> None:
    """A user row says disabled from `status: "disabled"` or from `active: false`."""
    assert UserSummary(user_id="u", email="e", status="disabled").disabled
    assert UserSummary(user_id="u", email="e", active=False).disabled
    assert not UserSummary(user_id="u", email="e", status="active").disabled
    assert user_cells(UserSummary(user_id="u", email="e", active=False))[2] == "disabled"


def test_audit_summary_shows_a_few_scalar_fields_cleaned_and_bounded() -> None:
    """Ids and times already in the row are skipped, nested values dropped, control characters replaced."""
    entry = msgspec.convert(
        audit_entry(1, "UserDisabled", reason="x\x1b[31m", nested={"a": 1}, email="e@x", a="1", b="2", c="3"),
        AuditEntry,
    )
    summary = audit_summary(entry.detail)
    assert summary == "role=admin reason=x\ufffd[31m email=e@x a=1"
    assert len(audit_summary({f"k{n}": "v" * 100 for n in range(10)})) <= 160


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ApplianceProblem("GET x: HTTP 403", status=403, detail="admins only"), "not allowed (403): admins only"),
        (
            ApplianceProblem("GET x: HTTP 404", status=404, detail="gone"),
            "not found (404): gone — it may have been removed, or it is not yours to see",
        ),
        (ApplianceProblem("GET x: HTTP 429", status=429, retry_after_s=9), "too many requests (429); retry after 9 s"),
        (
            ApplianceProblem("x", status=409, code="precondition_failed", detail="last Owner"),
            "refused (409): last Owner",
        ),
        (
            ApplianceProblem("x", status=409, code="concurrency_conflict", detail="raced"),
            "conflict (409): raced — it changed meanwhile; reload and try again",
        ),
        (ApplianceProblem("GET x: HTTP 500 boom", status=500), "GET x: HTTP 500 boom"),
        (ApplianceUnreachable("GET x: ConnectError"), "GET x: ConnectError"),
    ],
)
def test_problems_are_worded_by_what_the_person_can_do(error: Exception, line: str) -> None:
    """403, 404, 429 get their own wording; other errors keep the client's one-line message."""
    assert describe_error(error).startswith(line)  # type: ignore[arg-type]


async def test_wrong_reply_types_on_me_are_reply_invalid(api: tuple[IdentityApi, FakeIdentity, FakeAppliance]) -> None:
    """`/users/me` without an e-mail is ReplyInvalid, not a half-filled user."""
    client, identity, _ = api
    identity.route("GET", "/api/v1/users/me", lambda _: httpx.Response(200, json={"user_id": "u"}))
    with pytest.raises(ReplyInvalid, match="email"):
        await client.me()
