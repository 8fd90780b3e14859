"""Projector runner: exactly-once batches with their checkpoint, failure recording, rebuild equality."""

from __future__ import annotations

import asyncio
from pathlib import Path

import apsw
import pytest

from appliance.eventstore.memory import InMemoryEventStore
from appliance.eventstore.port import PLATFORM_STREAM, StoredCommit, platform_subject
from appliance.kernel.envelope import Commit, EventEnvelope
from appliance.kernel.errors import ConfigError
from appliance.readmodel.db import connect, content_digest, migrate, migrations
from appliance.readmodel.projector import ProjectorRunner, apply_batch, load_checkpoints
from appliance.readmodel.rebuild import rebuild
from appliance.runtime.system import SystemClock
from tests.eventstore.contract import commit_of


class NamesProjection:
    """A test projection: one row per ThingNamed event; fails on the name 'boom'."""

    name = "names"
    types = frozenset({"ThingNamed"})

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS names (seq INTEGER, version INTEGER, name TEXT)")
        name = bytes(envelope.payload).decode()
        db.execute("INSERT INTO names VALUES (?, ?, ?)", (stored.sequence, envelope.aggregate_version, name))
        if '"boom"' in name:
            raise ValueError("this projection cannot handle boom")


def fresh_db(tmp_path: Path, name: str = "rm.sqlite3") -> apsw.Connection:
    db = connect(tmp_path / name)
    migrate(db)
    return db


def rows(db: apsw.Connection) -> list[tuple[object, ...]]:
    return list(db.execute("SELECT seq, version FROM names ORDER BY seq, version"))


def stored(sequence: int, commit: Commit) -> StoredCommit:
    return StoredCommit(stream=PLATFORM_STREAM, subject="platform.t.thing.x", sequence=sequence, commit=commit)


def test_migrations_are_numbered_uniquely_and_idempotent(tmp_path: Path) -> None:
    """Every migration applies once; a second run applies nothing."""
    db = connect(tmp_path / "m.sqlite3")
    first = migrate(db)
    assert first == [name for _, name, _ in migrations()]
    assert migrate(db) == []


def test_database_from_a_newer_build_is_refused(tmp_path: Path) -> None:
    """A read model migrated by a newer build is refused with a clear error, not corrupted."""
    db = fresh_db(tmp_path)
    db.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql')")
    with pytest.raises(ConfigError, match="9999"):
        migrate(db)


def test_batch_writes_rows_and_checkpoint_together_and_skips_redelivery(tmp_path: Path) -> None:
    """A batch advances the checkpoint with its rows; redelivered commits are not applied twice."""
    db = fresh_db(tmp_path)
    batch = [stored(1, commit_of("a")), stored(2, commit_of("b", "c"))]
    apply_batch(db, [NamesProjection()], batch)
    apply_batch(db, [NamesProjection()], batch)  # the same commits again, as after a reconnect
    assert rows(db) == [(1, 1), (2, 1), (2, 2)]
    assert load_checkpoints(db) == {PLATFORM_STREAM: (2, 3)}


def test_failing_projection_is_recorded_and_does_not_stall(tmp_path: Path) -> None:
    """An event a projection cannot handle is rolled back, recorded, and later events still apply."""
    db = fresh_db(tmp_path)
    apply_batch(
        db,
        [NamesProjection()],
        [stored(1, commit_of("ok")), stored(2, commit_of("boom")), stored(3, commit_of("fine"))],
    )
    assert rows(db) == [(1, 1), (3, 1)]
    failed = list(db.execute("SELECT stream, sequence, projection, error FROM failed_events"))
    assert failed == [(PLATFORM_STREAM, 2, "names", "ValueError: this projection cannot handle boom")]
    assert load_checkpoints(db)[PLATFORM_STREAM][0] == 3


def test_undecodable_message_is_recorded(tmp_path: Path) -> None:
    """A message that is not a commit is recorded as a failed event and passed."""
    db = fresh_db(tmp_path)
    bad = StoredCommit(
        stream=PLATFORM_STREAM, subject="platform.x.y.z", sequence=1, commit=Commit(events=[]), error="invalid commit"
    )
    apply_batch(db, [NamesProjection()], [bad, stored(2, commit_of("after"))])
    assert [(r[0], r[1]) for r in db.execute("SELECT sequence, projection FROM failed_events")] == [(1, "decode")]
    assert rows(db) == [(2, 1)]


async def test_live_projection_equals_rebuild(tmp_path: Path) -> None:
    """The runner's live read model and a rebuild from sequence 0 have the same content digest."""
    store = InMemoryEventStore()
    await store.ensure_stream(PLATFORM_STREAM)
    db = fresh_db(tmp_path)
    runner = ProjectorRunner(store, db, [NamesProjection()], SystemClock())
    await runner.start()
    last = None
    for i in range(40):
        subject = platform_subject("t", "thing", str(i % 7))
        history = await store.load(subject)
        last = await store.append(
            subject, commit_of(f"n{i}", version_before=history.version), expected_last_sequence=history.last_sequence
        )
    assert last is not None
    assert await runner.wait_for(PLATFORM_STREAM, last.sequence, timeout_s=10)
    assert runner.lag_by_stream() == {PLATFORM_STREAM: 0}
    await runner.stop()
    rebuilt_path = tmp_path / "rebuilt.sqlite3"
    replayed = await rebuild(store, rebuilt_path, [NamesProjection()])
    assert replayed == {PLATFORM_STREAM: 40}
    assert content_digest(connect(rebuilt_path)) == content_digest(db)


async def test_wait_for_times_out_when_nothing_arrives(tmp_path: Path) -> None:
    """Waiting for a sequence that never lands returns False instead of hanging."""
    store = InMemoryEventStore()
    await store.ensure_stream(PLATFORM_STREAM)
    runner = ProjectorRunner(store, fresh_db(tmp_path), [NamesProjection()], SystemClock())
    await runner.start()
    assert not await runner.wait_for(PLATFORM_STREAM, 5, timeout_s=0.2)
    await runner.stop()
    await asyncio.sleep(0)
