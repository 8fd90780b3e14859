"""The audit trail over real HTTP: every identity event kind is queryable per organisation (Admin and
up) and instance-wide (instance administrators), paged newest first with opaque cursors."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx

from appliance.readmodel.db import connect, content_digest
from appliance.readmodel.rebuild import rebuild
from appliance.runtime.modules import projections
from tests.identity.core.harness import Account, Running, assert_problem, bearer, bootstrap, log_in

from .world import api_key, invite, member, ok


async def _pages(http: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = ok(await http.get(url, headers=headers, params=params), 200)
        entries.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def _eventful(running: Running) -> tuple[Account, dict[str, Any]]:
    """An org where every kind of identity event happened; returns the owner and the people involved."""
    owner = await bootstrap(running)
    org = owner.org_id
    admin = await member(running, owner.auth, org, "admin")
    viewer = await member(running, owner.auth, org, "viewer")
    await log_in(running, viewer.name)  # SignedIn
    failed = await running.http.post("/api/v1/auth/login", json={"email": viewer.name, "password": "wrong password!"})
    assert_problem(failed, 401)  # SignInFailed
    ok(await running.http.post("/api/v1/auth/logout", headers=viewer.headers), 204)  # SessionEnded
    patch = f"/api/v1/orgs/{org}/members/{viewer.user_id}"
    ok(await running.http.patch(patch, headers=admin.headers, json={"role": "member"}), 200)  # MemberRoleChanged
    key_id, _ = await api_key(running, admin.headers, org, "viewer")  # ApiKeyCreated
    ok(await running.http.delete(f"/api/v1/orgs/{org}/api-keys/{key_id}", headers=admin.headers), 204)  # ApiKeyRevoked
    pending = await invite(running, admin.headers, org, "later@example.org", "viewer")  # MemberInvited
    ok(
        await running.http.delete(
            f"/api/v1/orgs/{org}/invites/{pending['invite']['invite_id']}", headers=admin.headers
        ),
        204,
    )
    ok(
        await running.http.post(f"/api/v1/admin/users/{viewer.user_id}/disable", headers=owner.auth), 200
    )  # UserDisabled
    return owner, {"admin": admin, "viewer": viewer}


async def test_every_identity_event_kind_is_in_the_org_trail(running: Running) -> None:
    """Sign-ins, failures, session ends, role changes, keys, invites and account changes reach the org's audit."""
    owner, people = await _eventful(running)
    url = f"/api/v1/orgs/{owner.org_id}/audit"
    entries = await _pages(running.http, url, people["admin"].headers, limit=3)
    kinds = {entry["type"] for entry in entries}
    wanted = {
        "OrgCreated",
        "MemberInvited",
        "InviteAccepted",
        "InviteRevoked",
        "UserRegistered",
        "SignedIn",
        "SignInFailed",
        "SessionEnded",
        "MemberRoleChanged",
        "ApiKeyCreated",
        "ApiKeyRevoked",
        "UserDisabled",
    }
    assert wanted <= kinds, wanted - kinds
    times = [entry["occurred_at"] for entry in entries]
    assert times == sorted(times, reverse=True), "newest first"
    assert len({entry["event_id"] for entry in entries}) == len(entries)
    for entry in entries:
        assert not {"password_hash", "token_hash", "key_hash"} & set(entry["detail"])
    failure = next(entry for entry in entries if entry["type"] == "SignInFailed")
    assert failure["user_id"] == people["viewer"].user_id
    only = ok(
        await running.http.get(
            url, headers=people["admin"].headers, params={"type": ["ApiKeyCreated", "ApiKeyRevoked"]}
        ),
        200,
    )
    assert sorted(entry["type"] for entry in only["entries"]) == ["ApiKeyCreated", "ApiKeyRevoked"]


