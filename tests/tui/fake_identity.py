"""A scripted identity side of the appliance for TUI tests: login, rotating refresh tokens with
reuse detection, logout, and the identity read routes, served through `httpx.MockTransport`.

The JSON shapes follow the appliance's DTO structs (`appliance/identity/http/`); every reply also
carries a field the TUI does not know (`"x_future"`), because the TUI must tolerate them. Tests
steer it between steps: `expire_access_tokens()` plays access tokens that reached their `exp`,
`end_sessions()` plays an administrator ending every session (refresh refused too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.tui.fake_appliance import problem

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "ada@example.org"
USER_ID = "0190f3a4-7b1c-7def-8123-000000000001"
ORG_ID = "0190f3a4-7b1c-7def-8123-0000000000a1"
FOREIGN_ORG_ID = "0190f3a4-7b1c-7def-8123-0000000000f0"

Route = Callable[[httpx.Request], httpx.Response]


@dataclass
class Issued:
    session_id: str
    access: str
    refresh: str


@dataclass
class FakeIdentity:
    """The identity routes as plain data; `calls` records (method, path, bearer or None)."""

    passwords: dict[str, str] = field(default_factory=lambda: {ADMIN_EMAIL: PASSWORD})
    expires_in: int = 900
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    live_access: set[str] = field(default_factory=set)
    refresh_to_session: dict[str, str] = field(default_factory=dict)
    spent_refresh: dict[str, str] = field(default_factory=dict)
    ended_sessions: set[str] = field(default_factory=set)
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    counter: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        """The reply to an identity request, or None when the path is not an identity route."""
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ") or None
        self.calls.append((request.method, request.url.path, bearer))
        key = (request.method, request.url.path)
        if key == ("POST", "/api/v1/auth/login"):
            return self._login(request)
        if key == ("POST", "/api/v1/auth/refresh"):
            return self._refresh(request)
        if key == ("POST", "/api/v1/auth/logout"):
            return self._logout(bearer)
        route = self.routes.get(key)
        if route is None:
            return None
        if bearer is None or bearer not in self.live_access:
            return problem(401, "Unauthorized", "the access token is invalid or has expired", "unauthenticated")
        return route(request)

    def _issue(self, session_id: str) -> Issued:
        self.counter += 1
        issued = Issued(session_id, f"acc-{self.counter}", f"ref-{self.counter}")
        self.live_access.add(issued.access)
        self.refresh_to_session[issued.refresh] = session_id
        return issued

    def _tokens(self, issued: Issued) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "access_token": issued.access,
                "refresh_token": issued.refresh,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "x_future": {"ignored": True},
            },
        )

    def _login(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if self.passwords.get(body.get("email")) != body.get("password"):
            return problem(401, "Unauthorized", "wrong e-mail address or password", "unauthenticated")
        return self._tokens(self._issue(f"session-{self.counter + 1}"))

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content).get("refresh_token")
        if token in self.spent_refresh:
            # Reuse of a spent refresh token: the whole session ends (as the appliance does).
            self.ended_sessions.add(self.spent_refresh[token])
            return problem(401, "Unauthorized", "refresh token reused; session revoked", "unauthenticated")
        session_id = self.refresh_to_session.pop(token, None)
        if session_id is None or session_id in self.ended_sessions:
            return problem(401, "Unauthorized", "the session has ended", "unauthenticated")
        self.spent_refresh[token] = session_id
        return self._tokens(self._issue(session_id))

    def _logout(self, bearer: str | None) -> httpx.Response:
        self.live_access.discard(bearer or "")
        return httpx.Response(204)

    def expire_access_tokens(self) -> None:
        self.live_access.clear()

    def end_sessions(self) -> None:
        self.live_access.clear()
        self.ended_sessions.update(self.refresh_to_session.values())
        self.refresh_to_session.clear()

    def route(self, method: str, path: str, reply: Route | Any) -> None:
        """Answer `method path` (when authenticated) with `reply(request)` or the JSON value `reply`."""
        self.routes[(method, path)] = reply if callable(reply) else (lambda _: httpx.Response(200, json=reply))

    def bearers(self, path: str) -> list[str | None]:
        return [bearer for _, called, bearer in self.calls if called == path]


MEMBER_ID = "0190f3a4-7b1c-7def-8123-000000000002"
SESSION_IDS = ("0190f3a4-7b1c-7def-8123-0000000000c1", "0190f3a4-7b1c-7def-8123-0000000000c2")
HOSTILE = "[red]boom[/red]\x1b[2J\u202eevil"


def audit_entry(n: int, event_type: str = "MemberRoleChanged", **detail: Any) -> dict[str, Any]:
    return {
        "event_id": f"0190f3a4-7b1c-7def-8123-{n:012d}",
        "type": event_type,
        "occurred_at": f"2026-11-28T19:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "actor": f"user:{USER_ID}",
        "org_id": ORG_ID,
        "user_id": MEMBER_ID,
        "detail": {"type": event_type, "role": "admin", **detail},
        "x_future": [1, 2],
    }


class Directory:
    """The data behind the identity routes, edited by tests; `standard_routes` serves it."""

    def __init__(self) -> None:
        self.me: dict[str, Any] = {
            "user_id": USER_ID,
            "email": ADMIN_EMAIL,
            "display_name": "Ada",
            "instance_admin": True,
        }
        self.users: list[dict[str, Any]] = [
            {
                "user_id": USER_ID,
                "email": ADMIN_EMAIL,
                "display_name": "Ada",
                "status": "active",
                "instance_admin": True,
            },
            {"user_id": MEMBER_ID, "email": "bob@example.org", "display_name": "Bob", "status": "active"},
        ]
        self.orgs: list[dict[str, Any]] = [
            {"org_id": ORG_ID, "name": "Plant 7", "created_at": "2026-11-28T19:00:00Z", "role": "owner", "members": 2}
        ]
        self.members: list[dict[str, Any]] = [
            {"user_id": USER_ID, "email": ADMIN_EMAIL, "role": "owner", "joined_at": "2026-11-28T19:00:00Z"},
            {"user_id": MEMBER_ID, "email": "bob@example.org", "role": "member", "joined_at": "2026-11-28T19:05:00Z"},
        ]
        self.sessions: list[dict[str, Any]] = [
            {
                "session_id": SESSION_IDS[0],
                "created_at": "2026-11-28T19:00:00Z",
                "last_seen_at": "2026-11-28T19:30:00Z",
                "expires_at": "2026-12-05T19:00:00Z",
                "method": "password",
                "ip": "127.0.0.1",
                "user_agent": "craton-tui",
                "current": True,
            },
            {
                "session_id": SESSION_IDS[1],
                "created_at": "2026-11-27T08:00:00Z",
                "last_seen_at": "2026-11-27T09:00:00Z",
                "expires_at": "2026-12-04T08:00:00Z",
                "method": "passkey",
                "ip": "10.0.0.7",
                "user_agent": "Firefox",
                "current": False,
            },
        ]
        # Newest first, as the appliance pages them; `page_entries` per page.
        self.audit: list[dict[str, Any]] = [audit_entry(n) for n in range(30, 0, -1)]
        self.page_entries = 12


def _json(value: Any) -> httpx.Response:
    return httpx.Response(200, json=value)


def _audit_page(directory: Directory, request: httpx.Request) -> httpx.Response:
    cursor = request.url.params.get("cursor")
    start = 0 if cursor is None else int(cursor.removeprefix("c"))
    entries = directory.audit[start : start + directory.page_entries]
    end = start + len(entries)
    next_cursor = f"c{end}" if end < len(directory.audit) else None
    return _json({"entries": entries, "next_cursor": next_cursor})


def standard_routes(identity: FakeIdentity, directory: Directory) -> None:
    """Serve `directory` on the identity routes; changes edit it, as the appliance would."""
    identity.route("GET", "/api/v1/users/me", lambda _: _json(directory.me))
    identity.route("GET", "/api/v1/admin/users", lambda _: _json({"users": directory.users, "next_cursor": None}))
    for user in directory.users:
        for action, status in (("disable", "disabled"), ("enable", "active")):
            identity.route(
                "POST",
                f"/api/v1/admin/users/{user['user_id']}/{action}",
                lambda _, user=user, status=status: (user.update(status=status), httpx.Response(204))[1],
            )
    identity.route("GET", "/api/v1/orgs", lambda _: _json({"orgs": directory.orgs}))
    identity.route("GET", f"/api/v1/orgs/{ORG_ID}/members", lambda _: _json({"members": directory.members}))
    for member in directory.members:
        path = f"/api/v1/orgs/{ORG_ID}/members/{member['user_id']}"
        identity.route("PATCH", path, lambda request, member=member: _change_role(member, request))
        identity.route("DELETE", path, lambda _, member=member: _remove(directory, member))
    identity.route("GET", "/api/v1/auth/sessions", lambda _: _json({"sessions": directory.sessions}))
    for session in directory.sessions:
        identity.route(
            "DELETE",
            f"/api/v1/auth/sessions/{session['session_id']}",
            lambda _, session=session: (directory.sessions.remove(session), httpx.Response(204))[1],
        )
    identity.route("GET", "/api/v1/audit", lambda request: _audit_page(directory, request))
    identity.route("GET", f"/api/v1/orgs/{ORG_ID}/audit", lambda request: _audit_page(directory, request))


def _change_role(member: dict[str, Any], request: httpx.Request) -> httpx.Response:
    member["role"] = json.loads(request.content)["role"]
    return _json(member)


def _remove(directory: Directory, member: dict[str, Any]) -> httpx.Response:
    directory.members.remove(member)
    return httpx.Response(204)
