"""An event store that reports how long each acknowledged append took (for `/metrics`).

It delegates every call to the store it wraps and never changes what the store does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable

from appliance.eventstore.port import AggregateHistory, AppendResult, EventStore, StoredCommit, StreamInfo
from appliance.kernel.envelope import Commit


class TimedEventStore:
    def __init__(self, inner: EventStore, observe_append_s: Callable[[float], None]) -> None:
        self._inner = inner
        self._observe = observe_append_s

    async def ensure_stream(self, stream: str) -> None:
        await self._inner.ensure_stream(stream)

    async def append(self, subject: str, commit: Commit, *, expected_last_sequence: int) -> AppendResult:
        started = time.perf_counter()
        result = await self._inner.append(subject, commit, expected_last_sequence=expected_last_sequence)
        self._observe(time.perf_counter() - started)  # acknowledged appends only
        return result

    async def load(self, subject: str) -> AggregateHistory:
        return await self._inner.load(subject)

    async def read(self, stream: str, *, after_sequence: int, limit: int) -> list[StoredCommit]:
        return await self._inner.read(stream, after_sequence=after_sequence, limit=limit)

    def subscribe(self, stream: str, *, after_sequence: int) -> AsyncGenerator[list[StoredCommit], None]:
        return self._inner.subscribe(stream, after_sequence=after_sequence)

    async def streams(self) -> list[StreamInfo]:
        return await self._inner.streams()
