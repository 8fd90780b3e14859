"""An in-process mirror of the session KV bucket, kept current by the bucket's own change feed.

Every authenticated request checks its session; asking NATS each time costs a round trip (about
0.4 ms on the reference machine, more than the rest of a request), so `KvSessionStore.get` reads
this mirror instead. The mirror is fed by a KV watch over the whole bucket (every put, delete and
purge, from this appliance or any other one sharing the NATS), and this process's own writes are
applied to it at once, with the revision the server acknowledged, so a session this process ends
is gone from the mirror before the call that ended it returns.

Ordering: each key keeps the highest revision seen (a deleted key keeps a tombstone), and an
entry with a lower or equal revision is ignored, so a late delivery can never bring a deleted
session back. A key the mirror does not know is asked of NATS directly (it may have been created
on another appliance a moment ago). The mirror is used only while its watch is live and the client
connected; otherwise reads go to NATS. A session ended by ANOTHER appliance is seen here as soon
as the watch delivers it (milliseconds), which is the one staleness window, and it is documented.

Memory is bounded (`entries_max`); past it the mirror switches itself off and reads go to NATS.
This module must never decide whether a session is valid: it only holds what the bucket holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from appliance.eventstore.port import SessionRecord
from appliance.kernel.clock import Clock
from appliance.kernel.structs import from_json

log = logging.getLogger("appliance.eventstore")

MIRROR_ENTRIES_MAX = 200_000
PRUNE_EVERY_APPLIES = 1_000
RESTART_BACKOFF_S = 0.5
_DELETES = ("DEL", "PURGE")


class SessionMirror:
    """key → (revision, record or None for a deleted key)."""

    def __init__(self, clock: Clock, connected: Callable[[], bool], *, entries_max: int = MIRROR_ENTRIES_MAX) -> None:
        self._clock = clock
        self._connected = connected
        self._entries: dict[str, tuple[int, SessionRecord | None]] = {}
        self._entries_max = entries_max
        self._watched_revision = 0
        self._applies = 0
        self._ready = False
        self._overflowed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        return self._ready and not self._overflowed and self._connected()

    def lookup(self, key: str) -> tuple[bool, SessionRecord | None]:
        """(known, record): `known` False means ask NATS; a known None is a deleted key."""
        if not self.usable:
            return False, None
        found = self._entries.get(key)
        if found is None:
            return False, None
        return True, found[1]

    def apply(self, key: str, revision: int, record: SessionRecord | None) -> None:
        current = self._entries.get(key)
        if current is not None and current[0] >= revision:
            return
        self._entries[key] = (revision, record)
        self._applies += 1
        if self._applies % PRUNE_EVERY_APPLIES == 0:
            self._prune()
        if len(self._entries) > self._entries_max:
            log.warning("session mirror is full; reading sessions from NATS", extra={"entries": len(self._entries)})
            self._overflowed = True
            self._entries.clear()

    def _prune(self) -> None:
        now = self._clock.now()
        for key, (revision, record) in list(self._entries.items()):
            # A tombstone older than everything the watch has delivered orders nothing any more.
            stale_tombstone = record is None and revision <= self._watched_revision
            if stale_tombstone or (record is not None and record.expires_at <= now):
                del self._entries[key]

    def start(self, open_watch: Callable[[], Any]) -> None:
        self._task = asyncio.create_task(self._follow(open_watch), name="session-mirror")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._ready = False

    async def _follow(self, open_watch: Callable[[], Any]) -> None:
        while True:
            try:
                watcher = await open_watch()
                try:
                    async for entry in watcher:
                        self._on_entry(entry)
                finally:
                    with contextlib.suppress(Exception):
                        await watcher.stop()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("session mirror lost its watch; restarting", extra={"detail": str(error)})
            self._ready = False
            await asyncio.sleep(RESTART_BACKOFF_S)

    def _on_entry(self, entry: Any) -> None:
        if entry is None:  # the initial values have all been delivered
            self._ready = True
            return
        revision = int(entry.revision)
        self._watched_revision = max(self._watched_revision, revision)
        deleted = entry.operation in _DELETES or not entry.value
        record = None if deleted else from_json(entry.value, SessionRecord, what="session")
        self.apply(str(entry.key), revision, record)
