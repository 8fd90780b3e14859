"""The JetStream adapter of the event store port (nats-py).

Streams are file-backed (the server runs with `sync_interval: always`), refuse deletes and purges
(the event log is the source of truth), and de-duplicate by `Nats-Msg-Id` = the id of a commit's
first event. Optimistic concurrency uses `Nats-Expected-Last-Subject-Sequence`. The KV-backed
session and one-time stores are in `appliance.eventstore.kv`.

This module must never decide anything about the domain: it stores and reads commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api as js_api

from appliance.eventstore.port import (
    ORG_STREAM_PREFIX,
    PLATFORM_STREAM,
    SUBSCRIBE_BATCH_MAX,
    AggregateHistory,
    AppendResult,
    StoredCommit,
    StreamInfo,
    stream_of,
    stream_subjects,
)
from appliance.kernel.envelope import Commit
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput, Unavailable
from appliance.kernel.structs import from_json, to_json

log = logging.getLogger("appliance.eventstore")

PUBLISH_TIMEOUT_S = 5.0
COMMIT_BYTES_MAX = 1_000_000
SUBSCRIPTION_QUEUE_MAX = 10_000
LOAD_TIMEOUT_S = 10.0
SUBSCRIPTION_HEARTBEAT_S = 1.0  # a lost consumer (server restart) is noticed and rebuilt quickly
DUPLICATE_WINDOW_S = 120.0
HEALTH_STREAM = "CRATON_HEALTH"
WRONG_LAST_SEQUENCE_CODES = (10071, 10164)


async def connect(url: str, *, user: str | None, password: str | None) -> NatsClient:
    """Connect with unlimited quick reconnects; the supervisor brings the server back."""

    async def on_error(error: Exception) -> None:
        log.warning("nats client error", extra={"detail": str(error)})

    async def on_disconnected() -> None:
        log.warning("disconnected from nats")

    async def on_reconnected() -> None:
        log.info("reconnected to nats")

    try:
        return await nats.connect(
            servers=[url],
            user=user,
            password=password,
            name="craton-appliance",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=2,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    except (OSError, nats.errors.Error) as error:
        raise Unavailable(f"cannot connect to NATS at {url}: {error}") from None


class JetStreamEventStore:
    def __init__(self, client: NatsClient) -> None:
        self._nc = client
        self._js = client.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self._known_streams: set[str] = set()

    async def ensure_stream(self, stream: str) -> None:
        if stream in self._known_streams:
            return
        config = js_api.StreamConfig(
            name=stream,
            subjects=[stream_subjects(stream)],
            storage=js_api.StorageType.FILE,
            retention=js_api.RetentionPolicy.LIMITS,
            discard=js_api.DiscardPolicy.NEW,
            max_msg_size=COMMIT_BYTES_MAX,
            duplicate_window=DUPLICATE_WINDOW_S,
            allow_direct=True,
            deny_delete=True,
            deny_purge=True,
        )
        await nats_call(self._js.add_stream(config))
        self._known_streams.add(stream)

    async def append(self, subject: str, commit: Commit, *, expected_last_sequence: int) -> AppendResult:
        stream = stream_of(subject)
        if not commit.events:
            raise InvalidInput("a commit needs at least one event")
        payload = to_json(commit)
        if len(payload) > COMMIT_BYTES_MAX:
            raise InvalidInput(f"commit of {len(payload)} bytes exceeds {COMMIT_BYTES_MAX}")
        headers = {
            "Nats-Msg-Id": str(commit.events[0].event_id),
            "Nats-Expected-Stream": stream,
            "Nats-Expected-Last-Subject-Sequence": str(expected_last_sequence),
        }
        await self.ensure_stream(stream)
        try:
            ack = await self._js.publish(subject, payload, headers=headers)
        except nats.js.errors.APIError as error:
            if error.err_code in WRONG_LAST_SEQUENCE_CODES:
                return await self._earlier_copy_or_conflict(subject, commit, expected_last_sequence)
            raise Unavailable(f"JetStream refused the append: {error.description}") from None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"JetStream append failed: {type(error).__name__}") from None
        return AppendResult(stream=ack.stream, sequence=ack.seq, duplicate=bool(ack.duplicate))

    async def _earlier_copy_or_conflict(self, subject: str, commit: Commit, expected: int) -> AppendResult:
        """JetStream checks the expected sequence before de-duplicating, so a retry of a commit that
        already landed (its acknowledgement was lost) looks like a conflict; find it instead."""
        stream = stream_of(subject)
        first_id = commit.events[0].event_id
        for stored in await self._collect(stream, subject, (await self.load(subject)).last_sequence):
            if stored.commit.events and stored.commit.events[0].event_id == first_id:
                return AppendResult(stream=stream, sequence=stored.sequence, duplicate=True)
        raise ConcurrencyConflict(subject, expected)

    async def load(self, subject: str) -> AggregateHistory:
        stream = stream_of(subject)
        try:
            last = await self._js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return AggregateHistory(subject=subject, last_sequence=0, events=[])
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"JetStream read failed: {type(error).__name__}") from None
        last_sequence = int(last.seq or 0)
        stored = await asyncio.wait_for(self._collect(stream, subject, last_sequence), LOAD_TIMEOUT_S)
        events = [event for item in stored for event in item.commit.events]
        return AggregateHistory(subject=subject, last_sequence=last_sequence, events=events)

    async def _collect(self, stream: str, subject: str, last_sequence: int) -> list[StoredCommit]:
        found: list[StoredCommit] = []
        done = asyncio.Event()

        async def on_message(msg: Msg) -> None:
            item = _decode(stream, msg)
            if item.error is None:
                found.append(item)
            if item.sequence >= last_sequence:
                done.set()

        sub = await self._js.subscribe(
            subject,
            stream=stream,
            ordered_consumer=True,
            cb=on_message,
            deliver_policy=js_api.DeliverPolicy.ALL,
        )
        try:
            await done.wait()
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        return found

    async def read(self, stream: str, *, after_sequence: int, limit: int) -> list[StoredCommit]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        info = await nats_call(self._js.stream_info(stream))
        last = min(int(info.state.last_seq), after_sequence + limit)
        if last <= after_sequence:
            return []
        found: list[StoredCommit] = []
        iterator = self.subscribe(stream, after_sequence=after_sequence)
        try:
            async for batch in iterator:
                found.extend(item for item in batch if item.sequence <= last)
                if batch[-1].sequence >= last:
                    break
        finally:
            await iterator.aclose()
        return found

    async def subscribe(self, stream: str, *, after_sequence: int) -> AsyncGenerator[list[StoredCommit], None]:
        """Ordered-consumer replay with a callback (the fast path of nats-py), then live delivery.

        The callback only appends to a buffer; the generator hands out everything buffered as one
        batch. When the buffer is full the callback waits, which holds back the consumer (flow
        control) instead of growing memory.
        """
        buffer = _Buffer()

        async def on_message(msg: Msg) -> None:
            await buffer.put(_decode(stream, msg))

        sub = await nats_call(
            self._js.subscribe(
                stream_subjects(stream),
                stream=stream,
                ordered_consumer=True,
                cb=on_message,
                idle_heartbeat=SUBSCRIPTION_HEARTBEAT_S,
                config=js_api.ConsumerConfig(
                    deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_sequence + 1
                ),
            )
        )
        position = after_sequence
        try:
            while True:
                batch = [item for item in await buffer.take() if item.sequence > position]
                if batch:  # an ordered consumer may redeliver after it resets; drop what was seen
                    position = batch[-1].sequence
                    yield batch
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def streams(self) -> list[StreamInfo]:
        infos = await nats_call(self._js.streams_info())
        return sorted(
            (
                StreamInfo(name=i.config.name, last_sequence=int(i.state.last_seq), messages=int(i.state.messages))
                for i in infos
                if i.config.name and (i.config.name == PLATFORM_STREAM or i.config.name.startswith(ORG_STREAM_PREFIX))
            ),
            key=lambda s: s.name,
        )

    async def probe_writable(self) -> None:
        """Write one message to a tiny health stream: proves JetStream can persist right now."""
        if HEALTH_STREAM not in self._known_streams:
            await nats_call(
                self._js.add_stream(
                    js_api.StreamConfig(
                        name=HEALTH_STREAM,
                        subjects=["craton.health"],
                        storage=js_api.StorageType.FILE,
                        max_msgs_per_subject=1,
                    )
                )
            )
            self._known_streams.add(HEALTH_STREAM)
        await nats_call(self._js.publish("craton.health", b"ok", timeout=2.0))

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)


class _Buffer:
    """Commits delivered by the consumer callback and not yet handed out, bounded."""

    def __init__(self) -> None:
        self._items: list[StoredCommit] = []
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()

    async def put(self, item: StoredCommit) -> None:
        while len(self._items) >= SUBSCRIPTION_QUEUE_MAX:
            self._drained.clear()
            await self._drained.wait()
        self._items.append(item)
        self._arrived.set()

    async def take(self) -> list[StoredCommit]:
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        batch, self._items = self._items[:SUBSCRIBE_BATCH_MAX], self._items[SUBSCRIBE_BATCH_MAX:]
        self._drained.set()
        return batch


def _stream_sequence(msg: Msg) -> int:
    """The stream sequence read straight from the reply subject (nats-py's general metadata
    parser costs several microseconds a message during a replay).

    The common form is `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.
    <pending>`; any other form (with domain and account hash) goes through nats-py's parser.
    """
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    return int(msg.metadata.sequence.stream)


def _decode(stream: str, msg: Msg) -> StoredCommit:
    sequence = _stream_sequence(msg)
    try:
        commit = from_json(msg.data, Commit, what="commit")
    except InvalidInput as error:
        return StoredCommit(
            stream=stream,
            subject=msg.subject,
            sequence=sequence,
            commit=Commit(events=[]),
            error=error.message,
        )
    return StoredCommit(stream=stream, subject=msg.subject, sequence=sequence, commit=commit)


async def nats_call(awaitable: Awaitable[Any]) -> Any:
    """Await a NATS request; any NATS failure becomes `Unavailable` (the caller retries or reports)."""
    try:
        return await awaitable
    except nats.js.errors.APIError as error:
        raise Unavailable(f"JetStream API error: {error.description}") from None
    except (nats.errors.Error, OSError) as error:
        raise Unavailable(f"NATS request failed: {type(error).__name__}") from None
