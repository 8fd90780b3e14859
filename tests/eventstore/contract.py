"""The event store, session store and one-time store contracts: every adapter must pass these same tests.

Adapters provide the `store` / `sessions` / `one_time` / `clock` fixtures in their own test module and
inherit these classes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import msgspec
import pytest

from appliance.eventstore.port import (
    PLATFORM_STREAM,
    EventStore,
    OneTimeStore,
    SessionRecord,
    SessionStore,
    StoredCommit,
    org_stream,
    org_subject,
    platform_subject,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.envelope import Commit, DomainEvent, EventMeta, seal
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput, InvariantViolation
from appliance.kernel.ids import EventId, OrgId, SessionId, UserId
from appliance.runtime.system import SystemClock, Uuid7Ids


class ThingNamed(DomainEvent, frozen=True):
    name: str


IDS = Uuid7Ids()


def commit_of(*names: str, version_before: int = 0) -> Commit:
    return seal(
        [ThingNamed(name=n) for n in names],
        aggregate_type="thing",
        aggregate_id="t",
        version_before=version_before,
        event_ids=[IDS.new(EventId) for _ in names],
        occurred_at=SystemClock().now(),
        meta=EventMeta(actor="test", correlation_id="c"),
    )


def fresh_subject() -> str:
    return platform_subject("test", "thing", str(IDS.new(EventId)))


async def take(iterator, count: int) -> list[StoredCommit]:
    items: list[StoredCommit] = []
    async for batch in iterator:
        assert batch, "a subscription never yields an empty batch"
        items.extend(batch)
        if len(items) >= count:
            break
    return items


class EventStoreContract:
    async def test_append_then_load_returns_events_in_order(self, store: EventStore) -> None:
        """Appended commits come back in order with the sequence to pass next time."""
        await store.ensure_stream(PLATFORM_STREAM)
        subject = fresh_subject()
        first = await store.append(subject, commit_of("a", "b"), expected_last_sequence=0)
        second = await store.append(subject, commit_of("c", version_before=2), expected_last_sequence=first.sequence)
        history = await store.load(subject)
        assert [e.aggregate_version for e in history.events] == [1, 2, 3]
        assert history.last_sequence == second.sequence
        assert second.sequence > first.sequence

    async def test_unknown_aggregate_is_empty(self, store: EventStore) -> None:
        """Loading an aggregate that never existed yields no events and sequence 0."""
        await store.ensure_stream(PLATFORM_STREAM)
        history = await store.load(fresh_subject())
        assert (history.last_sequence, history.events) == (0, [])

    async def test_stale_expected_sequence_is_a_conflict_and_writes_nothing(self, store: EventStore) -> None:
        """A writer holding an old sequence gets ConcurrencyConflict and the history is unchanged."""
        await store.ensure_stream(PLATFORM_STREAM)
        subject = fresh_subject()
        await store.append(subject, commit_of("a"), expected_last_sequence=0)
        with pytest.raises(ConcurrencyConflict):
            await store.append(subject, commit_of("b", version_before=1), expected_last_sequence=0)
        assert [e.aggregate_version for e in (await store.load(subject)).events] == [1]

    async def test_concurrent_creators_exactly_one_wins(self, store: EventStore) -> None:
        """Two appends expecting an empty aggregate: one lands, the other conflicts."""
        await store.ensure_stream(PLATFORM_STREAM)
        subject = fresh_subject()
        results = await asyncio.gather(
            store.append(subject, commit_of("x"), expected_last_sequence=0),
            store.append(subject, commit_of("y"), expected_last_sequence=0),
            return_exceptions=True,
        )
        assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 1
        assert len((await store.load(subject)).events) == 1

    async def test_retried_append_is_stored_once(self, store: EventStore) -> None:
        """Re-sending the same commit (same event ids) is recognised as a duplicate."""
        await store.ensure_stream(PLATFORM_STREAM)
        subject = fresh_subject()
        commit = commit_of("once")
        first = await store.append(subject, commit, expected_last_sequence=0)
        again = await store.append(subject, commit, expected_last_sequence=0)
        assert again.duplicate
        assert again.sequence == first.sequence
        assert len((await store.load(subject)).events) == 1

    async def test_aggregates_do_not_see_each_other(self, store: EventStore) -> None:
        """Appends to one subject do not change another subject's history or expected sequence."""
        await store.ensure_stream(PLATFORM_STREAM)
        one, two = fresh_subject(), fresh_subject()
        await store.append(one, commit_of("a"), expected_last_sequence=0)
        await store.append(two, commit_of("b"), expected_last_sequence=0)
        assert [e.payload for e in (await store.load(two)).events] == [e.payload for e in commit_of("b").events]
        assert (await store.load(one)).last_sequence < (await store.load(two)).last_sequence

    async def test_empty_commit_and_foreign_subject_are_refused(self, store: EventStore) -> None:
        """A commit without events and a subject outside the two scopes are InvalidInput."""
        await store.ensure_stream(PLATFORM_STREAM)
        with pytest.raises(InvalidInput):
            await store.append(fresh_subject(), Commit(events=[]), expected_last_sequence=0)
        with pytest.raises(InvalidInput):
            await store.append("elsewhere.thing.x", commit_of("a"), expected_last_sequence=0)

    async def test_org_streams_are_separate(self, store: EventStore) -> None:
        """Each organisation's events live in its own stream and never appear in another's."""
        org_a, org_b = IDS.new(OrgId), IDS.new(OrgId)
        for org in (org_a, org_b):
            await store.ensure_stream(org_stream(org))
        await store.append(org_subject(org_a, "test", "thing", "1"), commit_of("a"), expected_last_sequence=0)
        await store.append(org_subject(org_b, "test", "thing", "1"), commit_of("b"), expected_last_sequence=0)
        read_a = await store.read(org_stream(org_a), after_sequence=0, limit=10)
        assert [c.subject for c in read_a] == [org_subject(org_a, "test", "thing", "1")]
        names = {s.name for s in await store.streams()}
        assert {org_stream(org_a), org_stream(org_b)} <= names

    async def test_read_is_bounded_and_resumable(self, store: EventStore) -> None:
        """read() returns at most `limit` commits after the given sequence."""
        org = IDS.new(OrgId)
        await store.ensure_stream(org_stream(org))
        for i in range(5):
            await store.append(org_subject(org, "test", "thing", str(i)), commit_of(str(i)), expected_last_sequence=0)
        page = await store.read(org_stream(org), after_sequence=1, limit=2)
        assert [c.sequence for c in page] == [2, 3]
        assert await store.read(org_stream(org), after_sequence=5, limit=2) == []
        with pytest.raises(InvalidInput):
            await store.read(org_stream(org), after_sequence=0, limit=0)

    async def test_subscribe_replays_then_follows_live(self, store: EventStore) -> None:
        """A subscription delivers history after the start sequence, then new commits as they land."""
        org = IDS.new(OrgId)
        stream = org_stream(org)
        await store.ensure_stream(stream)
        for i in range(3):
            await store.append(org_subject(org, "test", "thing", str(i)), commit_of(str(i)), expected_last_sequence=0)
        iterator = store.subscribe(stream, after_sequence=1)
        reader = asyncio.create_task(take(iterator, 3))
        await asyncio.sleep(0.05)
        await store.append(org_subject(org, "test", "thing", "live"), commit_of("live"), expected_last_sequence=0)
        items = await asyncio.wait_for(reader, 10)
        assert [c.sequence for c in items] == [2, 3, 4]
        await iterator.aclose()

    async def test_stream_info_reports_last_sequence(self, store: EventStore) -> None:
        """streams() reports each stream's last sequence and message count."""
        org = IDS.new(OrgId)
        await store.ensure_stream(org_stream(org))
        await store.append(org_subject(org, "test", "thing", "1"), commit_of("a"), expected_last_sequence=0)
        info = {s.name: s for s in await store.streams()}[org_stream(org)]
        assert (info.last_sequence, info.messages) == (1, 1)