async def test_instance_trail_is_for_instance_administrators(running: Running) -> None:
    """GET /api/v1/audit shows every org's and the platform's events to instance admins only."""
    owner, people = await _eventful(running)
    beta = ok(await running.http.post("/api/v1/orgs", headers=people["admin"].headers, json={"name": "Beta"}), 201)
    entries = await _pages(running.http, "/api/v1/audit", owner.auth, limit=50)
    assert {entry["org_id"] for entry in entries} >= {owner.org_id, beta["org_id"], None}
    assert "InstanceInitialised" in {entry["type"] for entry in entries}
    assert all("setup_token_sha256" not in entry["detail"] for entry in entries)
    assert_problem(await running.http.get("/api/v1/audit", headers=people["admin"].headers), 403)
    _, key = await api_key(running, owner.auth, owner.org_id, "admin")
    assert_problem(await running.http.get("/api/v1/audit", headers=bearer(key)), 403)
    assert_problem(await running.http.get("/api/v1/audit"), 401)
    # The Beta org's own events are not in Acme's trail.
    acme = await _pages(running.http, f"/api/v1/orgs/{owner.org_id}/audit", owner.auth, limit=50)
    assert beta["org_id"] not in {entry["org_id"] for entry in acme}


async def test_paging_survives_concurrent_appends(running: Running) -> None:
    """While a reader pages, concurrent writes never make a page repeat or skip an older entry."""
    owner = await bootstrap(running)
    url = f"/api/v1/orgs/{owner.org_id}/audit"
    other = ok(await running.http.post("/api/v1/orgs", headers=owner.auth, json={"name": "Other"}), 201)
    for _ in range(6):
        await api_key(running, owner.auth, owner.org_id, "viewer")
    before = await _pages(running.http, url, owner.auth, limit=200)
    seen: list[str] = []
    page = ok(await running.http.get(url, headers=owner.auth, params={"limit": 2}), 200)
    while True:
        seen.extend(entry["event_id"] for entry in page["entries"])
        if page["next_cursor"] is None:
            break
        # One writer per aggregate (two writers of one aggregate may rightly get 409 after a retry).
        writes = [
            api_key(running, owner.auth, owner.org_id, "viewer"),
            api_key(running, owner.auth, other["org_id"], "viewer"),
            log_in(running, owner.email),
        ]
        read = running.http.get(url, headers=owner.auth, params={"limit": 2, "cursor": page["next_cursor"]})
        *_, reply = await asyncio.gather(*writes, read)
        page = ok(reply, 200)
    # New entries sort before the first page, so the pages are exactly what existed when paging began.
    assert seen == [entry["event_id"] for entry in before]


async def test_hostile_paging_parameters_are_400(running: Running) -> None:
    """Forged, foreign, oversized cursors, unknown types and out-of-range limits are 400 problems."""
    owner = await bootstrap(running)
    url = f"/api/v1/orgs/{owner.org_id}/audit"
    for _ in range(3):
        await api_key(running, owner.auth, owner.org_id, "viewer")
    cursor = ok(await running.http.get(url, headers=owner.auth, params={"limit": 1}), 200)["next_cursor"]
    assert cursor
    foreign_view = ok(await running.http.get("/api/v1/audit", headers=owner.auth, params={"limit": 1}), 200)[
        "next_cursor"
    ]
    hostile: list[dict[str, Any]] = [
        {"cursor": "garbage!"},
        {"cursor": "A" * 5000},
        {"cursor": cursor[:-3]},
        {"cursor": base64.urlsafe_b64encode(b"a1.-1.x.y").decode()},
        {"cursor": foreign_view},
        {"cursor": cursor, "type": "OrgCreated"},
        {"type": "DropTable"},
        {"type": ["OrgCreated"] * 40 + [f"T{i}" for i in range(40)]},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
    ]
    for params in hostile:
        assert_problem(await running.http.get(url, headers=owner.auth, params=params), 400)
    assert_problem(await running.http.get("/api/v1/audit", headers=owner.auth, params={"cursor": cursor}), 400)


async def test_live_read_model_equals_a_rebuild_from_jetstream(running: Running, tmp_path: Path) -> None:
    """After real traffic on several streams, the live read model and a rebuild from JetStream are byte-identical."""
    _owner, people = await _eventful(running)
    ok(await running.http.post("/api/v1/orgs", headers=people["admin"].headers, json={"name": "Beta"}), 201)
    services = running.appliance.services
    assert services is not None
    for info in await services.store.streams():
        assert await services.projector.wait_for(info.name, info.last_sequence, timeout_s=10)
    assert services.projector.failed_events() == 0
    rebuilt = tmp_path / "rebuilt.sqlite3"
    await rebuild(services.store, rebuilt, projections())
    assert content_digest(connect(rebuilt)) == content_digest(services.db)
