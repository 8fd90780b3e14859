"""`craton admin` on the data dir of a stopped appliance: the commands work without it, leave no
process behind, and what they did holds when the appliance starts again."""

from __future__ import annotations

import base64
from pathlib import Path

from appliance.runtime.offline import appliance_running
from tests.e2e.harness import nats_children, start_appliance
from tests.identity.admin.process import (
    MEMBER,
    NEW_PASSWORD,
    OWNER,
    admin,
    admin_json,
    login,
    me,
    seed,
    tokens,
)


def test_commands_on_a_stopped_appliance_hold_when_it_starts_again(tmp_path: Path) -> None:
    """Disable, reset-password, apikeys revoke and rotate-keys while stopped; after a restart the
    disabled user cannot sign in, the reset token works once, the key is refused, the new key signs."""
    data_dir = tmp_path / "data"
    first = start_appliance(data_dir)
    with first.client() as http:
        seeded = seed(http, data_dir)
    assert first.stop() == 0
    assert not appliance_running(data_dir)

    disabled = admin_json(data_dir, "users", "disable", MEMBER)
    assert (disabled["status"], disabled["changed"]) == ("disabled", True)
    users = {user["email"]: user["status"] for user in admin_json(data_dir, "users", "list")}
    assert users == {OWNER: "active", MEMBER: "disabled"}, "the listing folds the events, not a stale read model"
    reset = admin_json(data_dir, "reset-password", OWNER)
    revoked = admin_json(data_dir, "apikeys", "revoke", seeded.api_key_id)
    assert revoked["changed"] is True
    rotation = admin_json(data_dir, "rotate-keys")
    assert nats_children(data_dir) == [], "the private nats-server of each command is gone"
    assert not appliance_running(data_dir), "the data dir's lock is free again"

    second = start_appliance(data_dir)
    try:
        with second.client() as http:
            assert login(http, MEMBER).status_code == 403
            body = {"token": reset["token"], "new_password": NEW_PASSWORD}
            assert http.post("/api/v1/auth/password-reset", json=body).status_code == 204
            assert http.post("/api/v1/auth/password-reset", json=body).status_code == 401
            fresh = tokens(login(http, OWNER, NEW_PASSWORD))
            assert me(http, fresh).status_code == 200
            assert me(http, seeded.owner).status_code == 401, "the reset ended the owner's earlier session"
            header = fresh.access.split(".", maxsplit=1)[0]
            assert rotation["active_kid"] in _decoded(header)
            assert http.get("/api/v1/orgs", headers={"Authorization": f"Bearer {seeded.api_key}"}).status_code == 401
    finally:
        assert second.stop() == 0


def _decoded(segment: str) -> str:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()


def test_a_data_dir_without_an_appliance_is_refused_by_every_command(tmp_path: Path) -> None:
    """An empty folder is not mistaken for an appliance: one line, exit 1, nothing created in it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        ("users", "list"),
        ("users", "disable", OWNER),
        ("sessions", "revoke", "--user", OWNER),
        ("apikeys", "revoke", "0190f3a4-7b1c-7def-8123-456789abcdef"),
        ("rotate-keys",),
        ("reset-password", OWNER),
    ):
        result = admin(empty, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.splitlines() == [
            f"craton: error: {empty} holds no appliance data (run `craton up --data-dir {empty}` first)"
        ], args
    assert list(empty.iterdir()) == []
