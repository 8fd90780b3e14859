"""Sessions over real HTTP: login, refresh rotation and reuse, logout, listing and ending sessions,
idle and absolute timeouts, and the changes that end a user's other sessions."""

from __future__ import annotations

import asyncio

from appliance.eventstore.jetstream import connect
from appliance.eventstore.kv import KvSessionStore
from appliance.kernel.ids import UserId
from appliance.runtime.system import SystemClock

from .harness import (
    OWNER_EMAIL,
    PASSWORD,
    Running,
    Starter,
    assert_problem,
    bearer,
    bootstrap,
    log_in,
)


async def test_login_refresh_logout(running: Running) -> None:
    """Login answers the documented shape; refresh rotates both tokens; logout ends the session."""
    await bootstrap(running)
    reply = await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    refreshed = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    assert (await running.http.get("/api/v1/users/me", headers=bearer(new["access_token"]))).status_code == 200
    out = await running.http.post("/api/v1/auth/logout", headers=bearer(new["access_token"]))
    assert out.status_code == 204, out.text
    assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(new["access_token"])), 401)
    assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(body["access_token"])), 401)
    again = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert_problem(again, 401)


async def test_wrong_password_and_unknown_account_get_the_same_answer(running: Running) -> None:
    """A wrong password and an unknown e-mail are both 401 with the same message; both are audited."""
    await bootstrap(running)
    wrong = await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": "nope-nope-nope"})
    unknown = await running.http.post("/api/v1/auth/login", json={"email": "who@example.org", "password": PASSWORD})
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]
    services = running.appliance.services
    assert services is not None
    failures = services.store
    streams = {info.name: info.last_sequence for info in await failures.streams()}
    assert streams["PLATFORM"] > 0
    commits = await services.store.read("PLATFORM", after_sequence=0, limit=1000)
    kinds = [envelope.type for commit in commits for envelope in commit.commit.events]
    assert kinds.count("SignInFailed") == 2
    assert kinds.count("SignedIn") == 1  # the signup's own sign-in


async def test_refresh_token_reuse_ends_the_whole_session(running: Running) -> None:
    """Presenting a spent refresh token ends the session: the current tokens stop working too."""
    owner = await bootstrap(running)
    first = owner.refresh_token
    rotated = (await running.http.post("/api/v1/auth/refresh", json={"refresh_token": first})).json()
    reuse = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert_problem(reuse, 401)
    assert "ended" in reuse.json()["detail"]
    assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(rotated["access_token"])), 401)
    later = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(later, 401)


async def test_concurrent_refreshes_rotate_once(running: Running) -> None:
    """Two refreshes racing with the same token: exactly one gets new tokens (then reuse ends it)."""
    owner = await bootstrap(running)
    replies = await asyncio.gather(
        *(running.http.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token}) for _ in range(2))
    )
    assert sorted(reply.status_code for reply in replies) == [200, 401]


async def test_malformed_and_foreign_refresh_tokens_are_refused(running: Running) -> None:
    """A made-up token naming a real session is refused without ending that session."""
    owner = await bootstrap(running)
    session_hex = owner.refresh_token.split("_")[1]
    forged = f"crr_{session_hex}_{'A' * 43}"
    assert_problem(await running.http.post("/api/v1/auth/refresh", json={"refresh_token": forged}), 401)
    for bad in ["", "crr_", "x" * 200, "crr_zz_yy"]:
        assert_problem(await running.http.post("/api/v1/auth/refresh", json={"refresh_token": bad}), 401)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200


