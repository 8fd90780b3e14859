"""Reading the audit trail: pages newest first, an opaque cursor, an optional event-type filter.

Two views of `audit_events`:

* an organisation's trail: the organisation's own events, plus the events about users (sign-ins,
  failures, session ends, account changes) that happened while those users were members — joined
  through `org_member_periods` by time, so a former member's old events stay and a new member's
  earlier life elsewhere is never shown;
* the instance-wide trail (instance administrators): every row.

Paging is by keyset on (occurred_us, event_id), newest first: a page never repeats or skips a row
that existed when the first page was read, whatever is appended meanwhile (new rows sort before
the first page). The cursor encodes the last row's key and a digest of the query it belongs to, so
a cursor from another listing (another organisation, another filter) is refused rather than
silently misapplied. Every malformed or foreign cursor is `InvalidInput` (HTTP 400). A cursor is a
position, not a capability: it is not signed, because editing its position only starts the same
view elsewhere — the view itself is fixed by the caller's access, never by the cursor.

This module must never write, and never show a row outside the view it was asked for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from typing import Any

import apsw
import msgspec

from appliance.identity.projections.audit import AUDIT_EVENT_TYPES
from appliance.kernel.errors import InvalidInput, invariant
from appliance.kernel.ids import EventId, OrgId
from appliance.kernel.structs import Struct

AUDIT_PAGE_ENTRIES_DEFAULT = 50
AUDIT_PAGE_ENTRIES_MAX = 200
AUDIT_TYPE_FILTERS_MAX = 32
CURSOR_CHARS_MAX = 160
_CURSOR_VERSION = "a1"
_CURSOR_TEXT = re.compile(r"^a1\.(\d{1,19})\.([0-9a-f-]{36})\.([0-9a-f]{16})$")
_CURSOR_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
_OCCURRED_US_MAX = 2**63 - 1

_COLUMNS = "event_id, occurred_us, occurred_at, event_type, org_id, user_id, actor, detail"


class AuditEntry(Struct, frozen=True):
    event_id: str
    type: str
    occurred_at: str
    actor: str
    org_id: str | None
    user_id: str | None
    detail: dict[str, Any]


class AuditPage(Struct, frozen=True):
    entries: list[AuditEntry]
    next_cursor: str | None


class _Key(Struct, frozen=True):
    occurred_us: int
    event_id: str


def check_event_types(types: Iterable[str]) -> frozenset[str]:
    """The filter as a set; an unknown type name is `InvalidInput` naming the known ones' count."""
    wanted = frozenset(types)
    if len(wanted) > AUDIT_TYPE_FILTERS_MAX:
        raise InvalidInput(f"at most {AUDIT_TYPE_FILTERS_MAX} event types may be filtered on", field="type")
    unknown = sorted(wanted - AUDIT_EVENT_TYPES)
    if unknown:
        shown = unknown[0][:64]
        raise InvalidInput(f"unknown event type {shown!r} (see the audit event types in the API docs)", field="type")
    return wanted


def check_limit(limit: int) -> int:
    if not 1 <= limit <= AUDIT_PAGE_ENTRIES_MAX:
        raise InvalidInput(f"limit must be between 1 and {AUDIT_PAGE_ENTRIES_MAX}", field="limit")
    return limit


def _scope(view: str, types: frozenset[str]) -> str:
    text = view + "\x00" + "\x00".join(sorted(types))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(key: _Key, scope: str) -> str:
    text = f"{_CURSOR_VERSION}.{key.occurred_us}.{key.event_id}.{scope}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str) -> _Key:
    """The key a cursor points after; anything but a cursor this view issued is `InvalidInput`."""
    bad = InvalidInput("cursor is not one this listing issued; start again without a cursor", field="cursor")
    if not 0 < len(cursor) <= CURSOR_CHARS_MAX or not _CURSOR_ALPHABET.match(cursor):
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    match = _CURSOR_TEXT.match(text)
    if match is None or match.group(3) != scope:
        raise bad
    occurred_us = int(match.group(1))
    if occurred_us > _OCCURRED_US_MAX:
        raise bad
    try:
        event_id = str(EventId.parse(match.group(2)))
    except InvalidInput:
        raise bad from None
    return _Key(occurred_us=occurred_us, event_id=event_id)


def _filters(types: frozenset[str], after: _Key | None, alias: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if types:
        clauses.append(f"{alias}.event_type IN ({', '.join('?' for _ in types)})")
        params.extend(sorted(types))
    if after is not None:
        clauses.append(f"({alias}.occurred_us < ? OR ({alias}.occurred_us = ? AND {alias}.event_id < ?))")
        params.extend([after.occurred_us, after.occurred_us, after.event_id])
    return "".join(f" AND {clause}" for clause in clauses), params


def _page(rows: list[tuple[Any, ...]], limit: int, scope: str) -> AuditPage:
    entries = [
        AuditEntry(
            event_id=row[0],
            type=row[3],
            occurred_at=row[2],
            actor=row[6],
            org_id=row[4],
            user_id=row[5],
            detail=msgspec.json.decode(row[7]),
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    next_cursor = (
        encode_cursor(_Key(occurred_us=rows[limit - 1][1], event_id=rows[limit - 1][0]), scope) if more else None
    )
    return AuditPage(entries=entries, next_cursor=next_cursor)


def org_audit_page(
    db: apsw.Connection, org_id: OrgId, *, types: frozenset[str], cursor: str | None, limit: int
) -> AuditPage:
    """One page of an organisation's trail (its events and its members' events while members)."""
    scope = _scope(f"org:{org_id}", types)
    after = decode_cursor(cursor, scope) if cursor is not None else None
    own_filter, own_params = _filters(types, after, "a")
    sql = (
        f"SELECT {_COLUMNS} FROM (SELECT a.* FROM audit_events a WHERE a.org_id = ?{own_filter} "  # noqa: S608 - fixed text
        "ORDER BY a.occurred_us DESC, a.event_id DESC LIMIT ?) "
        f"UNION ALL SELECT {_COLUMNS} FROM (SELECT a.* FROM org_member_periods p JOIN audit_events a "
        "ON a.user_id = p.user_id AND a.occurred_us >= p.joined_us AND (p.left_us IS NULL OR a.occurred_us < p.left_us) "
        f"WHERE p.org_id = ? AND a.org_id IS NULL{own_filter} ORDER BY a.occurred_us DESC, a.event_id DESC LIMIT ?) "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT ?"
    )
    params = [str(org_id), *own_params, limit + 1, str(org_id), *own_params, limit + 1, limit + 1]
    rows = list(db.execute(sql, params))
    invariant(len({row[0] for row in rows}) == len(rows), "membership periods of one user never overlap")
    return _page(rows, limit, scope)


def instance_audit_page(db: apsw.Connection, *, types: frozenset[str], cursor: str | None, limit: int) -> AuditPage:
    """One page of the whole instance's trail."""
    scope = _scope("instance", types)
    after = decode_cursor(cursor, scope) if cursor is not None else None
    where, params = _filters(types, after, "a")
    sql = (
        f"SELECT {_COLUMNS} FROM audit_events a WHERE 1 = 1{where} "  # noqa: S608 - fixed text
        "ORDER BY a.occurred_us DESC, a.event_id DESC LIMIT ?"
    )
    rows = list(db.execute(sql, [*params, limit + 1]))
    return _page(rows, limit, scope)
