"""Two organisations built entirely over HTTP, and every kind of caller, for the org route tests.

`own` (Acme) has an Owner (the first user, via the setup token), an Admin, a Member and a Viewer
(each signed up with an invite token), API keys of the Admin, Member and Viewer roles (a key can
never be an Owner), and a Viewer who is only ever the subject of role changes. `foreign` (Beta)
belongs to someone else entirely — its Owner joined Acme only long enough to create Beta, then
left — and holds a member, a pending invite and a key, so that every id a foreign path can name
exists. Callers: the four users, the three keys, a forged bearer and nobody at all.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx

from appliance.identity.domain.rbac import Role
from tests.identity.core.harness import PASSWORD, Account, Running, bearer, bootstrap

_counter = itertools.count(1)


def unique() -> int:
    """A number never handed out before in this process (for e-mails and names)."""
    return next(_counter)


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str  # user | api_key | anonymous | forged
    role: Role | None
    headers: dict[str, str]
    user_id: str | None = None


@dataclass
class OrgWorld:
    running: Running
    owner: Account
    own: str
    foreign: str
    foreign_owner: Caller
    callers: list[Caller]
    subject_id: str  # a Viewer of `own`, target of role changes
    foreign_ids: dict[str, str] = field(default_factory=dict)  # user_id, invite_id, key_id inside `foreign`

    @property
    def http(self) -> httpx.AsyncClient:
        return self.running.http


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else {}


async def invite(running: Running, headers: dict[str, str], org_id: str, email: str, role: str) -> dict[str, Any]:
    reply = await running.http.post(
        f"/api/v1/orgs/{org_id}/invites", headers=headers, json={"email": email, "role": role}
    )
    return ok(reply, 201)


async def sign_up_invited(running: Running, token: str, email: str) -> dict[str, Any]:
    body = {
        "email": email,
        "password": PASSWORD,
        "display_name": email.split("@", maxsplit=1)[0],
        "invite_token": token,
    }
    return ok(await running.http.post("/api/v1/auth/signup", json=body), 201)


async def member(running: Running, headers: dict[str, str], org_id: str, role: str, prefix: str = "m") -> Caller:
    """A new account that joined `org_id` with `role` through an invite, signed in."""
    email = f"{prefix}{next(_counter)}@example.org"
    issued = await invite(running, headers, org_id, email, role)
    reply = await sign_up_invited(running, issued["invite_token"], email)
    return Caller(email, "user", Role(role), bearer(reply["access_token"]), reply["user_id"])


async def api_key(running: Running, headers: dict[str, str], org_id: str, role: str) -> tuple[str, str]:
    """(key id, key text) of a new key of `org_id`."""
    reply = await running.http.post(
        f"/api/v1/orgs/{org_id}/api-keys", headers=headers, json={"name": f"key {next(_counter)}", "role": role}
    )
    body = ok(reply, 201)
    return body["api_key"]["api_key_id"], body["key"]


async def build_world(running: Running) -> OrgWorld:
    owner = await bootstrap(running)
    assert owner.org_id is not None
    own, owner_headers = owner.org_id, owner.auth
    callers = [Caller("owner", "user", Role.OWNER, owner_headers, owner.user_id)]
    for role in ("admin", "member", "viewer"):
        joined = await member(running, owner_headers, own, role, prefix=role)
        callers.append(Caller(role, "user", Role(role), joined.headers, joined.user_id))
    for role in ("admin", "member", "viewer"):
        _, key = await api_key(running, owner_headers, own, role)
        callers.append(Caller(f"{role} key", "api_key", Role(role), bearer(key)))
    callers.append(Caller("forged bearer", "forged", None, bearer("eyJhbGciOiJub25lIn0.e30.")))
    callers.append(Caller("nobody", "anonymous", None, {}))
    subject = await member(running, owner_headers, own, "viewer", prefix="subject")
    foreign_owner, foreign, foreign_ids = await _foreign_org(running, owner_headers, own)
    return OrgWorld(running, owner, own, foreign, foreign_owner, callers, subject.user_id or "", foreign_ids)


async def _foreign_org(running: Running, owner_headers: dict[str, str], own: str) -> tuple[Caller, str, dict[str, str]]:
    """Beta: made by someone who joins Acme, creates Beta, then leaves Acme for good."""
    founder = await member(running, owner_headers, own, "viewer", prefix="founder")
    beta = ok(await running.http.post("/api/v1/orgs", headers=founder.headers, json={"name": "Beta"}), 201)
    ok(await running.http.delete(f"/api/v1/orgs/{own}/members/{founder.user_id}", headers=founder.headers), 204)
    foreign = beta["org_id"]
    insider = await member(running, founder.headers, foreign, "member", prefix="beta")
    pending = await invite(running, founder.headers, foreign, f"pending{next(_counter)}@example.org", "viewer")
    key_id, _ = await api_key(running, founder.headers, foreign, "viewer")
    ids = {"user_id": insider.user_id or "", "invite_id": pending["invite"]["invite_id"], "key_id": key_id}
    return founder, foreign, ids
