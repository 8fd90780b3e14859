"""Where each identity aggregate lives: its kind, its id, and its scope.

An `AggregateRef` names one aggregate. Workflows turn it into an event-store subject with
`appliance.eventstore.port` (this package may not import it):

    ref.org_id is None  ->  platform_subject(IDENTITY_CONTEXT, ref.kind, ref.aggregate_id)
    otherwise           ->  org_subject(ref.org_id, IDENTITY_CONTEXT, ref.kind, ref.aggregate_id)

giving `platform.identity.user.<user id>`, `platform.identity.reservation.<64 hex>`,
`platform.identity.session.<session id>` and
`org.<org id>.identity.org.<org id>`.

A reservation's id is the SHA-256 (hex, 64 characters: one subject token) of its kind and its
normalised value, so the subject of "the e-mail alice@example.org" is computable by anyone who
knows the address, and the address itself never appears in a subject.

This module must never know about the event store's API: it only names things.
"""

from __future__ import annotations

import enum
import hashlib

from appliance.kernel.ids import OrgId, SessionId, UserId
from appliance.kernel.structs import Struct

IDENTITY_CONTEXT = "identity"


class AggregateKind(enum.StrEnum):
    RESERVATION = "reservation"
    USER = "user"
    ORG = "org"
    SESSION = "session"


class AggregateRef(Struct, frozen=True):
    kind: AggregateKind
    aggregate_id: str
    org_id: OrgId | None = None  # set for organisation-scoped aggregates


def user_ref(user_id: UserId) -> AggregateRef:
    return AggregateRef(kind=AggregateKind.USER, aggregate_id=str(user_id))


def org_ref(org_id: OrgId) -> AggregateRef:
    return AggregateRef(kind=AggregateKind.ORG, aggregate_id=str(org_id), org_id=org_id)


def session_ref(session_id: SessionId) -> AggregateRef:
    return AggregateRef(kind=AggregateKind.SESSION, aggregate_id=str(session_id))


def reservation_key(kind: str, value: str) -> str:
    """The id of the reservation of `value` (already normalised) in namespace `kind`."""
    # The NUL separator keeps (kind, value) pairs apart: no kind contains one.
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()


def reservation_ref(kind: str, value: str) -> AggregateRef:
    return AggregateRef(kind=AggregateKind.RESERVATION, aggregate_id=reservation_key(kind, value))
