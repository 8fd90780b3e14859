"""The JetStream adapters of the event store and session store ports (nats-py).

Streams are file-backed (the server runs with `sync_interval: always`), refuse deletes and purges
(the event log is the source of truth), and de-duplicate by `Nats-Msg-Id` = the id of a commit's
first event. Optimistic concurrency uses `Nats-Expected-Last-Subject-Sequence`. Sessions live in
a KV bucket where every entry carries a per-message TTL equal to the session's remaining life.

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

from appliance.eventstore.kv_mirror import SessionMirror
from appliance.eventstore.port import (
    ORG_STREAM_PREFIX,
    PLATFORM_STREAM,
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
from appliance.kernel.errors import ConcurrencyConflict, InvalidInput, InvariantViolation, Unavailable
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import from_json, to_json

log = logging.getLogger("appliance.eventstore")

PUBLISH_TIMEOUT_S = 5.0
COMMIT_BYTES_MAX = 1_000_000
SUBSCRIPTION_QUEUE_MAX = 10_000
LOAD_TIMEOUT_S = 10.0
SUBSCRIPTION_HEARTBEAT_S = 1.0  # a lost consumer (server restart) is noticed and rebuilt quickly
DUPLICATE_WINDOW_S = 120.0
HEALTH_STREAM = "CRATON_HEALTH"
SESSION_BUCKET = "craton_sessions"
SESSION_BUCKET_TTL_S = 90 * 24 * 3600  # an upper bound; each entry carries its own TTL
ONE_TIME_BUCKET = "craton_pending"
ONE_TIME_BUCKET_TTL_S = 3600  # an upper bound; each record carries its own TTL
ONE_TIME_VALUE_BYTES_MAX = 16_384
_WRONG_LAST_SEQUENCE = (10071, 10164)


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
        await _call(self._js.add_stream(config))
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
            if error.err_code in _WRONG_LAST_SEQUENCE:
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
        info = await _call(self._js.stream_info(stream))
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

        sub = await _call(
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
        infos = await _call(self._js.streams_info())
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
            await _call(
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
        await _call(self._js.publish("craton.health", b"ok", timeout=2.0))

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


async def _call(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except nats.js.errors.APIError as error:
        raise Unavailable(f"JetStream API error: {error.description}") from None
    except (nats.errors.Error, OSError) as error:
        raise Unavailable(f"NATS request failed: {type(error).__name__}") from None


class KvSessionStore:
    """Sessions in a NATS KV bucket, key `<user id>.<session id>`, TTL per entry."""

    def __init__(self, client: NatsClient, clock: Clock) -> None:
        self._js = client.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self._clock = clock
        self._kv: Any = None
        self._mirror = SessionMirror(clock, lambda: bool(client.is_connected))

    async def start_mirror(self) -> None:
        """Serve reads from an in-process mirror fed by the bucket's watch (see `kv_mirror`)."""
        kv = await self._bucket()
        self._mirror.start(lambda: kv.watch(">", include_history=False))

    async def close(self) -> None:
        await self._mirror.stop()

    async def _bucket(self) -> Any:
        if self._kv is None:
            config = js_api.KeyValueConfig(
                bucket=SESSION_BUCKET,
                history=1,
                ttl=SESSION_BUCKET_TTL_S,
                storage=js_api.StorageType.FILE,
            )
            self._kv = await _call(self._js.create_key_value(config))
        return self._kv

    async def put(self, record: SessionRecord) -> None:
        remaining_s = (record.expires_at - self._clock.now()).total_seconds()
        if remaining_s < 1:
            raise InvalidInput("session already expired")
        await self._bucket()
        key = f"{record.user_id}.{record.session_id}"
        ack = await _call(
            self._js.publish(f"$KV.{SESSION_BUCKET}.{key}", to_json(record), msg_ttl=max(1, int(remaining_s)))
        )
        self._mirror.apply(key, int(ack.seq), record)

    async def get(self, user_id: UserId, session_id: SessionId) -> SessionRecord | None:
        key = f"{user_id}.{session_id}"
        known, mirrored = self._mirror.lookup(key)
        if known:
            return mirrored if mirrored is not None and mirrored.expires_at > self._clock.now() else None
        kv = await self._bucket()
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"session store read failed: {type(error).__name__}") from None
        record = self._live(entry.value)
        if record is not None:
            self._mirror.apply(key, int(entry.revision), record)
        return record

    def _live(self, value: bytes | None) -> SessionRecord | None:
        if not value:
            return None
        record = from_json(value, SessionRecord, what="session")
        return record if record.expires_at > self._clock.now() else None

    async def get_versioned(self, user_id: UserId, session_id: SessionId) -> VersionedSession | None:
        kv = await self._bucket()
        try:
            entry = await kv.get(f"{user_id}.{session_id}")
        except nats.js.errors.KeyNotFoundError:
            return None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"session store read failed: {type(error).__name__}") from None
        record = self._live(entry.value)
        return None if record is None else VersionedSession(record=record, revision=int(entry.revision))

    async def replace(self, record: SessionRecord, *, expected_revision: int) -> bool:
        remaining_s = (record.expires_at - self._clock.now()).total_seconds()
        if remaining_s < 1:
            return False
        await self._bucket()
        key = f"{record.user_id}.{record.session_id}"
        headers = {"Nats-Expected-Last-Subject-Sequence": str(expected_revision)}
        try:
            ack = await self._js.publish(
                f"$KV.{SESSION_BUCKET}.{key}", to_json(record), headers=headers, msg_ttl=max(1, int(remaining_s))
            )
        except nats.js.errors.APIError as error:
            if error.err_code in _WRONG_LAST_SEQUENCE:
                return False
            raise Unavailable(f"session store refused the write: {error.description}") from None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"session store write failed: {type(error).__name__}") from None
        self._mirror.apply(key, int(ack.seq), record)
        return True

    async def delete(self, user_id: UserId, session_id: SessionId) -> bool:
        existed = await self.get(user_id, session_id) is not None
        await self._purge(f"{user_id}.{session_id}")
        return existed

    async def _purge(self, key: str) -> None:
        """What `kv.purge` does, keeping the revision so the mirror can order it."""
        await self._bucket()
        headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}
        ack = await _call(self._js.publish(f"$KV.{SESSION_BUCKET}.{key}", b"", headers=headers))
        self._mirror.apply(key, int(ack.seq), None)

    async def list_for_user(self, user_id: UserId) -> list[SessionRecord]:
        kv = await self._bucket()
        records: list[SessionRecord] = []
        for key in await self._keys(kv, user_id):
            with contextlib.suppress(nats.js.errors.KeyNotFoundError):
                entry = await kv.get(key)
                record = self._live(entry.value)
                if record is not None:
                    records.append(record)
        return sorted(records, key=lambda r: r.created_at)

    async def delete_all_for_user(self, user_id: UserId) -> int:
        kv = await self._bucket()
        live = await self.list_for_user(user_id)
        for key in await self._keys(kv, user_id):
            await self._purge(key)
        return len(live)

    async def _keys(self, kv: Any, user_id: UserId) -> list[str]:
        """The user's keys, filtered by the server (nats-py's `keys(filters=…)` scans every key)."""
        try:
            watcher = await kv.watch(f"{user_id}.*", ignore_deletes=True, meta_only=True)
            keys: list[str] = []
            async for entry in watcher:
                if entry is None:
                    break
                keys.append(entry.key)
            await watcher.stop()
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"session store scan failed: {type(error).__name__}") from None
        return keys


