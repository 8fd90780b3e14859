"""The projector runner: event streams in, SQLite rows out, exactly once.

For each stream it subscribes from the stream's checkpoint, takes each batch of whatever has
arrived, and applies it in ONE transaction that also advances the checkpoint, so rows
and checkpoint can never disagree. A projection that fails on an event has its partial writes for
that event rolled back (a savepoint per event), the failure is recorded in `failed_events`, and the
runner carries on; readiness then reports the failure. Streams that appear later (a new
organisation) are discovered by polling.

Projections are plain objects with a `name`, the event `types` they want, and
`apply(db, envelope, stored)`. They must be deterministic functions of the events (no clock, no
randomness) so that a rebuild gives a byte-identical read model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

import apsw

from appliance.eventstore.port import EventStore, StoredCommit
from appliance.kernel.clock import Clock
from appliance.kernel.envelope import EventEnvelope

log = logging.getLogger("appliance.projector")

STREAM_POLL_INTERVAL_S = 1.0


class Projection(Protocol):
    name: str
    types: frozenset[str]

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None: ...


def load_checkpoints(db: apsw.Connection) -> dict[str, tuple[int, int]]:
    return {
        row[0]: (row[1], row[2]) for row in db.execute("SELECT stream, sequence, events FROM projection_checkpoints")
    }


def apply_batch(db: apsw.Connection, projections: Sequence[Projection], batch: Sequence[StoredCommit]) -> int:
    """Apply commits of ONE stream and advance its checkpoint in one transaction; returns failures.

    The batch is first applied in one go; only if a projection raises is it redone event by event
    under savepoints, so the common case pays no per-event savepoint.
    """
    if not batch:
        return 0
    stream = batch[0].stream
    with db:
        row = db.execute("SELECT sequence, events FROM projection_checkpoints WHERE stream = ?", (stream,)).fetchone()
        checkpoint, events = (row[0], row[1]) if row else (0, 0)
        fresh = [stored for stored in batch if stored.sequence > checkpoint]  # redelivery after a reconnect
        if not fresh:
            return 0
        db.execute("SAVEPOINT projection_batch")
        try:
            failures = _apply_all(db, projections, fresh, isolate=False)
        except Exception:
            db.execute("ROLLBACK TO projection_batch")
            failures = _apply_all(db, projections, fresh, isolate=True)
        db.execute("RELEASE projection_batch")
        events += sum(len(stored.commit.events) for stored in fresh)
        db.execute(
            "INSERT INTO projection_checkpoints (stream, sequence, events) VALUES (?, ?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET sequence = excluded.sequence, events = excluded.events",
            (stream, fresh[-1].sequence, events),
        )
    return failures


def _apply_all(
    db: apsw.Connection, projections: Sequence[Projection], batch: Sequence[StoredCommit], *, isolate: bool
) -> int:
    failures = 0
    for stored in batch:
        if stored.error is not None:
            _record_failure(db, stored, None, "decode", stored.error)
            failures += 1
        for envelope in stored.commit.events:
            if isolate:
                failures += _apply_event(db, projections, stored, envelope)
                continue
            for projection in projections:
                if envelope.type in projection.types:
                    projection.apply(db, envelope, stored)
    return failures


def _apply_event(
    db: apsw.Connection, projections: Sequence[Projection], stored: StoredCommit, envelope: EventEnvelope
) -> int:
    failures = 0
    for projection in projections:
        if envelope.type not in projection.types:
            continue
        db.execute("SAVEPOINT projection_event")
        try:
            projection.apply(db, envelope, stored)
        except Exception as error:
            db.execute("ROLLBACK TO projection_event")
            _record_failure(db, stored, envelope, projection.name, f"{type(error).__name__}: {error}")
            failures += 1
        db.execute("RELEASE projection_event")
    return failures


def _record_failure(
    db: apsw.Connection, stored: StoredCommit, envelope: EventEnvelope | None, projection: str, error: str
) -> None:
    log.error(
        "projection failed on an event",
        extra={
            "stream": stored.stream,
            "sequence": stored.sequence,
            "projection": projection,
            "detail": error,
        },
    )
    db.execute(
        "INSERT OR REPLACE INTO failed_events (stream, sequence, event_id, event_type, projection, error) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            stored.stream,
            stored.sequence,
            str(envelope.event_id) if envelope else None,
            envelope.type if envelope else None,
            projection,
            error[:2000],
        ),
    )


class ProjectorRunner:
    """Runs every projection over every stream; exposes checkpoints and lag."""

    def __init__(self, store: EventStore, db: apsw.Connection, projections: Sequence[Projection], clock: Clock) -> None:
        self._store = store
        self._db = db
        self._projections = list(projections)
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self.last_sequences: dict[str, int] = {}
        self.failures = 0
        self._applied = asyncio.Condition()

    def checkpoints(self) -> dict[str, tuple[int, int]]:
        return load_checkpoints(self._db)

    def lag_by_stream(self) -> dict[str, int]:
        done = self.checkpoints()
        return {name: max(0, last - done.get(name, (0, 0))[0]) for name, last in self.last_sequences.items()}

    def failed_events(self) -> int:
        row = self._db.execute("SELECT count(*) FROM failed_events").fetchone()
        return int(row[0]) if row else 0

    async def wait_for(self, stream: str, sequence: int, timeout_s: float = 5.0) -> bool:
        """Wait until `stream` is projected up to `sequence` (read-your-writes); False on timeout."""

        def caught_up() -> bool:
            return self.checkpoints().get(stream, (0, 0))[0] >= sequence

        if stream not in self._tasks:
            await self.refresh_streams()
        async with self._applied:
            try:
                await asyncio.wait_for(self._applied.wait_for(caught_up), timeout_s)
            except TimeoutError:
                return False
        return True

    async def start(self) -> None:
        await self.refresh_streams()
        self._poller = asyncio.create_task(self._poll_streams(), name="projector-streams")

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def refresh_streams(self) -> None:
        """Learn every stream's last sequence and follow streams not yet followed."""
        for info in await self._store.streams():
            self.last_sequences[info.name] = info.last_sequence
            if info.name not in self._tasks:
                self._tasks[info.name] = asyncio.create_task(self._follow(info.name), name=f"projector-{info.name}")

    async def _poll_streams(self) -> None:
        while True:
            await asyncio.sleep(STREAM_POLL_INTERVAL_S)
            try:
                await self.refresh_streams()
            except Exception as error:
                log.warning("cannot list streams", extra={"detail": str(error)})

    async def _follow(self, stream: str) -> None:
        """Subscribe from the checkpoint; on any failure, resubscribe from the checkpoint."""
        while True:
            after = self.checkpoints().get(stream, (0, 0))[0]
            try:
                await self._consume(stream, after)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "projection subscription lost; resubscribing",
                    extra={"stream": stream, "detail": str(error)},
                )
                await asyncio.sleep(0.5)

    async def _consume(self, stream: str, after: int) -> None:
        iterator = self._store.subscribe(stream, after_sequence=after)
        try:
            async for batch in iterator:
                self.failures += apply_batch(self._db, self._projections, batch)
                last = batch[-1].sequence
                if last > self.last_sequences.get(stream, 0):
                    self.last_sequences[stream] = last
                async with self._applied:
                    self._applied.notify_all()
        finally:
            with contextlib.suppress(Exception):
                await iterator.aclose()
