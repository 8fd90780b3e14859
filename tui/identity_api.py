"""Typed calls to the appliance's identity routes, made through the sign-in session.

It owns the route paths and the one rule for putting an appliance-supplied id into a path: every
segment is percent-encoded, so an id like `../admin` can never reach another route. It must never
import Textual or the appliance, keep state beyond the session it was given, or retry (the
session's one refresh-and-retry is the only repeat).
"""

from __future__ import annotations

from urllib.parse import quote

from tui.errors import invariant
from tui.identity_replies import (
    AuditEntry,
    AuditPage,
    Me,
    Member,
    OrgSummary,
    SessionSummary,
    UserSummary,
    cursor_chars_max,
    decode_list,
)
from tui.session import Session

ROLES = ("owner", "admin", "member", "viewer")
audit_page_entries_default = 50
users_page_default = 100


def segment(value: str) -> str:
    """One path segment made from an appliance-supplied value (never `..`, `/` or a query)."""
    invariant(bool(value), "path segments are never empty")
    return quote(value, safe="")


class IdentityApi:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def me(self) -> Me:
        return await self.session.get("/api/v1/users/me", Me)

    async def users(self, cursor: str | None = None) -> tuple[tuple[UserSummary, ...], str | None]:
        path = "/api/v1/admin/users"
        body = await self.session.send("GET", path, params=_page_params(cursor, users_page_default))
        return decode_list(body, UserSummary, key="users", what=f"GET {path}")

    async def set_user_enabled(self, user_id: str, *, enabled: bool) -> None:
        action = "enable" if enabled else "disable"
        await self.session.send("POST", f"/api/v1/admin/users/{segment(user_id)}/{action}")

    async def orgs(self) -> tuple[OrgSummary, ...]:
        body = await self.session.send("GET", "/api/v1/orgs")
        rows, _ = decode_list(body, OrgSummary, key="orgs", what="GET /api/v1/orgs")
        return rows

    async def members(self, org_id: str) -> tuple[Member, ...]:
        path = f"/api/v1/orgs/{segment(org_id)}/members"
        rows, _ = decode_list(await self.session.send("GET", path), Member, key="members", what=f"GET {path}")
        return rows

    async def change_role(self, org_id: str, user_id: str, role: str) -> None:
        invariant(role in ROLES, "roles come from the fixed set")
        path = f"/api/v1/orgs/{segment(org_id)}/members/{segment(user_id)}"
        await self.session.send("PATCH", path, body={"role": role})

    async def remove_member(self, org_id: str, user_id: str) -> None:
        await self.session.send("DELETE", f"/api/v1/orgs/{segment(org_id)}/members/{segment(user_id)}")

    async def sessions(self) -> tuple[SessionSummary, ...]:
        path = "/api/v1/auth/sessions"
        rows, _ = decode_list(await self.session.send("GET", path), SessionSummary, key="sessions", what=f"GET {path}")
        return rows

    async def end_session(self, session_id: str) -> None:
        await self.session.send("DELETE", f"/api/v1/auth/sessions/{segment(session_id)}")

    async def audit(self, org_id: str | None, cursor: str | None = None) -> AuditPage:
        """An organisation's audit trail, or the instance-wide one when `org_id` is None (admins)."""
        path = "/api/v1/audit" if org_id is None else f"/api/v1/orgs/{segment(org_id)}/audit"
        body = await self.session.send("GET", path, params=_page_params(cursor, audit_page_entries_default))
        entries, next_cursor = decode_list(body, AuditEntry, key="entries", what=f"GET {path}")
        return AuditPage(entries=entries, next_cursor=next_cursor)


def _page_params(cursor: str | None, limit: int) -> dict[str, str]:
    params = {"limit": str(limit)}
    if cursor is not None:
        invariant(len(cursor) <= cursor_chars_max, "cursors are checked when they arrive")
        params["cursor"] = cursor
    return params
