"""How the identity screens word things: table rows, audit summaries and problems.

Every string that came from the appliance passes through `formatting.clean` (no control or
bidirectional-override characters, bounded length); the widgets then show it as plain text, never
as markup. Problems are worded by what the person can do about them: a 403 says the role is not
enough, a 404 says the thing is gone or not theirs, a 429 says how long to wait.

This module must never import Textual, read a clock or perform I/O; it is pure text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tui.errors import ApplianceProblem, TuiError
from tui.formatting import clean, format_timestamp
from tui.identity_replies import AuditEntry, Member, OrgSummary, SessionSummary, UserSummary

Cells = tuple[str, ...]
email_chars_max = 60
name_chars_max = 40
id_chars_max = 36
audit_summary_chars_max = 160
# Fields of an audit entry's detail that the summary never shows: the row already has them, or
# they are bulky (the appliance drops secrets itself; these are only noise).
_AUDIT_SKIPPED = frozenset({"type", "at", "by", "event_id", "occurred_at", "org_id", "user_id", "schema_version"})
_AUDIT_FIELDS_SHOWN_MAX = 4

USER_COLUMNS = (("email", "E-mail"), ("name", "Name"), ("status", "Status"), ("admin", "Admin"), ("id", "User id"))
ORG_COLUMNS = (("name", "Organisation"), ("role", "Your role"), ("id", "Org id"))
MEMBER_COLUMNS = (("email", "E-mail"), ("name", "Name"), ("role", "Role"), ("joined", "Joined"))
SESSION_COLUMNS = (
    ("started", "Started"),
    ("seen", "Last seen"),
    ("expires", "Expires"),
    ("how", "Signed in with"),
    ("from", "From"),
    ("this", ""),
    ("id", "Id"),
)
AUDIT_COLUMNS = (("when", "When"), ("type", "Event"), ("actor", "Actor"), ("summary", "Details"))


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else format_timestamp(moment)


def user_cells(user: UserSummary) -> Cells:
    status = "disabled" if user.disabled else (clean(user.status, 16) or "active")
    return (
        clean(user.email, email_chars_max),
        clean(user.display_name, name_chars_max),
        status,
        "yes" if user.instance_admin else "",
        clean(user.user_id, id_chars_max),
    )


def org_cells(org: OrgSummary) -> Cells:
    return (clean(org.name, name_chars_max), clean(org.role or "", 16), clean(org.org_id, id_chars_max))


def member_cells(member: Member) -> Cells:
    email = clean(member.email, email_chars_max) or clean(member.user_id, id_chars_max)
    return (email, clean(member.display_name, name_chars_max), clean(member.role, 16), _when(member.joined_at))


def session_cells(session: SessionSummary) -> Cells:
    return (
        _when(session.created_at),
        _when(session.last_seen_at),
        _when(session.expires_at),
        clean(session.method, 16),
        clean(session.ip, 40),
        "this one" if session.current else "",
        clean(session.session_id, id_chars_max),
    )


def audit_cells(entry: AuditEntry) -> Cells:
    return (
        format_timestamp(entry.occurred_at),
        clean(entry.type, 40),
        clean(entry.actor, 60),
        audit_summary(entry.detail),
    )


def audit_summary(detail: dict[str, Any]) -> str:
    """A few `name=value` pairs of an entry's detail, scalars only, on one bounded line."""
    pairs: list[str] = []
    for name, value in detail.items():
        if name in _AUDIT_SKIPPED or isinstance(value, dict | list) or value is None:
            continue
        pairs.append(f"{clean(str(name), 24)}={clean(str(value), 60)}")
        if len(pairs) == _AUDIT_FIELDS_SHOWN_MAX:
            break
    return clean(" ".join(pairs), audit_summary_chars_max)


# How each problem status is introduced, and what the person can do about it (after the detail).
_PROBLEM_WORDING = {
    401: ("refused (401)", ""),
    403: ("not allowed (403)", ""),
    404: ("not found (404)", " — it may have been removed, or it is not yours to see"),
    409: ("refused (409)", ""),
}
# A 409 is either a rule (last Owner, own account) or a race with another change; only a race is
# worth retrying, and the problem's code says which.
_RETRYABLE_CODES = frozenset({"concurrency_conflict", "conflict"})


def describe_error(error: TuiError) -> str:
    """One line a person can act on; the appliance's own wording follows the TUI's."""
    if not isinstance(error, ApplianceProblem):
        return clean(error.message, 300)
    detail = clean(error.detail or error.message, 240)
    if error.status == 429:
        wait = "" if error.retry_after_s is None else f"; retry after {error.retry_after_s} s"
        return f"too many requests (429){wait}: {detail}"
    wording = _PROBLEM_WORDING.get(error.status)
    if wording is None:
        return clean(error.message, 300)
    intro, advice = wording
    if error.status == 409 and error.code in _RETRYABLE_CODES:
        intro, advice = "conflict (409)", " — it changed meanwhile; reload and try again"
    return f"{intro}: {detail}{advice}"
