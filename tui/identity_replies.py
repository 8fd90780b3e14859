"""The identity routes' replies as the TUI reads them: users, organisations, members, sessions,
audit entries, and the one decoder for lists that may arrive bare or wrapped in an object.

Like `replies`, everything tolerates unknown fields, and values the appliance may grow (statuses,
roles, event types) stay strings: an older TUI still shows a newer appliance's data. Only what a
screen cannot work without is required (an id and the name a person recognises); the rest has a
default, so a missing optional field never blanks a whole screen.

This module must never import Textual or httpx, and never performs I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from tui.errors import ReplyInvalid
from tui.replies import Reply

# A page longer than this is a broken or hostile server; the screens show at most this many rows.
list_items_max = 1000
# Opaque cursors are the appliance's; the TUI bounds what it echoes back so a hostile one stays small.
cursor_chars_max = 512

ItemT = TypeVar("ItemT", bound=Reply)


class Me(Reply, frozen=True, kw_only=True):
    """`GET /api/v1/users/me`."""

    user_id: str
    email: str
    display_name: str = ""
    instance_admin: bool = False


class UserSummary(Reply, frozen=True, kw_only=True):
    """One row of `GET /api/v1/admin/users`."""

    user_id: str
    email: str
    display_name: str = ""
    status: str = ""
    active: bool | None = None
    instance_admin: bool = False
    created_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        if self.active is not None:
            return not self.active
        return self.status == "disabled"


class OrgSummary(Reply, frozen=True, kw_only=True):
    """One row of `GET /api/v1/orgs` (the caller's organisations and the caller's role in each)."""

    org_id: str
    name: str
    role: str | None = None
    created_at: datetime | None = None


class Member(Reply, frozen=True, kw_only=True):
    """One row of `GET /api/v1/orgs/{org_id}/members`."""

    user_id: str
    email: str = ""
    display_name: str = ""
    role: str
    joined_at: datetime | None = None


class SessionSummary(Reply, frozen=True, kw_only=True):
    """One row of `GET /api/v1/auth/sessions`; `current` marks the session asking."""

    session_id: str
    created_at: datetime | None = None
    last_seen_at: datetime | None = None
    expires_at: datetime | None = None
    current: bool = False
    method: str = ""
    user_agent: str = ""
    ip: str = ""


class AuditEntry(Reply, frozen=True, kw_only=True):
    """One entry of an audit page; `detail` is the event without secrets, as plain JSON."""

    event_id: str
    type: str
    occurred_at: datetime
    actor: str = ""
    org_id: str | None = None
    user_id: str | None = None
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class AuditPage(Reply, frozen=True, kw_only=True):
    """`GET /api/v1/orgs/{org_id}/audit` and `GET /api/v1/audit`: newest first, opaque cursor."""

    entries: tuple[AuditEntry, ...]
    next_cursor: str | None = None


def decode_list(body: bytes, item: type[ItemT], *, key: str, what: str) -> tuple[tuple[ItemT, ...], str | None]:
    """Rows from `[...]` or from `{key: [...], "next_cursor": ...}`; anything else is `ReplyInvalid`."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ReplyInvalid(f"{what}: reply is not valid JSON: {error}") from error
    cursor: object = None
    if isinstance(raw, dict):
        cursor = raw.get("next_cursor")
        raw = raw.get(key)
    if not isinstance(raw, list):
        raise ReplyInvalid(f"{what}: expected a list of {key}")
    if len(raw) > list_items_max:
        raise ReplyInvalid(f"{what}: {len(raw)} {key} in one reply exceeds {list_items_max}")
    if cursor is not None and (not isinstance(cursor, str) or not 0 < len(cursor) <= cursor_chars_max):
        raise ReplyInvalid(f"{what}: next_cursor must be null or a string of 1-{cursor_chars_max} characters")
    try:
        rows = msgspec.convert(raw, tuple[item, ...])  # type: ignore[valid-type]
    except msgspec.ValidationError as error:
        raise ReplyInvalid(f"{what}: unexpected reply shape: {error}") from error
    return rows, cursor
