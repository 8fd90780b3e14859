"""Projection of every identity event (and the instance's own events) into `audit_events`.

One row per event, keyed by its event id and ordered by (occurred_us, event_id): the event's own
time and id, so a rebuild writes the same rows whatever order the streams are replayed in. A row
records the organisation the event belongs to (`events.org_of`: organisation events) and the user
it is about (`user_id` of user, session and organisation events), which is how a user's sign-ins,
session ends and account changes reach the audit of the organisations they belonged to at that
moment (see `audit_query`). The detail is `events.audit_view`: the event's fields as JSON without
secret hashes or key bytes.

Reservation events are left out: they are the uniqueness index of e-mails and credentials, and
hold nothing an auditor reads that the user events do not already say.

This module must never store a secret, a hash of one, or anything that is not in the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, get_args

import apsw
import msgspec

from appliance.eventstore.port import StoredCommit
from appliance.identity.domain.aggregates import AggregateKind
from appliance.identity.domain.events import EVENT_TYPES, EVENTS_BY_AGGREGATE, audit_view, decode_event, org_of
from appliance.identity.projections.orgs import is_identity_subject, iso, micros
from appliance.instance.domain import InstanceEvent
from appliance.instance.service import INSTANCE
from appliance.kernel.envelope import DomainEvent, EventEnvelope

_RESERVATION_TYPES = frozenset(kind.__name__ for kind in EVENTS_BY_AGGREGATE[AggregateKind.RESERVATION])
IDENTITY_AUDIT_TYPES = frozenset(EVENT_TYPES) - _RESERVATION_TYPES
INSTANCE_AUDIT_TYPES = frozenset(kind.__name__ for kind in get_args(InstanceEvent))
AUDIT_EVENT_TYPES = IDENTITY_AUDIT_TYPES | INSTANCE_AUDIT_TYPES
# The instance aggregate's one secret-derived field; its other fields are plain facts.
_INSTANCE_OMITTED_FIELDS = frozenset({"setup_token_sha256"})
INSTANCE_SUBJECT_PREFIX = "platform.instance."

# Which fields name the user an event is about, by event type; the first present one wins.
_SUBJECT_USER_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType({"OrgCreated": ("owner_id",)})
_DEFAULT_SUBJECT_USER_FIELDS = ("user_id",)


class AuditProjection:
    name = "identity.audit"
    types = AUDIT_EVENT_TYPES

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        if is_identity_subject(stored.subject):
            if envelope.type in _RESERVATION_TYPES:
                return
            event = decode_event(envelope)
            org_id = org_of(event)
            _insert(db, envelope, stored, str(org_id) if org_id else None, _subject_user(event), audit_view(event))
        elif stored.subject.startswith(INSTANCE_SUBJECT_PREFIX):
            instance_event: DomainEvent = INSTANCE.upcasters.decode(envelope, InstanceEvent)
            view = {k: v for k, v in msgspec.to_builtins(instance_event).items() if k not in _INSTANCE_OMITTED_FIELDS}
            _insert(db, envelope, stored, None, None, view)


def _subject_user(event: DomainEvent) -> str | None:
    for field in _SUBJECT_USER_FIELDS.get(type(event).__name__, _DEFAULT_SUBJECT_USER_FIELDS):
        value = getattr(event, field, None)
        if value is not None:
            return str(value)
    return None


def _insert(
    db: apsw.Connection,
    envelope: EventEnvelope,
    stored: StoredCommit,
    org_id: str | None,
    user_id: str | None,
    view: dict[str, Any],
) -> None:
    db.execute(
        "INSERT INTO audit_events (event_id, occurred_us, occurred_at, event_type, stream, sequence, org_id, "
        "user_id, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(envelope.event_id),
            micros(envelope.occurred_at),
            iso(envelope.occurred_at),
            envelope.type,
            stored.stream,
            stored.sequence,
            org_id,
            user_id,
            envelope.actor,
            msgspec.json.encode(view).decode(),
        ),
    )
