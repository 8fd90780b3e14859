"""The NATS KV adapters of the session store and one-time store ports.

Sessions live in a KV bucket where every entry carries a per-message TTL equal to the session's
remaining life; reads are served from an in-process mirror fed by the bucket's watch
(`kv_mirror`). One-time records (passkey challenges, pending OIDC logins) live in a second bucket
and are redeemed by a delete conditioned on their revision, so each is used at most once.

This module must never decide anything about identity: it stores and reads records.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api

from appliance.eventstore.jetstream import PUBLISH_TIMEOUT_S, WRONG_LAST_SEQUENCE_CODES, nats_call
from appliance.eventstore.kv_mirror import SessionMirror
from appliance.eventstore.port import (
    SessionRecord,
    VersionedSession,
    check_one_time_key,
)
from appliance.kernel.clock import Clock
from appliance.kernel.errors import InvalidInput, InvariantViolation, Unavailable
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import from_json, to_json

log = logging.getLogger("appliance.eventstore")

SESSION_BUCKET = "craton_sessions"
SESSION_BUCKET_TTL_S = 90 * 24 * 3600  # an upper bound; each entry carries its own TTL
ONE_TIME_BUCKET = "craton_pending"
ONE_TIME_BUCKET_TTL_S = 3600  # an upper bound; each record carries its own TTL
ONE_TIME_VALUE_BYTES_MAX = 16_384


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
            self._kv = await nats_call(self._js.create_key_value(config))
        return self._kv

    async def put(self, record: SessionRecord) -> None:
        remaining_s = (record.expires_at - self._clock.now()).total_seconds()
        if remaining_s < 1:
            raise InvalidInput("session already expired")
        await self._bucket()
        key = f"{record.user_id}.{record.session_id}"
        ack = await nats_call(
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
            if error.err_code in WRONG_LAST_SEQUENCE_CODES:
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
        ack = await nats_call(self._js.publish(f"$KV.{SESSION_BUCKET}.{key}", b"", headers=headers))
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
            self._kv = await nats_call(self._js.create_key_value(config))
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
            if error.err_code in WRONG_LAST_SEQUENCE_CODES:
                return None  # someone else took it first
            raise Unavailable(f"one-time store refused the delete: {error.description}") from None
        except (nats.errors.Error, OSError) as error:
            raise Unavailable(f"one-time store delete failed: {type(error).__name__}") from None
        return bytes(entry.value) if entry.value else None
