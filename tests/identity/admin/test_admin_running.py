"""`craton admin` against a running appliance (a real `craton up --headless` process): users,
sessions, API keys, password resets and key rotation take effect on the appliance's next request."""

from __future__ import annotations

import base64
import json
import os
import pwd
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Running, start_appliance
from tests.identity.admin.process import (
    MEMBER,
    NEW_PASSWORD,
    OWNER,
    PASSWORD,
    Seeded,
    Tokens,
    admin,
    admin_json,
    login,
    me,
    one_line_error,
    refresh,
    seed,
    tokens,
)


@dataclass
class World:
    running: Running
    http: httpx.Client
    seeded: Seeded
    counter: int = 0

    @property
    def data_dir(self) -> Path:
        return self.running.data_dir

    def new_member(self) -> tuple[str, str, Tokens]:
        """A fresh account (invited into the seeded organisation), signed in once."""
        self.counter += 1
        email = f"user{self.counter}@example.org"
        invite = self.http.post(
            f"/api/v1/orgs/{self.seeded.org_id}/invites",
            json={"email": email, "role": "viewer"},
            headers=self.seeded.owner.auth,
        )
        assert invite.status_code in (200, 201), invite.text
        reply = self.http.post(
            "/api/v1/auth/signup",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": f"User {self.counter}",
                "invite_token": invite.json()["invite_token"],
            },
        )
        return email, reply.json()["user_id"], tokens(reply)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("admin-running") / "data"
    running = start_appliance(data_dir)
    try:
        with running.client() as http:
            yield World(running=running, http=http, seeded=seed(http, data_dir))
    finally:
        assert running.stop() == 0


def operator_name() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def test_users_list_shows_every_account_and_no_secret(world: World) -> None:
    """Text and JSON listings name both seeded accounts with status and admin flag, and no hash."""
    listing = admin(world.data_dir, "users", "list")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].split() == ["email", "name", "status", "admin", "created", "user", "id"]
    assert OWNER in listing.stdout
    assert MEMBER in listing.stdout
    users = {user["email"]: user for user in admin_json(world.data_dir, "users", "list")}
    assert users[OWNER]["instance_admin"] is True
    assert users[OWNER]["user_id"] == world.seeded.owner_id
    assert users[MEMBER] | {"created_at": "…"} == {
        "user_id": world.seeded.member_id,
        "email": MEMBER,
        "display_name": "Bob",
        "status": "active",
        "instance_admin": False,
        "created_at": "…",
        "password": True,
        "passkeys": 0,
        "external_identities": 0,
    }
    assert "argon2" not in listing.stdout + json.dumps(users)


def test_disable_stops_existing_tokens_at_once_and_enable_lets_the_user_back(world: World) -> None:
    """Disabling ends the user's sessions (token and refresh refused, login refused); enabling undoes it."""
    email, user_id, token = world.new_member()
    assert me(world.http, token).status_code == 200
    report = admin_json(world.data_dir, "users", "disable", email)
    assert (report["user_id"], report["status"], report["changed"], report["sessions_ended"]) == (
        user_id,
        "disabled",
        True,
        1,
    )
    assert me(world.http, token).status_code == 401
    assert refresh(world.http, token).status_code == 401
    assert login(world.http, email).status_code == 403
    again = admin(world.data_dir, "users", "disable", user_id)
    assert (again.returncode, again.stdout.strip()) == (0, f"{email} was already disabled; nothing changed")
    enabled = admin(world.data_dir, "users", "enable", email.upper())
    assert enabled.stdout.strip() == f"enabled {email} ({user_id})"
    assert me(world.http, tokens(login(world.http, email))).status_code == 200


def test_the_operator_is_named_in_the_audit_trail(world: World) -> None:
    """A disable by `craton admin` is audited with the actor `operator:<login name>`."""
    email, user_id, _ = world.new_member()
    assert admin(world.data_dir, "users", "disable", email).returncode == 0
    entries = world.http.get("/api/v1/audit", params={"type": "UserDisabled"}, headers=world.seeded.owner.auth)
    assert entries.status_code == 200, entries.text
    mine = [entry for entry in entries.json()["entries"] if entry["user_id"] == user_id]
    assert [entry["actor"] for entry in mine] == [f"operator:{operator_name()}"]


def test_sessions_revoke_ends_every_session_but_keeps_the_account(world: World) -> None:
    """Both of the user's sessions end (access and refresh refused); the user may sign in again."""
    email, _, first = world.new_member()
    second = tokens(login(world.http, email))
    revoked = admin(world.data_dir, "sessions", "revoke", "--user", email)
    assert revoked.stdout.strip() == f"ended 2 sessions of {email}"
    for token in (first, second):
        assert me(world.http, token).status_code == 401
        assert refresh(world.http, token).status_code == 401
    assert admin_json(world.data_dir, "sessions", "revoke", "--user", email)["sessions_ended"] == 0
    assert me(world.http, tokens(login(world.http, email))).status_code == 200


