"""A workbench for the organisation workflows without HTTP: in-memory event store, manual clock,
sequential ids, and a real SQLite read model projected with the real projections.

`project()` applies every stream's new commits in batches of random size through the same
`apply_batch` the live projector uses, interleaving streams, so a test can compare the live read
model with a `rebuild()` from sequence 0 in stream order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import apsw

from appliance.eventstore.memory import InMemoryEventStore, InMemorySessionStore
from appliance.identity.domain.principals import UserPrincipal
from appliance.identity.projections.audit import AuditProjection
from appliance.identity.projections.orgs import OrgsProjection
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.clock import ManualClock
from appliance.kernel.ids import SequentialIds, UserId
from appliance.readmodel.db import connect, content_digest, migrate
from appliance.readmodel.projector import Projection, apply_batch

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
READ_BATCH_MAX = 1000


def projections() -> list[Projection]:
    return [OrgsProjection(), AuditProjection()]


def fresh_db(path: Path | None = None) -> apsw.Connection:
    db = connect(path) if path is not None else apsw.Connection(":memory:")
    migrate(db)
    return db


@dataclass
class Bench:
    seed: int = 0
    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    ids: SequentialIds = field(default_factory=SequentialIds)
    store: InMemoryEventStore = field(default_factory=InMemoryEventStore)
    db: apsw.Connection = field(default_factory=fresh_db)

    def __post_init__(self) -> None:
        self.ports = IdentityPorts(
            store=self.store, sessions=InMemorySessionStore(self.clock), clock=self.clock, ids=self.ids
        )
        self._random = random.Random(self.seed)
        self._done: dict[str, int] = {}

    def user(self, email: str) -> UserPrincipal:
        return UserPrincipal(user_id=self.ids.new(UserId), email=email)

    async def project(self) -> None:
        """Apply what is new in every stream, streams interleaved, in batches of random size."""
        pending = True
        while pending:
            pending = False
            infos = await self.store.streams()
            self._random.shuffle(infos)
            for info in infos:
                after = self._done.get(info.name, 0)
                if info.last_sequence <= after:
                    continue
                batch = await self.store.read(info.name, after_sequence=after, limit=self._random.randint(1, 4))
                apply_batch(self.db, projections(), batch)
                self._done[info.name] = batch[-1].sequence
                pending = True

    async def rebuild(self) -> apsw.Connection:
        """A new read model built from sequence 0, one stream after another."""
        db = fresh_db()
        for info in sorted(await self.store.streams(), key=lambda i: i.name):
            batch = await self.store.read(info.name, after_sequence=0, limit=READ_BATCH_MAX)
            apply_batch(db, projections(), batch)
        return db

    async def digests(self) -> tuple[str, str]:
        await self.project()
        return content_digest(self.db), content_digest(await self.rebuild())
