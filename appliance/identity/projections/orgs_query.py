"""Reading organisations from the read model: the caller's organisations, one organisation, its
members, invites and API keys — the views the org routes return.

Every function takes the organisation (or user) it is asked about and reads only rows of it; the
HTTP layer has already checked, with `api.auth.org_access`, that the caller may see them. An
invite's `expired` status and a key's `expired` flag are derived here from `now`, because the
read model, like the aggregate, stores only what happened.

This module must never write, and never return a secret or a hash of one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import apsw

from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.projections.orgs import micros
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct

# Listings are bounded: members by the domain's MEMBERS_PER_ORG_MAX, the others here.
ORGS_LISTED_MAX = 1000
INVITES_LISTED_MAX = 500
API_KEYS_LISTED_MAX = 500


class OrgView(Struct, frozen=True):
    org_id: str
    name: str
    created_at: str
    role: str | None  # the caller's role in it (an API key's own role)
    members: int


class MemberView(Struct, frozen=True):
    user_id: str
    email: str
    role: str
    joined_at: str


class InviteView(Struct, frozen=True):
    invite_id: str
    email: str
    role: str
    status: str  # pending | expired | accepted | revoked
    created_at: str
    expires_at: str
    invited_by: str
    accepted_by: str | None


class ApiKeyView(Struct, frozen=True):
    api_key_id: str
    name: str
    prefix: str  # shown as `crk_<prefix>…`; the rest of the key is never shown again
    role: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked: bool
    revoked_at: str | None
    expired: bool


_ORG_COLUMNS = "o.org_id, o.name, o.created_at, (SELECT count(*) FROM org_members c WHERE c.org_id = o.org_id)"


def _org_view(row: tuple[object, ...], role: str | None) -> OrgView:
    return OrgView(org_id=str(row[0]), name=str(row[1]), created_at=str(row[2]), role=role, members=int(str(row[3])))


def orgs_of_user(db: apsw.Connection, user_id: UserId) -> list[OrgView]:
    """The live organisations `user_id` is a member of, oldest first."""
    rows = db.execute(
        f"SELECT {_ORG_COLUMNS}, m.role FROM org_members m JOIN orgs o ON o.org_id = m.org_id "  # noqa: S608 - fixed text
        "WHERE m.user_id = ? AND o.deleted = 0 ORDER BY o.created_at, o.org_id LIMIT ?",
        (str(user_id), ORGS_LISTED_MAX),
    )
    return [_org_view(row[:4], str(row[4])) for row in rows]


def live_org(db: apsw.Connection, org_id: OrgId, role: str | None) -> OrgView | None:
    row = db.execute(
        f"SELECT {_ORG_COLUMNS} FROM orgs o WHERE o.org_id = ? AND o.deleted = 0",  # noqa: S608 - fixed text
        (str(org_id),),
    ).fetchone()
    return None if row is None else _org_view(row, role)


def members_of(db: apsw.Connection, org_id: OrgId) -> list[MemberView]:
    rows = db.execute(
        "SELECT user_id, email, role, joined_at FROM org_members WHERE org_id = ? ORDER BY joined_at, user_id",
        (str(org_id),),
    )
    return [MemberView(user_id=r[0], email=r[1], role=r[2], joined_at=r[3]) for r in rows]


_INVITE_COLUMNS = "invite_id, email, role, status, created_at, expires_at, invited_by, accepted_by, expires_us"
_KEY_COLUMNS = "key_id, name, prefix, role, created_at, created_by_actor, expires_at, revoked, revoked_at, expires_us"


def _invite_view(row: tuple[Any, ...], now_us: int) -> InviteView:
    return InviteView(
        invite_id=row[0],
        email=row[1],
        role=row[2],
        status="expired" if row[3] == "pending" and row[8] <= now_us else row[3],
        created_at=row[4],
        expires_at=row[5],
        invited_by=row[6],
        accepted_by=row[7],
    )


def invites_of(db: apsw.Connection, org_id: OrgId, now: datetime, *, pending_only: bool) -> list[InviteView]:
    """Newest first; `pending_only` leaves out accepted, revoked and expired invites."""
    now_us = micros(now)
    rows = db.execute(
        f"SELECT {_INVITE_COLUMNS} FROM org_invites WHERE org_id = ? "  # noqa: S608 - fixed text
        "AND (? = 0 OR (status = 'pending' AND expires_us > ?)) ORDER BY created_at DESC, invite_id DESC LIMIT ?",
        (str(org_id), int(pending_only), now_us, INVITES_LISTED_MAX),
    )
    return [_invite_view(row, now_us) for row in rows]


def invite_of(db: apsw.Connection, org_id: OrgId, invite_id: InviteId, now: datetime) -> InviteView | None:
    row = db.execute(
        f"SELECT {_INVITE_COLUMNS} FROM org_invites WHERE org_id = ? AND invite_id = ?",  # noqa: S608 - fixed text
        (str(org_id), str(invite_id)),
    ).fetchone()
    return None if row is None else _invite_view(row, micros(now))


def _key_view(row: tuple[Any, ...], now_us: int) -> ApiKeyView:
    return ApiKeyView(
        api_key_id=row[0],
        name=row[1],
        prefix=row[2],
        role=row[3],
        created_at=row[4],
        created_by=row[5],
        expires_at=row[6],
        revoked=bool(row[7]),
        revoked_at=row[8],
        expired=row[9] is not None and row[9] <= now_us,
    )


def api_keys_of(db: apsw.Connection, org_id: OrgId, now: datetime, *, include_revoked: bool) -> list[ApiKeyView]:
    """Newest first; without `include_revoked`, only keys that still authenticate (not revoked, not expired)."""
    now_us = micros(now)
    rows = db.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE org_id = ? "  # noqa: S608 - fixed text
        "AND (? = 1 OR (revoked = 0 AND (expires_us IS NULL OR expires_us > ?))) "
        "ORDER BY created_at DESC, key_id DESC LIMIT ?",
        (str(org_id), int(include_revoked), now_us, API_KEYS_LISTED_MAX),
    )
    return [_key_view(row, now_us) for row in rows]


def api_key_of(db: apsw.Connection, org_id: OrgId, api_key_id: ApiKeyId, now: datetime) -> ApiKeyView | None:
    row = db.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE org_id = ? AND key_id = ?",  # noqa: S608 - fixed text
        (str(org_id), str(api_key_id)),
    ).fetchone()
    return None if row is None else _key_view(row, micros(now))


def org_of_api_key(db: apsw.Connection, api_key_id: ApiKeyId) -> OrgId | None:
    """The organisation a key belongs to (for `craton admin apikeys revoke KEY_ID`)."""
    row = db.execute("SELECT org_id FROM api_keys WHERE key_id = ?", (str(api_key_id),)).fetchone()
    return None if row is None else OrgId.parse(row[0])