def test_sessions_revoke_all_ends_everyone_s_sessions(world: World) -> None:
    """`--all` ends the sessions of every account (the owner's too); everyone may sign in again."""
    _, _, first = world.new_member()
    _, _, second = world.new_member()
    report = admin_json(world.data_dir, "sessions", "revoke", "--all")
    assert report["sessions_ended"] >= 3
    assert report["users"] >= 4
    for token in (first, second, world.seeded.owner):
        assert me(world.http, token).status_code == 401
    world.seeded.owner = tokens(login(world.http, OWNER))
    assert me(world.http, world.seeded.owner).status_code == 200


def test_apikeys_revoke_stops_the_key_on_the_next_request(world: World) -> None:
    """A key that lists its organisation is refused right after `apikeys revoke`; a second revoke changes nothing."""
    created = world.http.post(
        f"/api/v1/orgs/{world.seeded.org_id}/api-keys",
        json={"name": "to revoke", "role": "viewer"},
        headers=world.seeded.owner.auth,
    )
    key_id, key = created.json()["api_key"]["api_key_id"], created.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert world.http.get("/api/v1/orgs", headers=headers).status_code == 200
    report = admin_json(world.data_dir, "apikeys", "revoke", key_id)
    assert report == {"key_id": key_id, "org_id": world.seeded.org_id, "changed": True}
    assert world.http.get("/api/v1/orgs", headers=headers).status_code == 401
    again = admin(world.data_dir, "apikeys", "revoke", key_id)
    assert again.stdout.strip() == f"API key {key_id} was already revoked; nothing changed"


def test_reset_password_prints_a_one_time_token_redeemed_over_http(world: World) -> None:
    """The printed token sets a new password once; old sessions and the old password stop working."""
    email, _, old_session = world.new_member()
    issued = admin_json(world.data_dir, "reset-password", email, "--ttl", "600")
    token = issued["token"]
    assert token.startswith("crp_")
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert world.http.post("/api/v1/auth/password-reset", json=body).status_code == 204
    assert me(world.http, old_session).status_code == 401
    assert login(world.http, email).status_code == 401
    assert me(world.http, tokens(login(world.http, email, NEW_PASSWORD))).status_code == 200
    again = world.http.post("/api/v1/auth/password-reset", json={**body, "new_password": "yet another passphrase 9"})
    assert again.status_code == 401
    text = admin(world.data_dir, "reset-password", email)
    assert text.returncode == 0
    assert "crp_" in text.stdout
    assert "POST /api/v1/auth/password-reset" in text.stdout


def _kid(access_token: str) -> str:
    header = access_token.split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_rotate_keys_makes_a_new_signing_key_while_old_tokens_still_verify(world: World) -> None:
    """After rotation the running appliance signs with the new kid; a token signed before still works."""
    before = tokens(login(world.http, OWNER))
    rotation = admin_json(world.data_dir, "rotate-keys")
    assert rotation["kids"][0] == rotation["active_kid"]
    assert _kid(before.access) in rotation["kids"]
    key_file = world.data_dir / "secrets" / "jwt" / f"{rotation['active_kid']}.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The appliance rescans its key folder on its own schedule; refresh until a token shows the new kid.
    current = before
    for _ in range(120):
        current = tokens(refresh(world.http, current))
        if _kid(current.access) == rotation["active_kid"]:
            break
        time.sleep(0.25)
    assert _kid(current.access) == rotation["active_kid"]
    assert me(world.http, current).status_code == 200
    assert me(world.http, before).status_code == 200, "a token signed by the retired key verifies until it expires"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "disable", "nobody@example.org"), "no user with the e-mail address nobody@example.org"),
        (("users", "enable", "0190f3a4-7b1c-7def-8123-456789abcdef"), "no user with the id 0190f3a4-"),
        (("users", "disable", "not-an-id"), "'not-an-id' is neither an e-mail address nor a user id"),
        (("users", "disable", "a@@b"), "user must have the form name@domain"),
        (("sessions", "revoke", "--user", "x" * 5000), "is neither an e-mail address nor a user id"),
        (("apikeys", "revoke", "crk_notanid"), "must be a UUID in canonical form"),
        (("apikeys", "revoke", "0190f3a4-7b1c-7def-8123-456789abcdef"), "no API key with the id"),
        (("reset-password", "nobody@example.org"), "no user with the e-mail address"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(world: World, args: tuple[str, ...], message: str) -> None:
    """Unknown or malformed users and keys fail with one line on stderr, exit 1, and append no event."""
    before = world.http.get("/api/v1/instance").json()["streams"]
    assert message in one_line_error(admin(world.data_dir, *args))
    assert world.http.get("/api/v1/instance").json()["streams"] == before
