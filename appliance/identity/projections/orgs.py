"""Projection of the organisation aggregate into `orgs`, `org_members`, `org_member_periods`,
`org_invites` and `api_keys` (migration 0011).

The tables answer the questions the API asks on every request — is this organisation alive, which
role does this user hold in it, which key has this prefix — and the listings of the org routes.
The event log stays the authority: decisions load the aggregate, never these rows.

Times that are compared (membership periods, expiries) are stored as integer microseconds since
the epoch, taken from the events themselves, so a rebuild writes the same bytes.

This module must never read the clock, draw randomness, or look at any other aggregate's rows
than the organisation whose event it applies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import apsw

from appliance.eventstore.port import StoredCommit
from appliance.identity.domain.events import IDENTITY_UPCASTERS
from appliance.identity.domain.org_events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    InviteAccepted,
    InviteRevoked,
    MemberInvited,
    MemberLeft,
    MemberRemoved,
    MemberRoleChanged,
    OrgCreated,
    OrgDeleted,
    OrgEvent,
    OrgRenamed,
)
from appliance.identity.domain.principals import Actor, ActorKind
from appliance.kernel.envelope import EventEnvelope
from appliance.kernel.errors import InvariantViolation, invariant

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ORG_EVENT_TYPES = frozenset(kind.__name__ for kind in get_args(OrgEvent))


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime: exact, unlike `timestamp()`."""
    invariant(moment.utcoffset() is not None, "stored times are timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def actor_text(actor: Actor) -> str:
    return actor.kind.value if actor.id is None else f"{actor.kind.value}:{actor.id}"


def is_identity_subject(subject: str) -> bool:
    """Whether a subject belongs to the identity context (other contexts reuse event names)."""
    tokens = subject.split(".")
    if tokens[0] == "platform":
        return len(tokens) > 1 and tokens[1] == "identity"
    return tokens[0] == "org" and len(tokens) > 2 and tokens[2] == "identity"


class OrgsProjection:
    name = "identity.orgs"
    types = ORG_EVENT_TYPES

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        if not is_identity_subject(stored.subject):
            return
        # Decoding as the organisation union refuses (and the projector records) anything else.
        event: OrgEvent = IDENTITY_UPCASTERS.decode(envelope, OrgEvent)
        apply_org_event(db, event, envelope)


def apply_org_event(db: apsw.Connection, event: OrgEvent, envelope: EventEnvelope) -> None:  # noqa: PLR0911
    match event:
        case OrgCreated():
            return _created(db, event, envelope)
        case OrgRenamed():
            return _org_touched(db, event.org_id, envelope, name=event.name)
        case OrgDeleted():
            return _deleted(db, event, envelope)
        case MemberInvited():
            return _invited(db, event)
        case InviteRevoked():
            return _invite_status(db, event, "revoked", None)
        case InviteAccepted():
            _invite_status(db, event, "accepted", str(event.user_id))
            return _joined(db, event.org_id, event.user_id, event.email, event.role.value, event.at, envelope)
        case MemberRoleChanged():
            return _role_changed(db, event)
        case MemberRemoved() | MemberLeft():
            return _left(db, event, envelope)
        case ApiKeyCreated():
            return _key_created(db, event)
        case ApiKeyRevoked():
            return _key_revoked(db, event)
    raise InvariantViolation(f"unhandled organisation event {type(event).__name__}")


def _created(db: apsw.Connection, event: OrgCreated, envelope: EventEnvelope) -> None:
    db.execute(
        "INSERT INTO orgs (org_id, name, created_at, created_by, deleted, deleted_at, version) "
        "VALUES (?, ?, ?, ?, 0, NULL, ?)",
        (str(event.org_id), event.name, iso(event.at), actor_text(event.by), envelope.aggregate_version),
    )
    _joined(db, event.org_id, event.owner_id, event.owner_email, "owner", event.at, envelope)


def _org_touched(db: apsw.Connection, org_id: object, envelope: EventEnvelope, *, name: str | None = None) -> None:
    changed = db.execute(
        "UPDATE orgs SET name = coalesce(?, name), version = ? WHERE org_id = ? AND deleted = 0 RETURNING org_id",
        (name, envelope.aggregate_version, str(org_id)),
    ).fetchall()
    invariant(len(changed) == 1, "organisation events follow its creation and precede its deletion")


def _deleted(db: apsw.Connection, event: OrgDeleted, envelope: EventEnvelope) -> None:
    _org_touched(db, event.org_id, envelope)
    org_id = str(event.org_id)
    at = iso(event.at)
    db.execute("UPDATE orgs SET deleted = 1, deleted_at = ? WHERE org_id = ?", (at, org_id))
    # A deleted organisation's keys must stop authenticating, whoever looks them up.
    db.execute(
        "UPDATE api_keys SET revoked = 1, revoked_at = coalesce(revoked_at, ?) WHERE org_id = ?",
        (at, org_id),
    )
    db.execute(
        "UPDATE org_member_periods SET left_us = ? WHERE org_id = ? AND left_us IS NULL",
        (micros(envelope.occurred_at), org_id),
    )


def _joined(
    db: apsw.Connection, org_id: object, user_id: object, email: str, role: str, at: datetime, envelope: EventEnvelope
) -> None:
    db.execute(
        "INSERT INTO org_members (org_id, user_id, email, role, joined_at) VALUES (?, ?, ?, ?, ?)",
        (str(org_id), str(user_id), email, role, iso(at)),
    )
    # The period uses the envelope's time, like the audit rows it is joined with.
    db.execute(
        "INSERT INTO org_member_periods (org_id, user_id, joined_us, left_us) VALUES (?, ?, ?, NULL)",
        (str(org_id), str(user_id), micros(envelope.occurred_at)),
    )


def _left(db: apsw.Connection, event: MemberRemoved | MemberLeft, envelope: EventEnvelope) -> None:
    gone = db.execute(
        "DELETE FROM org_members WHERE org_id = ? AND user_id = ? RETURNING user_id",
        (str(event.org_id), str(event.user_id)),
    ).fetchall()
    invariant(len(gone) == 1, "only a member leaves or is removed")
    closed = db.execute(
        "UPDATE org_member_periods SET left_us = ? WHERE org_id = ? AND user_id = ? AND left_us IS NULL "
        "RETURNING user_id",
        (micros(envelope.occurred_at), str(event.org_id), str(event.user_id)),
    ).fetchall()
    invariant(len(closed) == 1, "a member has exactly one open membership period")


def _role_changed(db: apsw.Connection, event: MemberRoleChanged) -> None:
    changed = db.execute(
        "UPDATE org_members SET role = ? WHERE org_id = ? AND user_id = ? RETURNING user_id",
        (event.role.value, str(event.org_id), str(event.user_id)),
    ).fetchall()
    invariant(len(changed) == 1, "only a member's role changes")


def _invited(db: apsw.Connection, event: MemberInvited) -> None:
    db.execute(
        "INSERT INTO org_invites (org_id, invite_id, email, role, status, created_at, expires_at, expires_us, "
        "invited_by, accepted_by) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, NULL)",
        (
            str(event.org_id),
            str(event.invite_id),
            event.email,
            event.role.value,
            iso(event.at),
            iso(event.expires_at),
            micros(event.expires_at),
            actor_text(event.by),
        ),
    )


def _invite_status(
    db: apsw.Connection, event: InviteRevoked | InviteAccepted, status: str, accepted_by: str | None
) -> None:
    changed = db.execute(
        "UPDATE org_invites SET status = ?, accepted_by = ? WHERE org_id = ? AND invite_id = ? AND status = 'pending' "
        "RETURNING invite_id",
        (status, accepted_by, str(event.org_id), str(event.invite_id)),
    ).fetchall()
    invariant(len(changed) == 1, "only a pending invite is accepted or revoked")


def _acting_user(db: apsw.Connection, event: ApiKeyCreated) -> str | None:
    """The user a new key acts for: its creator, or the user of the key that created it."""
    if event.by.kind is ActorKind.USER:
        return event.by.id
    if event.by.kind is ActorKind.API_KEY:
        # Same organisation, same stream: the creating key's row is already here.
        row = db.execute(
            "SELECT created_by FROM api_keys WHERE key_id = ? AND org_id = ?", (event.by.id, str(event.org_id))
        ).fetchone()
        return None if row is None else row[0]
    return None


def _key_created(db: apsw.Connection, event: ApiKeyCreated) -> None:
    db.execute(
        "INSERT INTO api_keys (key_id, org_id, name, prefix, key_sha256, role, created_at, created_by, "
        "created_by_actor, expires_at, expires_us, revoked, revoked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)",
        (
            str(event.api_key_id),
            str(event.org_id),
            event.name,
            event.prefix,
            event.key_hash,
            event.role.value,
            iso(event.at),
            _acting_user(db, event),
            actor_text(event.by),
            None if event.expires_at is None else iso(event.expires_at),
            None if event.expires_at is None else micros(event.expires_at),
        ),
    )


def _key_revoked(db: apsw.Connection, event: ApiKeyRevoked) -> None:
    changed = db.execute(
        "UPDATE api_keys SET revoked = 1, revoked_at = ? WHERE key_id = ? AND org_id = ? AND revoked = 0 "
        "RETURNING key_id",
        (iso(event.at), str(event.api_key_id), str(event.org_id)),
    ).fetchall()
    invariant(len(changed) == 1, "a key is revoked once")