class SessionStoreContract:
    def record(self, clock, user: UserId, ttl_s: float = 3600) -> SessionRecord:
        now = clock.now()
        return SessionRecord(
            session_id=IDS.new(SessionId),
            user_id=user,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            data={"ip": "127.0.0.1"},
        )

    async def test_put_get_delete(self, sessions: SessionStore, clock) -> None:
        """A stored session reads back equal, and is gone after delete."""
        user = IDS.new(UserId)
        record = self.record(clock, user)
        await sessions.put(record)
        assert await sessions.get(user, record.session_id) == record
        assert await sessions.delete(user, record.session_id)
        assert await sessions.get(user, record.session_id) is None
        assert not await sessions.delete(user, record.session_id)

    async def test_sessions_are_scoped_to_their_user(self, sessions: SessionStore, clock) -> None:
        """Listing and ending sessions touches only the named user's sessions."""
        alice, bob = IDS.new(UserId), IDS.new(UserId)
        mine = [self.record(clock, alice) for _ in range(2)]
        theirs = self.record(clock, bob)
        for record in [*mine, theirs]:
            await sessions.put(record)
        assert {r.session_id for r in await sessions.list_for_user(alice)} == {r.session_id for r in mine}
        assert await sessions.get(alice, theirs.session_id) is None
        assert await sessions.delete_all_for_user(alice) == 2
        assert await sessions.list_for_user(alice) == []
        assert await sessions.get(bob, theirs.session_id) == theirs

    async def test_expired_sessions_are_not_returned(self, sessions: SessionStore, clock) -> None:
        """A session past its expiry is never returned, whatever the backend still holds."""
        user = IDS.new(UserId)
        record = self.record(clock, user, ttl_s=2)
        await sessions.put(record)
        if isinstance(clock, ManualClock):
            clock.advance(3)
        else:
            await asyncio.sleep(3.1)
        assert await sessions.get(user, record.session_id) is None
        assert await sessions.list_for_user(user) == []

    async def test_replace_is_a_compare_and_set(self, sessions: SessionStore, clock) -> None:
        """`replace` writes only over the revision that was read: of two writers from one read, one wins."""
        user = IDS.new(UserId)
        record = self.record(clock, user)
        await sessions.put(record)
        read = await sessions.get_versioned(user, record.session_id)
        assert read is not None
        assert read.record == record
        first = msgspec_replace(record, data={"generation": "1"})
        second = msgspec_replace(record, data={"generation": "2"})
        assert await sessions.replace(first, expected_revision=read.revision)
        assert not await sessions.replace(second, expected_revision=read.revision)
        assert await sessions.get(user, record.session_id) == first
        again = await sessions.get_versioned(user, record.session_id)
        assert again is not None
        assert again.revision != read.revision

    async def test_replace_never_revives_an_ended_session(self, sessions: SessionStore, clock) -> None:
        """A session deleted since it was read is not written back by a late `replace`."""
        user = IDS.new(UserId)
        record = self.record(clock, user)
        await sessions.put(record)
        read = await sessions.get_versioned(user, record.session_id)
        assert read is not None
        assert await sessions.delete(user, record.session_id)
        assert not await sessions.replace(record, expected_revision=read.revision)
        assert await sessions.get(user, record.session_id) is None
        assert await sessions.get_versioned(user, record.session_id) is None


