"""Organisations, members, invites and API keys over real HTTP against an in-process appliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.identity.auth.apikeys import parse_api_key
from appliance.identity.domain.org_commands import INVITE_TTL_S_MIN
from tests.identity.core.harness import PASSWORD, Running, assert_problem, bearer, bootstrap, log_in

from .world import Caller, api_key, invite, member, ok, sign_up_invited, unique


async def test_create_list_rename_and_an_api_keys_view(running: Running) -> None:
    """A user creates orgs and becomes Owner; lists, reads and renames them; a key sees only its own org."""
    owner = await bootstrap(running)
    second = ok(await running.http.post("/api/v1/orgs", headers=owner.auth, json={"name": "  Second  "}), 201)
    assert (second["name"], second["role"], second["members"]) == ("Second", "owner", 1)
    listed = ok(await running.http.get("/api/v1/orgs", headers=owner.auth), 200)["orgs"]
    assert {(o["org_id"], o["role"]) for o in listed} == {(owner.org_id, "owner"), (second["org_id"], "owner")}
    renamed = ok(
        await running.http.patch(f"/api/v1/orgs/{second['org_id']}", headers=owner.auth, json={"name": "Two"}), 200
    )
    assert renamed["name"] == "Two"
    assert ok(await running.http.get(f"/api/v1/orgs/{second['org_id']}", headers=owner.auth), 200)["name"] == "Two"
    _, key = await api_key(running, owner.auth, second["org_id"], "member")
    seen = ok(await running.http.get("/api/v1/orgs", headers=bearer(key)), 200)["orgs"]
    assert [(o["org_id"], o["role"]) for o in seen] == [(second["org_id"], "member")]
    refused = await running.http.post("/api/v1/orgs", headers=bearer(key), json={"name": "By a key"})
    assert_problem(refused, 403)


async def test_api_key_is_a_bearer_shown_once_and_revoked_at_the_next_request(running: Running) -> None:
    """A key authenticates as `Bearer crk_…` with its role, is never listed in full, and fails right after revocation."""
    owner = await bootstrap(running)
    org = owner.org_id
    created = ok(
        await running.http.post(
            f"/api/v1/orgs/{org}/api-keys", headers=owner.auth, json={"name": "ci", "role": "admin"}
        ),
        201,
    )
    key, key_id = created["key"], created["api_key"]["api_key_id"]
    assert created["api_key"]["prefix"] == parse_api_key(key).prefix
    listing = await running.http.get(f"/api/v1/orgs/{org}/api-keys?include_revoked=true", headers=owner.auth)
    assert key not in listing.text
    assert key_id in listing.text
    assert ok(await running.http.get(f"/api/v1/orgs/{org}/members", headers=bearer(key)), 200)["members"]
    assert_problem(await running.http.delete(f"/api/v1/orgs/{org}", headers=bearer(key)), 403)
    ok(await running.http.delete(f"/api/v1/orgs/{org}/api-keys/{key_id}", headers=owner.auth), 204)
    assert_problem(await running.http.get(f"/api/v1/orgs/{org}/members", headers=bearer(key)), 401)
    # Revoking again changes nothing and is not an error; the key stays listed as revoked.
    ok(await running.http.delete(f"/api/v1/orgs/{org}/api-keys/{key_id}", headers=owner.auth), 204)
    keys = ok(await running.http.get(f"/api/v1/orgs/{org}/api-keys?include_revoked=true", headers=owner.auth), 200)
    assert [(k["api_key_id"], k["revoked"]) for k in keys["api_keys"]] == [(key_id, True)]
    assert ok(await running.http.get(f"/api/v1/orgs/{org}/api-keys", headers=owner.auth), 200)["api_keys"] == []


async def test_api_key_expiry_and_role_limits(running: Running) -> None:
    """An expired key is refused; keys never hold the Owner role nor expire in the past; a mistyped key is 401."""
    owner = await bootstrap(running)
    org = owner.org_id
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    created = ok(
        await running.http.post(
            f"/api/v1/orgs/{org}/api-keys",
            headers=owner.auth,
            json={"name": "brief", "role": "viewer", "expires_at": soon},
        ),
        201,
    )
    key = created["key"]
    assert ok(await running.http.get(f"/api/v1/orgs/{org}", headers=bearer(key)), 200)["role"] == "viewer"
    running.clock.advance(301)
    assert_problem(await running.http.get(f"/api/v1/orgs/{org}", headers=bearer(key)), 401)
    for body in (
        {"name": "boss", "role": "owner"},
        {"name": "past", "role": "viewer", "expires_at": "2001-01-01T00:00:00+00:00"},
        {"name": "naive", "role": "viewer", "expires_at": "2999-01-01T00:00:00"},
        {"name": "", "role": "viewer"},
        {"name": "x", "role": "root"},
    ):
        assert_problem(await running.http.post(f"/api/v1/orgs/{org}/api-keys", headers=owner.auth, json=body), 400)
    assert_problem(await running.http.get(f"/api/v1/orgs/{org}", headers=bearer(key[:-1] + "a")), 401)


async def test_last_owner_cannot_leave_or_be_demoted(running: Running) -> None:
    """The only Owner gets 409 for leaving or demotion; after promoting an Admin to Owner, leaving works."""
    owner = await bootstrap(running)
    org = owner.org_id
    admin = await member(running, owner.auth, org, "admin")
    me = f"/api/v1/orgs/{org}/members/{owner.user_id}"
    assert_problem(await running.http.delete(me, headers=owner.auth), 409)
    assert_problem(await running.http.patch(me, headers=owner.auth, json={"role": "admin"}), 409)
    assert_problem(await running.http.patch(me, headers=admin.headers, json={"role": "viewer"}), 403)
    assert_problem(await running.http.delete(me, headers=admin.headers), 403)
    promoted = ok(
        await running.http.patch(
            f"/api/v1/orgs/{org}/members/{admin.user_id}", headers=owner.auth, json={"role": "owner"}
        ),
        200,
    )
    assert promoted["role"] == "owner"
    ok(await running.http.delete(me, headers=owner.auth), 204)
    members = ok(await running.http.get(f"/api/v1/orgs/{org}/members", headers=admin.headers), 200)["members"]
    assert [(m["user_id"], m["role"]) for m in members] == [(admin.user_id, "owner")]
    assert_problem(await running.http.get(f"/api/v1/orgs/{org}", headers=owner.auth), 404)


async def test_invite_token_is_single_use_at_signup(running: Running) -> None:
    """An invite token signs up its invitee once; a second signup with it is refused; it is listed as accepted."""
    owner = await bootstrap(running)
    org = owner.org_id
    issued = await invite(running, owner.auth, org, "Carol@Example.org", "member")
    assert issued["invite"]["status"] == "pending"
    listed = await running.http.get(f"/api/v1/orgs/{org}/invites", headers=owner.auth)
    assert issued["invite_token"] not in listed.text
    carol = await sign_up_invited(running, issued["invite_token"], "carol@example.org")
    members = ok(await running.http.get(f"/api/v1/orgs/{org}/members", headers=owner.auth), 200)["members"]
    assert (carol["user_id"], "member") in {(m["user_id"], m["role"]) for m in members}
    again = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": "mallory@example.org",
            "password": PASSWORD,
            "display_name": "M",
            "invite_token": issued["invite_token"],
        },
    )
    assert again.status_code in {403, 404, 409}, again.text
    [view] = ok(await running.http.get(f"/api/v1/orgs/{org}/invites", headers=owner.auth), 200)["invites"]
    assert (view["status"], view["accepted_by"]) == ("accepted", carol["user_id"])


async def test_invite_expires_and_revoked_invite_is_refused(running: Running) -> None:
    """Past its expiry an invite no longer signs anyone up; a revoked one neither; both list as such."""
    owner = await bootstrap(running)
    org = owner.org_id
    short = ok(
        await running.http.post(
            f"/api/v1/orgs/{org}/invites",
            headers=owner.auth,
            json={"email": "late@example.org", "role": "viewer", "ttl_s": INVITE_TTL_S_MIN},
        ),
        201,
    )
    revoked = await invite(running, owner.auth, org, "gone@example.org", "viewer")
    ok(
        await running.http.delete(f"/api/v1/orgs/{org}/invites/{revoked['invite']['invite_id']}", headers=owner.auth),
        204,
    )
    running.clock.advance(INVITE_TTL_S_MIN + 1)
    for token, email in ((short["invite_token"], "late@example.org"), (revoked["invite_token"], "gone@example.org")):
        body = {"email": email, "password": PASSWORD, "display_name": "Late", "invite_token": token}
        assert_problem(await running.http.post("/api/v1/auth/signup", json=body), 409)
    owner = await log_in(running, owner.email)  # the clock moved past the session's idle timeout
    views = ok(await running.http.get(f"/api/v1/orgs/{org}/invites", headers=owner.auth), 200)["invites"]
    assert {(v["email"], v["status"]) for v in views} == {
        ("late@example.org", "expired"),
        ("gone@example.org", "revoked"),
    }
    assert (
        ok(await running.http.get(f"/api/v1/orgs/{org}/invites?pending=true", headers=owner.auth), 200)["invites"] == []
    )


async def test_existing_user_joins_with_a_token(running: Running) -> None:
    """A signed-in user redeems an invite sent to their address; others, tampered and malformed tokens are refused."""
    owner = await bootstrap(running)
    org = owner.org_id
    dave = await member(running, owner.auth, org, "viewer", prefix="dave")
    beta = ok(await running.http.post("/api/v1/orgs", headers=dave.headers, json={"name": "Beta"}), 201)
    erin = await member(running, dave.headers, beta["org_id"], "viewer", prefix="erin")
    issued = await invite(running, owner.auth, org, erin.name, "member")
    token = issued["invite_token"]
    assert_problem(
        await running.http.post("/api/v1/orgs/join", headers=dave.headers, json={"invite_token": token}), 403
    )
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert_problem(
        await running.http.post("/api/v1/orgs/join", headers=erin.headers, json={"invite_token": tampered}), 404
    )
    for bad in ("", "cri_x", token + "A", 42, None):
        reply = await running.http.post("/api/v1/orgs/join", headers=erin.headers, json={"invite_token": bad})
        assert_problem(reply, 400)
    joined = ok(await running.http.post("/api/v1/orgs/join", headers=erin.headers, json={"invite_token": token}), 200)
    assert (joined["org_id"], joined["role"]) == (org, "member")
    orgs = ok(await running.http.get("/api/v1/orgs", headers=erin.headers), 200)["orgs"]
    assert {o["org_id"] for o in orgs} == {org, beta["org_id"]}
    _, key = await api_key(running, owner.auth, org, "admin")
    assert_problem(await running.http.post("/api/v1/orgs/join", headers=bearer(key), json={"invite_token": token}), 403)


async def test_hostile_input_gets_a_problem_never_a_500(running: Running) -> None:
    """Malformed bodies, ids, roles, sizes and parameters are 4xx problem+json and change nothing."""
    owner = await bootstrap(running)
    org = owner.org_id
    target: Caller = await member(running, owner.auth, org, "viewer")
    before = ok(await running.http.get(f"/api/v1/orgs/{org}/members", headers=owner.auth), 200)
    bad_requests = [
        ("POST", "/api/v1/orgs", {}),
        ("POST", "/api/v1/orgs", {"name": 5}),
        ("POST", "/api/v1/orgs", {"name": "x" * 10_000}),
        ("POST", "/api/v1/orgs", {"name": "ok", "extra": 1}),
        ("POST", "/api/v1/orgs", {"name": "\u202eevil"}),
        ("POST", "/api/v1/orgs", [1, 2]),
        ("PATCH", f"/api/v1/orgs/{org}", {"name": None}),
        ("GET", "/api/v1/orgs/not-a-uuid", None),
        ("GET", "/api/v1/orgs/%00", None),
        ("PATCH", f"/api/v1/orgs/{org}/members/{target.user_id}", {"role": "superuser"}),
        ("PATCH", f"/api/v1/orgs/{org}/members/{target.user_id}", {"role": ["owner"]}),
        ("PATCH", f"/api/v1/orgs/{org}/members/xyz", {"role": "viewer"}),
        ("DELETE", f"/api/v1/orgs/{org}/members/{'9' * 40}", None),
        ("POST", f"/api/v1/orgs/{org}/invites", {"email": "not an address", "role": "viewer"}),
        ("POST", f"/api/v1/orgs/{org}/invites", {"email": "a@example.org", "role": "viewer", "ttl_s": 1}),
        ("POST", f"/api/v1/orgs/{org}/invites", {"email": "a@example.org", "role": "viewer", "ttl_s": 10**30}),
        ("DELETE", f"/api/v1/orgs/{org}/invites/nope", None),
        ("DELETE", f"/api/v1/orgs/{org}/api-keys/nope", None),
        ("GET", f"/api/v1/orgs/{org}/invites?pending=maybe", None),
    ]
    for method, path, body in bad_requests:
        reply = await running.http.request(method, path, headers=owner.auth, json=body)
        assert_problem(reply, 400)
    raw = await running.http.post(
        "/api/v1/orgs", headers={**owner.auth, "content-type": "application/json"}, content=b"{not json"
    )
    assert_problem(raw, 400)
    huge = await running.http.post(
        "/api/v1/orgs",
        headers={**owner.auth, "content-type": "application/json"},
        content=b'{"name": "' + b"x" * 2_000_000 + b'"}',
    )
    assert_problem(huge, 413)
    assert ok(await running.http.get(f"/api/v1/orgs/{org}/members", headers=owner.auth), 200) == before
    assert len(ok(await running.http.get("/api/v1/orgs", headers=owner.auth), 200)["orgs"]) == 1
    unknown = f"/api/v1/orgs/{org}/invites/{'0' * 8}-0000-7000-8000-{unique():012d}"
    assert_problem(await running.http.delete(unknown, headers=owner.auth), 404)
