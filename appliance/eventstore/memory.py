"""In-memory reference adapters of the event store, session store and one-time store ports.

They define the behaviour the real adapters must match (both pass `tests/eventstore/contract.py`)
and serve unit tests and simulations. They hold everything in process memory and must never be
used where a user's data lives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from appliance.eventstore.port import (
    SUBSCRIBE_BATCH_MAX,
    AggregateHistory,
    AppendResult,
    SessionRecord,
    StoredCommit,
    StreamInfo,
    VersionedSession,
    check_one_time_key,
    stream_of,
    stream_subjects,
)
from appliance.kernel.clock import Clock
from appliance.kernel.envelope import Commit
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput, NotFound, RateLimited, invariant
from appliance.kernel.ids import SessionId, UserId


class InMemoryEventStore:
    def __init__(self) -> None:
        self._streams: dict[str, list[StoredCommit]] = {}
        self._last_by_subject: dict[str, int] = {}
        self._seen_ids: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def ensure_stream(self, stream: str) -> None:
        stream_subjects(stream)  # validates the name
        self._streams.setdefault(stream, [])

    async def append(self, subject: str, commit: Commit, *, expected_last_sequence: int) -> AppendResult:
        stream = stream_of(subject)
        if not commit.events:
            raise InvalidInput("a commit needs at least one event")
        if stream not in self._streams:
            raise NotFound(f"stream {stream} does not exist")
        dedup_key = str(commit.events[0].event_id)
        if dedup_key in self._seen_ids:
            return AppendResult(stream=stream, sequence=self._seen_ids[dedup_key], duplicate=True)
        if self._last_by_subject.get(subject, 0) != expected_last_sequence:
            raise ConcurrencyConflict(subject, expected_last_sequence)
        commits = self._streams[stream]
        sequence = len(commits) + 1
        commits.append(StoredCommit(stream=stream, subject=subject, sequence=sequence, commit=commit))
        self._last_by_subject[subject] = sequence
        self._seen_ids[dedup_key] = sequence
        async with self._changed:
            self._changed.notify_all()
        return AppendResult(stream=stream, sequence=sequence)

    async def load(self, subject: str) -> AggregateHistory:
        stream = stream_of(subject)
        found = [c for c in self._streams.get(stream, []) if c.subject == subject]
        return AggregateHistory(
            subject=subject,
            last_sequence=found[-1].sequence if found else 0,
            events=[event for stored in found for event in stored.commit.events],
        )

    async def read(self, stream: str, *, after_sequence: int, limit: int) -> list[StoredCommit]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        return self._streams.get(stream, [])[after_sequence : after_sequence + limit]

    async def subscribe(self, stream: str, *, after_sequence: int) -> AsyncGenerator[list[StoredCommit], None]:
        position = after_sequence
        while True:
            commits = self._streams.get(stream, [])
            if position < len(commits):
                batch = commits[position : position + SUBSCRIBE_BATCH_MAX]
                position = batch[-1].sequence
                yield batch
                continue
            await self._wait_beyond(stream, position)

    async def _wait_beyond(self, stream: str, position: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._streams.get(stream, [])) > position)

    async def streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(name=name, last_sequence=len(commits), messages=len(commits))
            for name, commits in sorted(self._streams.items())
        ]


class InMemorySessionStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[tuple[UserId, SessionId], SessionRecord] = {}
        self._revisions: dict[tuple[UserId, SessionId], int] = {}
        self._revision = 0

    async def put(self, record: SessionRecord) -> None:
        key = (record.user_id, record.session_id)
        self._revision += 1
        self._records[key] = record
        self._revisions[key] = self._revision

    async def get(self, user_id: UserId, session_id: SessionId) -> SessionRecord | None:
        record = self._records.get((user_id, session_id))
        if record is None or record.expires_at <= self._clock.now():
            return None
        return record

    async def get_versioned(self, user_id: UserId, session_id: SessionId) -> VersionedSession | None:
        record = await self.get(user_id, session_id)
        if record is None:
            return None
        return VersionedSession(record=record, revision=self._revisions[(user_id, session_id)])

    async def replace(self, record: SessionRecord, *, expected_revision: int) -> bool:
        current = await self.get_versioned(record.user_id, record.session_id)
        if current is None or current.revision != expected_revision:
            return False
        await self.put(record)
        return True

    async def delete(self, user_id: UserId, session_id: SessionId) -> bool:
        self._revisions.pop((user_id, session_id), None)
        return self._records.pop((user_id, session_id), None) is not None

    async def delete_all_for_user(self, user_id: UserId) -> int:
        now = self._clock.now()
        keys = [key for key in self._records if key[0] == user_id]
        live = sum(1 for key in keys if self._records[key].expires_at > now)
        for key in keys:
            del self._records[key]
            self._revisions.pop(key, None)
        return live

    async def list_for_user(self, user_id: UserId) -> list[SessionRecord]:
        now = self._clock.now()
        return sorted(
            (r for r in self._records.values() if r.user_id == user_id and r.expires_at > now),
            key=lambda r: r.created_at,
        )


class InMemoryOneTimeStore:
    """Single-use records for one process and for tests, each forgotten at its expiry."""

    def __init__(self, clock: Clock, *, records_max: int = 100_000) -> None:
        self._clock = clock
        self._records: dict[str, tuple[bytes, float]] = {}
        self._records_max = records_max

    async def put(self, key: str, value: bytes, *, ttl_s: int) -> None:
        key = check_one_time_key(key)
        invariant(ttl_s >= 1, "a one-time record lives at least a second")
        now = self._clock.monotonic()
        if len(self._records) >= self._records_max:
            self._records = {k: v for k, v in self._records.items() if v[1] > now}  # forget expired ones
        if len(self._records) >= self._records_max:
            raise RateLimited("too many pending one-time records", retry_after_s=ttl_s)
        invariant(key not in self._records, "one-time keys are never reused")
        self._records[key] = (value, now + ttl_s)

    async def take(self, key: str) -> bytes | None:
        found = self._records.pop(check_one_time_key(key), None)
        if found is None or found[1] <= self._clock.monotonic():
            return None
        return found[0]