async def test_sessions_are_listed_and_ended_one_by_one(running: Running) -> None:
    """A user sees each sign-in as a session, marked current, and can end another one; others' are 404."""
    owner = await bootstrap(running)
    laptop = await log_in(running, OWNER_EMAIL)
    listed = (await running.http.get("/api/v1/auth/sessions", headers=laptop.auth)).json()["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed] == [False, True]
    assert {s["method"] for s in listed} == {"password"}
    signup_session = listed[0]["session_id"]
    ended = await running.http.delete(f"/api/v1/auth/sessions/{signup_session}", headers=laptop.auth)
    assert ended.status_code == 204, ended.text
    assert_problem(await running.http.get("/api/v1/users/me", headers=owner.auth), 401)
    remaining = (await running.http.get("/api/v1/auth/sessions", headers=laptop.auth)).json()["sessions"]
    assert [s["session_id"] for s in remaining] == [listed[1]["session_id"]]
    unknown = await running.http.delete(f"/api/v1/auth/sessions/{signup_session[:-4]}ffff", headers=laptop.auth)
    assert_problem(unknown, 404)
    assert_problem(await running.http.delete("/api/v1/auth/sessions/not-an-id", headers=laptop.auth), 400)


async def test_disabling_a_user_stops_their_token_on_the_next_request(running: Running) -> None:
    """An admin disables a user: the user's existing access token fails at once, and login says disabled."""
    owner = await bootstrap(running)
    await running.http.patch("/api/v1/instance", json={"signup_mode": "open"}, headers=owner.auth)
    signup = await running.http.post(
        "/api/v1/auth/signup",
        json={"email": "bob@example.org", "password": PASSWORD, "display_name": "Bob", "org_name": "Bob's"},
    )
    bob = signup.json()
    assert (await running.http.get("/api/v1/users/me", headers=bearer(bob["access_token"]))).status_code == 200
    disabled = await running.http.post(f"/api/v1/admin/users/{bob['user_id']}/disable", headers=owner.auth)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["status"] == "disabled"
    assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(bob["access_token"])), 401)
    refresh = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": bob["refresh_token"]})
    assert_problem(refresh, 401)
    login = await running.http.post("/api/v1/auth/login", json={"email": "bob@example.org", "password": PASSWORD})
    assert_problem(login, 403)
    wrong = await running.http.post("/api/v1/auth/login", json={"email": "bob@example.org", "password": "x" * 12})
    assert_problem(wrong, 401)
    enabled = await running.http.post(f"/api/v1/admin/users/{bob['user_id']}/enable", headers=owner.auth)
    assert enabled.json()["status"] == "active"
    await log_in(running, "bob@example.org")
    not_admin = await running.http.post(
        f"/api/v1/admin/users/{owner.user_id}/disable", headers=bearer(bob["access_token"])
    )
    assert not_admin.status_code == 401  # bob's old token died with his sessions


async def test_only_instance_admins_manage_users(running: Running) -> None:
    """The admin user routes answer 403 to a plain user and 401 without credentials; self-disable is refused."""
    owner = await bootstrap(running)
    await running.http.patch("/api/v1/instance", json={"signup_mode": "open"}, headers=owner.auth)
    carol = (
        await running.http.post(
            "/api/v1/auth/signup",
            json={"email": "carol@example.org", "password": PASSWORD, "display_name": "Carol", "org_name": "C"},
        )
    ).json()
    assert_problem(await running.http.get("/api/v1/admin/users", headers=bearer(carol["access_token"])), 403)
    assert_problem(await running.http.get("/api/v1/admin/users"), 401)
    selfish = await running.http.post(f"/api/v1/admin/users/{owner.user_id}/disable", headers=owner.auth)
    assert_problem(selfish, 409)
    ended = await running.http.delete(f"/api/v1/admin/users/{carol['user_id']}/sessions", headers=owner.auth)
    assert ended.json() == {"ended": 1}
    assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(carol["access_token"])), 401)


