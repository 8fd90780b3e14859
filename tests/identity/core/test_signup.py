"""Signup over real HTTP: the setup token makes the first owner once; then invites or open mode."""

from __future__ import annotations

import pytest

from .harness import (
    OWNER_EMAIL,
    PASSWORD,
    Running,
    assert_problem,
    bearer,
    bootstrap,
    invite,
    log_in,
    open_signups,
    org_roles,
    sign_up_open,
)


async def test_setup_token_makes_the_first_owner_and_is_then_spent(running: Running) -> None:
    """The first signup yields an instance admin who owns the first org; the token file is deleted and a
    second use fails."""
    token_file = running.data_dir / "secrets" / "setup-token"
    assert token_file.exists()
    owner = await bootstrap(running)
    assert not token_file.exists()
    me = (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()
    assert (me["email"], me["instance_admin"], me["display_name"]) == (OWNER_EMAIL, True, "First Owner")
    assert org_roles(running, owner.user_id) == [(owner.org_id, "owner")]
    instance = (await running.http.get("/api/v1/instance")).json()
    assert instance["setup_pending"] is False
    again = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": "second@example.org",
            "password": PASSWORD,
            "display_name": "Second",
            "org_name": "Other",
            "setup_token": running.setup_token,
        },
    )
    assert again.status_code in {401, 409}, again.text
    assert_problem(again, again.status_code)
    users = (await running.http.get("/api/v1/admin/users", headers=owner.auth)).json()["users"]
    assert [user["email"] for user in users] == [OWNER_EMAIL]


async def test_a_wrong_setup_token_creates_nothing(running: Running) -> None:
    """A wrong setup token is 401 and the instance still waits for its first owner."""
    reply = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": OWNER_EMAIL,
            "password": PASSWORD,
            "display_name": "Mallory",
            "org_name": "Evil",
            "setup_token": "not-the-token",
        },
    )
    assert_problem(reply, 401)
    assert (await running.http.get("/api/v1/instance")).json()["setup_pending"] is True
    assert (running.data_dir / "secrets" / "setup-token").exists()


async def test_after_setup_the_instance_is_administered_by_instance_admins(running: Running) -> None:
    """Once spent, the setup token no longer administers the instance; the first owner does."""
    token = running.setup_token
    owner = await bootstrap(running)
    refused = await running.http.patch("/api/v1/instance", json={"name": "x"}, headers=bearer(token))
    assert_problem(refused, 401)
    renamed = await running.http.patch("/api/v1/instance", json={"name": "Renamed"}, headers=owner.auth)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"


async def test_open_signup_needs_open_mode_set_by_an_admin(running: Running) -> None:
    """Invite-only by default; a non-admin cannot open signups; once open, anyone gets an account and an org."""
    owner = await bootstrap(running)
    walk_in = {"email": "walk@example.org", "password": PASSWORD, "display_name": "Walk", "org_name": "Walk"}
    assert_problem(await running.http.post("/api/v1/auth/signup", json=walk_in), 403)
    await open_signups(running, owner)
    guest = await sign_up_open(running, "guest@example.org")
    assert guest.org_id is not None
    assert guest.org_id != owner.org_id
    forbidden = await running.http.patch("/api/v1/instance", json={"signup_mode": "invite_only"}, headers=guest.auth)
    assert_problem(forbidden, 403)
    me = (await running.http.get("/api/v1/users/me", headers=guest.auth)).json()
    assert me["instance_admin"] is False
    taken = await running.http.post("/api/v1/auth/signup", json={**walk_in, "email": "GUEST@example.org"})
    assert_problem(taken, 409)


async def test_invite_signup_joins_the_inviting_org_with_the_invites_role(running: Running) -> None:
    """An invite token from the org routes signs a new person up as a member with the invited role, once."""
    owner = await bootstrap(running)
    token = await invite(running, owner, "new@example.org", "viewer")
    body = {"email": "new@example.org", "password": PASSWORD, "display_name": "New", "invite_token": token}
    joined = await running.http.post("/api/v1/auth/signup", json=body)
    assert joined.status_code == 201, joined.text
    assert joined.json()["org_id"] == owner.org_id
    newcomer = await log_in(running, "new@example.org")
    assert org_roles(running, newcomer.user_id) == [(owner.org_id, "viewer")]
    again = await running.http.post("/api/v1/auth/signup", json={**body, "email": "other@example.org"})
    assert again.status_code in {403, 404, 409}, again.text


@pytest.mark.parametrize(
    ("password", "why"),
    [("short", "at least"), ("password123", "common"), ("owner@example.org", "e-mail"), ("x" * 1025, "at most")],
)
async def test_signup_refuses_weak_passwords_before_anything_is_stored(
    running: Running, password: str, why: str
) -> None:
    """The password policy (length, common list, own e-mail) refuses with 400 and spends nothing."""
    reply = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": OWNER_EMAIL,
            "password": password,
            "display_name": "Owner",
            "org_name": "Acme",
            "setup_token": running.setup_token,
        },
    )
    body = assert_problem(reply, 400, "invalid_input")
    assert why in body["detail"]
    assert (await running.http.get("/api/v1/instance")).json()["setup_pending"] is True
