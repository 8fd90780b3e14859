"""The event store and session store ports, and the subject/stream naming rules.

Streams: `PLATFORM` (subjects `platform.>`) for instance-wide aggregates, and one stream per
organisation, `ORG_<org id>` (subjects `org.<org id>.>`). The subject of an aggregate is
`<scope>.<context>.<aggregate>.<id>`, e.g. `platform.identity.user.<user id>` or
`org.<org id>.fleet.cluster.<cluster id>`.

Append is optimistic: the caller passes the stream sequence of the last commit it saw on the
aggregate's subject (0 when the aggregate is new); if another commit landed since, the store
raises `ConcurrencyConflict` and writes nothing. Each commit is stored once even when the same
append is retried (de-duplicated by the first event's id).

Adapters: `memory.InMemoryEventStore` (reference, tests, simulations) and
`jetstream.JetStreamEventStore` (production); the KV session and one-time stores are in `kv`.
Both pass `tests/eventstore/contract.py`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Protocol

import msgspec

from appliance.kernel.envelope import Commit, EventEnvelope
from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import OrgId, SessionId, UserId
from appliance.kernel.structs import Struct

PLATFORM_STREAM = "PLATFORM"
ORG_STREAM_PREFIX = "ORG_"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SUBJECT_TOKENS_MAX = 8
SUBSCRIBE_BATCH_MAX = 500


def platform_subject(context: str, aggregate: str, aggregate_id: str) -> str:
    return _join("platform", context, aggregate, aggregate_id)


def org_subject(org_id: OrgId, context: str, aggregate: str, aggregate_id: str) -> str:
    return _join("org", str(org_id), context, aggregate, aggregate_id)


def org_stream(org_id: OrgId) -> str:
    return f"{ORG_STREAM_PREFIX}{org_id}"


def stream_of(subject: str) -> str:
    """The stream that holds `subject`; refuses subjects outside the two scopes."""
    tokens = subject.split(".")
    if tokens[0] == "platform" and len(tokens) >= 2:
        return PLATFORM_STREAM
    if tokens[0] == "org" and len(tokens) >= 3:
        return org_stream(OrgId.parse(tokens[1]))
    raise InvalidInput(f"subject {subject!r} is outside the platform and org scopes", field="subject")


def stream_subjects(stream: str) -> str:
    """The subject filter a stream captures."""
    if stream == PLATFORM_STREAM:
        return "platform.>"
    if stream.startswith(ORG_STREAM_PREFIX):
        return f"org.{OrgId.parse(stream.removeprefix(ORG_STREAM_PREFIX))}.>"
    raise InvalidInput(f"unknown stream {stream!r}", field="stream")


def _join(*tokens: str) -> str:
    for token in tokens:
        if not _TOKEN.match(token):
            raise InvalidInput(f"subject token {token!r} must be 1-64 of [A-Za-z0-9_-]", field="subject")
    if len(tokens) > SUBJECT_TOKENS_MAX:
        raise InvalidInput("subject has too many tokens", field="subject")
    return ".".join(tokens)


class AppendResult(Struct, frozen=True):
    stream: str
    sequence: int
    duplicate: bool = False


class StoredCommit(Struct, frozen=True):
    """A commit as read back: where it sits in its stream.

    A message that cannot be decoded as a commit (corrupt or foreign) is still delivered, with no
    events and `error` set, so that consumers can record it and move past it instead of stalling.
    """

    stream: str
    subject: str
    sequence: int
    commit: Commit
    error: str | None = None


class AggregateHistory(Struct, frozen=True):
    """Every event of one aggregate in order, and the sequence to pass as `expected_last_sequence`."""

    subject: str
    last_sequence: int
    events: list[EventEnvelope]

    @property
    def version(self) -> int:
        return len(self.events)


class StreamInfo(Struct, frozen=True):
    name: str
    last_sequence: int
    messages: int


class EventStore(Protocol):
    async def ensure_stream(self, stream: str) -> None:
        """Create the stream if it does not exist (idempotent)."""
        ...

    async def append(self, subject: str, commit: Commit, *, expected_last_sequence: int) -> AppendResult:
        """Append one commit to `subject` if its last sequence is still `expected_last_sequence`."""
        ...

    async def load(self, subject: str) -> AggregateHistory:
        """All events of one aggregate. An unknown subject yields an empty history."""
        ...

    async def read(self, stream: str, *, after_sequence: int, limit: int) -> list[StoredCommit]:
        """Up to `limit` commits of `stream` with sequence > `after_sequence` (bounded read)."""
        ...

    def subscribe(self, stream: str, *, after_sequence: int) -> AsyncGenerator[list[StoredCommit], None]:
        """Every commit after `after_sequence`, then new ones as they land; never ends by itself.

        Commits come in batches of whatever has arrived (at most `SUBSCRIBE_BATCH_MAX`, in order,
        never empty), so that consumers can write one transaction per batch.
        """
        ...

    async def streams(self) -> list[StreamInfo]:
        """The streams that exist now, with their last sequence."""
        ...


class SessionRecord(Struct, frozen=True):
    """A server-side session. `data` is opaque to the store (the identity context owns it)."""

    session_id: SessionId
    user_id: UserId
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    data: dict[str, str] = msgspec.field(default_factory=dict)


class VersionedSession(Struct, frozen=True):
    """A session as read, with the store's revision of it (for compare-and-set)."""

    record: SessionRecord
    revision: int


class SessionStore(Protocol):
    """Sessions with a time to live (NATS KV in production). Expired records are never returned.

    Sessions are addressed by user and session id together (the access token carries both), so a
    user's sessions can be listed and ended without scanning everyone's. `replace` is a
    compare-and-set on the revision `get_versioned` returned, so that two writers (two refreshes of
    one session, on one appliance or on several) can never both rotate it.
    """

    async def put(self, record: SessionRecord) -> None:
        """Create or replace; the store forgets the record at `expires_at` by itself."""
        ...

    async def get(self, user_id: UserId, session_id: SessionId) -> SessionRecord | None: ...

    async def get_versioned(self, user_id: UserId, session_id: SessionId) -> VersionedSession | None: ...

    async def replace(self, record: SessionRecord, *, expected_revision: int) -> bool:
        """Write `record` only if the session is still at `expected_revision`; False (nothing written)
        if it changed, ended or expired since."""
        ...

    async def delete(self, user_id: UserId, session_id: SessionId) -> bool: ...

    async def list_for_user(self, user_id: UserId) -> list[SessionRecord]:
        """The user's live sessions, oldest first."""
        ...

    async def delete_all_for_user(self, user_id: UserId) -> int:
        """End every session of the user; returns how many were ended."""
        ...


ONE_TIME_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class OneTimeStore(Protocol):
    """Records redeemable once, with a time to live: pending passkey challenges and OIDC logins.

    `take` removes and returns a record atomically, so of two concurrent callers (in one process or
    across appliances sharing NATS) exactly one gets it. Keys are unguessable ids made by the caller
    (`ONE_TIME_KEY`: 16-64 of [A-Za-z0-9_-]).
    """

    async def put(self, key: str, value: bytes, *, ttl_s: int) -> None:
        """Store a new record; a key already in use is a bug (`InvariantViolation`)."""
        ...

    async def take(self, key: str) -> bytes | None:
        """Remove and return the record; None when absent, expired or already taken."""
        ...


def check_one_time_key(key: object) -> str:
    if not isinstance(key, str) or not ONE_TIME_KEY.match(key):
        raise InvalidInput("the one-time key must be 16-64 of [A-Za-z0-9_-]", field="key")
    return key