async def test_admin_user_list_pages_with_a_cursor(running: Running) -> None:
    """Pages of the user list cover everyone once, in creation order; a forged cursor is 400."""
    owner = await bootstrap(running)
    await running.http.patch("/api/v1/instance", json={"signup_mode": "open"}, headers=owner.auth)
    emails = [f"user{i}@example.org" for i in range(4)]
    for email in emails:
        reply = await running.http.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD, "display_name": "U", "org_name": "O"},
        )
        assert reply.status_code == 201, reply.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = (await running.http.get("/api/v1/admin/users", params=params, headers=owner.auth)).json()
        seen += [user["email"] for user in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [OWNER_EMAIL, *emails]
    for bad in ["!!!", "x" * 65, "AAAA"]:
        reply = await running.http.get("/api/v1/admin/users", params={"cursor": bad}, headers=owner.auth)
        assert_problem(reply, 400)
    assert_problem(await running.http.get("/api/v1/admin/users", params={"limit": 0}, headers=owner.auth), 400)


async def test_password_change_ends_other_sessions_and_keeps_this_one(running: Running) -> None:
    """Changing the password needs the current one, ends every other session, and the new one works."""
    owner = await bootstrap(running)
    phone = await log_in(running, OWNER_EMAIL)
    wrong = await running.http.post(
        "/api/v1/users/me/password",
        json={"current_password": "not-my-password", "new_password": "another fine password"},
        headers=owner.auth,
    )
    assert_problem(wrong, 401)
    weak = await running.http.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "password"},
        headers=owner.auth,
    )
    assert_problem(weak, 400)
    changed = await running.http.post(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another fine password"},
        headers=owner.auth,
    )
    assert changed.status_code == 204, changed.text
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200
    assert_problem(await running.http.get("/api/v1/users/me", headers=phone.auth), 401)
    old = await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": PASSWORD})
    assert_problem(old, 401)
    await log_in(running, OWNER_EMAIL, "another fine password")


async def test_display_name_changes_and_is_validated(running: Running) -> None:
    """PATCH users/me changes the display name; a control character is 400 and changes nothing."""
    owner = await bootstrap(running)
    changed = await running.http.patch("/api/v1/users/me", json={"display_name": "The Owner"}, headers=owner.auth)
    assert changed.json()["display_name"] == "The Owner"
    bad = await running.http.patch("/api/v1/users/me", json={"display_name": "a\u0000b"}, headers=owner.auth)
    assert_problem(bad, 400)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()["display_name"] == "The Owner"


async def test_idle_timeout_ends_a_quiet_session(start: Starter) -> None:
    """A session not used for longer than the idle timeout is over, though its access token is still
    unexpired and its absolute lifetime not reached."""
    running = await start(session_idle_s=600, session_absolute_s=86_400, session_touch_s=60, access_token_ttl_s=3600)
    owner = await bootstrap(running)
    running.clock.advance(500)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200  # touched: 500 s
    running.clock.advance(500)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200  # within 600 s
    running.clock.advance(650)
    assert_problem(await running.http.get("/api/v1/users/me", headers=owner.auth), 401)
    refresh = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert_problem(refresh, 401)


async def test_absolute_timeout_ends_even_a_busy_session(start: Starter) -> None:
    """A session used all along still ends at its absolute lifetime; refreshing does not extend it."""
    running = await start(session_idle_s=600, session_absolute_s=1800, session_touch_s=60, access_token_ttl_s=300)
    owner = await bootstrap(running)
    refresh_token = owner.refresh_token
    for _ in range(6):
        running.clock.advance(290)
        reply = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
        assert reply.status_code == 200, reply.text
        refresh_token = reply.json()["refresh_token"]
    running.clock.advance(290)  # 2030 s after sign-in
    assert_problem(await running.http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}), 401)


async def test_sessions_ended_by_another_process_stop_their_tokens(running: Running) -> None:
    """What `craton admin sessions revoke` does from another process (deleting the user's sessions in NATS
    KV over its own connection) reaches the running appliance: the token is refused once the bucket's
    change feed delivers it."""
    owner = await bootstrap(running)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200
    supervisor = running.appliance.supervisor
    assert supervisor is not None
    client = await connect(supervisor.url, user=supervisor.user, password=supervisor.password)
    try:
        assert await KvSessionStore(client, SystemClock()).delete_all_for_user(UserId.parse(owner.user_id)) == 1
    finally:
        await client.close()
    for _ in range(500):
        reply = await running.http.get("/api/v1/users/me", headers=owner.auth)
        if reply.status_code == 401:
            break
        await asyncio.sleep(0.01)
    assert_problem(reply, 401)