def msgspec_replace(record: SessionRecord, **changes: object) -> SessionRecord:
    return msgspec.structs.replace(record, **changes)


class OneTimeStoreContract:
    async def test_a_record_is_taken_once(self, one_time: OneTimeStore) -> None:
        """A stored record comes back from the first `take` only."""
        key = "k" * 24
        await one_time.put(key, b"challenge", ttl_s=60)
        assert await one_time.take(key) == b"challenge"
        assert await one_time.take(key) is None
        assert await one_time.take("never-stored-key-00") is None

    async def test_concurrent_takes_have_one_winner(self, one_time: OneTimeStore) -> None:
        """Of many concurrent takers of one record exactly one gets it."""
        key = "race-" + "x" * 20
        await one_time.put(key, b"once", ttl_s=60)
        results = await asyncio.gather(*(one_time.take(key) for _ in range(8)))
        assert [r for r in results if r is not None] == [b"once"]

    async def test_keys_are_checked_and_never_reused(self, one_time: OneTimeStore) -> None:
        """Malformed keys are `InvalidInput`; storing over a live key is a bug."""
        for bad in ["", "short", "has space in it here", "a.b.c.d.e.f.g.h.i", "x" * 65]:
            with pytest.raises(InvalidInput):
                await one_time.put(bad, b"v", ttl_s=60)
            with pytest.raises(InvalidInput):
                await one_time.take(bad)
        key = "y" * 30
        await one_time.put(key, b"v", ttl_s=60)
        with pytest.raises(InvariantViolation):
            await one_time.put(key, b"w", ttl_s=60)
        assert await one_time.take(key) == b"v"

    async def test_expired_records_are_not_returned(self, one_time: OneTimeStore, clock) -> None:
        """A record past its time to live is gone."""
        key = "z" * 30
        await one_time.put(key, b"v", ttl_s=1)
        if isinstance(clock, ManualClock):
            clock.advance(2)
        else:
            await asyncio.sleep(2.1)
        assert await one_time.take(key) is None
