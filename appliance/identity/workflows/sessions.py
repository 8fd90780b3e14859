"""Live sessions in the session store (NATS KV): open, check, touch, list and end them.

A session record (`SessionRecord`) is created at sign-in with an absolute expiry (`expires_at`,
enforced by the store's per-entry TTL) and a last-seen time; a session not seen for
`session_idle_s` is over (idle timeout) and is deleted when next presented. The last-seen time is
written back at most every `session_touch_s`, because a KV write on every request would halve the
API's request rate.

This module must never accept a session past either timeout, and never keep a session in memory:
the store is the one authority, so a session ended by another process ends here too.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from appliance.eventstore.port import SessionRecord, SessionStore
from appliance.identity.services import IdentityServices
from appliance.kernel.clock import Clock
from appliance.kernel.errors import Unauthenticated
from appliance.kernel.ids import SessionId, UserId

SESSION_ENDED = "the session has ended; sign in again"


async def live_session(
    sessions: SessionStore, identity: IdentityServices, clock: Clock, user_id: UserId, session_id: SessionId
) -> SessionRecord:
    """The session if it is live (refreshing its last-seen time now and then); `Unauthenticated` if not."""
    record = await sessions.get(user_id, session_id)
    if record is None:
        raise Unauthenticated(SESSION_ENDED)
    now = clock.now()
    settings = identity.settings
    if now - record.last_seen_at >= timedelta(seconds=settings.session_idle_s):
        await sessions.delete(user_id, session_id)
        raise Unauthenticated(SESSION_ENDED)
    if now - record.last_seen_at >= timedelta(seconds=settings.session_touch_s):
        async with identity.session_locks.hold(str(session_id)):
            current = await sessions.get(user_id, session_id)
            if current is None:
                raise Unauthenticated(SESSION_ENDED)
            record = msgspec.structs.replace(current, last_seen_at=now)
            await sessions.put(record)
    return record