class KvOneTimeStore:
    """Single-use records in a NATS KV bucket: `take` deletes with the revision it read, so only one
    taker can win, whichever appliance it runs on."""

    def __init__(self, client: NatsClient) -> None:
        self._js = client.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self._kv: Any = None

    async def _bucket(self) -> Any:
        if self._kv is None:
            config = js_api.KeyValueConfig(
                bucket=ONE_TIME_BUCKET,
                history=1,
                ttl=ONE_TIME_BUCKET_TTL_S,
                max_value_size=ONE_TIME_VALUE_BYTES_MAX,
                storage=js_api.StorageType.FILE,
            )
            self._kv = await _call(self._js.create_key_value(config))
        return self._kv

    async def put(self, key: str, value: bytes, *, ttl_s: int) -> None:
        key = check_one_time_key(key)
        if not 1 <= ttl_s <= ONE_TIME_BUCKET_TTL_S:
            raise InvalidInput(f"a one-time record lives 1 to {ONE_TIME_BUCKET_TTL_S} s")
        if len(value) > ONE_TIME_VALUE_BYTES_MAX:
            raise InvalidInput(f"a one-time record holds at most {ONE_TIME_VALUE_BYTES_MAX} bytes")
        kv = await self._bucket()
        try:
            await kv.create(key, value, msg_ttl=ttl_s)
        except nats.js.errors.KeyWrongLastSequenceError:
            raise InvariantViolation("one-time keys are never reused") from None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"one-time store write failed: {type(error).__name__}") from None

    async def take(self, key: str) -> bytes | None:
        key = check_one_time_key(key)
        kv = await self._bucket()
        try:
            entry = await kv.get(key)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"one-time store read failed: {type(error).__name__}") from None
        try:
            await kv.delete(key, last=entry.revision)
        except nats.js.errors.APIError as error:
            if error.err_code in _WRONG_LAST_SEQUENCE:
                return None  # someone else took it first
            raise Unavailable(f"one-time store refused the delete: {error.description}") from None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"one-time store delete failed: {type(error).__name__}") from None
        return bytes(entry.value) if entry.value else None
