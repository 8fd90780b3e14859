"""Live sessions in the session store (NATS KV): open, check, refresh, list and end them.

A session record (`SessionRecord`) is created at sign-in with an absolute expiry (`expires_at`,
enforced by the store's per-entry TTL) and a last-seen time; a session not seen for
`session_idle_s` is over (idle timeout) and is deleted when next presented. The last-seen time is
written back at most every `session_touch_s`, because a KV write on every request would halve the
API's request rate. Its `data` holds the rotating refresh token's record (`auth.refresh`: hashes
only), how the user signed in, and the client's address and user agent as seen at sign-in.

Every write that depends on what was read (a refresh rotation, a last-seen touch) is a
compare-and-set on the KV revision, under a per-session lock in this process, so two refreshes
of one session can never both rotate it — on one appliance or on several. Reuse of a spent
refresh token ends the whole session (someone else holds its tokens).

Ending a session deletes it from the store first (it stops working at once) and then records a
`SessionEnded` event on the sign-in aggregate for the audit trail.

This module must never accept a session past either timeout, keep a session in memory (the store
is the one authority, so a session ended by another process ends here too), or log a token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from appliance.eventstore.port import SessionRecord, SessionStore
from appliance.eventstore.workflow import Outcome
from appliance.identity.auth.refresh import (
    RefreshRecord,
    RefreshTokenInvalid,
    Reused,
    Rotated,
    issue_refresh_token,
    parse_refresh_token,
    redeem_refresh_token,
)
from appliance.identity.domain.aggregates import session_ref
from appliance.identity.domain.principals import Anonymous, Principal, UserPrincipal
from appliance.identity.domain.session import EndSession, SessionEndReason, SessionState, SignInMethod
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.store import SESSION, IdentityPorts, execute, load_ref
from appliance.kernel.clock import Clock
from appliance.kernel.errors import NotFound, Unauthenticated
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import Struct

SESSION_ENDED = "the session has ended; sign in again"
CLIENT_IP_CHARS_MAX = 64
USER_AGENT_CHARS_MAX = 200


class ClientInfo(Struct, frozen=True):
    """Where a sign-in came from, as the HTTP layer saw it (shown in the session list)."""

    ip: str
    user_agent: str = ""

    @property
    def clipped(self) -> ClientInfo:
        return ClientInfo(ip=self.ip[:CLIENT_IP_CHARS_MAX], user_agent=self.user_agent[:USER_AGENT_CHARS_MAX])


class SessionTokens(Struct, frozen=True):
    """What a successful sign-in or refresh hands to the client (the refresh token only here)."""

    user_id: UserId
    session_id: SessionId
    access_token: str
    refresh_token: str
    expires_in_s: int


class SessionView(Struct, frozen=True):
    session_id: SessionId
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    method: str
    ip: str
    user_agent: str


def view_of(record: SessionRecord) -> SessionView:
    return SessionView(
        session_id=record.session_id,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
        method=record.data.get("method", ""),
        ip=record.data.get("ip", ""),
        user_agent=record.data.get("user_agent", ""),
    )


async def open_session(
    ports: IdentityPorts,
    identity: IdentityServices,
    user_id: UserId,
    session_id: SessionId,
    method: SignInMethod,
    client: ClientInfo,
) -> SessionTokens:
    """Store a new session (after its `SignedIn` event) and issue its first tokens."""
    await _make_room(ports, identity, user_id)
    now = ports.clock.now()
    issued = issue_refresh_token(session_id)
    seen = client.clipped
    data = {**issued.record.to_session_data(), "method": method.value, "ip": seen.ip, "user_agent": seen.user_agent}
    record = SessionRecord(
        session_id=session_id,
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=identity.settings.session_absolute_s),
        data=data,
    )
    await ports.sessions.put(record)
    access = identity.tokens.issue(user_id, session_id)
    return SessionTokens(
        user_id=user_id,
        session_id=session_id,
        access_token=access.token,
        refresh_token=issued.token,
        expires_in_s=access.expires_in_s,
    )


async def _make_room(ports: IdentityPorts, identity: IdentityServices, user_id: UserId) -> None:
    """A user holds at most `sessions_per_user_max` sessions: the oldest ones end to make room."""
    live = await ports.sessions.list_for_user(user_id)
    surplus = len(live) - identity.settings.sessions_per_user_max + 1
    for record in live[: max(0, surplus)]:
        await end_session(ports, user_id, record.session_id, SessionEndReason.REVOKED, on_own_behalf(user_id))


def on_own_behalf(user_id: UserId) -> UserPrincipal:
    """The user as the actor of what the appliance does to their own sessions (making room for a new one)."""
    return UserPrincipal(user_id=user_id, email="")


def _idle(record: SessionRecord, now: datetime, identity: IdentityServices) -> bool:
    return now - record.last_seen_at >= timedelta(seconds=identity.settings.session_idle_s)


async def live_session(
    sessions: SessionStore, identity: IdentityServices, clock: Clock, user_id: UserId, session_id: SessionId
) -> SessionRecord:
    """The session if it is live (refreshing its last-seen time now and then); `Unauthenticated` if not."""
    record = await sessions.get(user_id, session_id)
    if record is None:
        raise Unauthenticated(SESSION_ENDED)
    now = clock.now()
    if _idle(record, now, identity):
        await sessions.delete(user_id, session_id)
        raise Unauthenticated(SESSION_ENDED)
    if now - record.last_seen_at < timedelta(seconds=identity.settings.session_touch_s):
        return record
    async with identity.session_locks.hold(str(session_id)):
        current = await sessions.get_versioned(user_id, session_id)
        if current is None:
            raise Unauthenticated(SESSION_ENDED)
        touched = msgspec.structs.replace(current.record, last_seen_at=now)
        # Losing the race means another writer (a refresh) just wrote a newer record: also seen.
        await sessions.replace(touched, expected_revision=current.revision)
        return touched


async def session_owner(ports: IdentityPorts, session_id: SessionId) -> UserId:
    """Whose session this is, from its sign-in record; `Unauthenticated` for a failed or ended one."""
    loaded = await load_ref(ports.store, SESSION, session_ref(session_id))
    state: SessionState | None = loaded.state
    if state is None or state.user_id is None or not state.open:
        raise Unauthenticated(SESSION_ENDED)
    return state.user_id


async def refresh_session(ports: IdentityPorts, identity: IdentityServices, presented_text: object) -> SessionTokens:
    """Rotate the refresh token; a spent one ends the whole session."""
    presented = parse_refresh_token(presented_text)
    session_id = presented.session_id
    user_id = await session_owner(ports, session_id)
    async with identity.session_locks.hold(str(session_id)):
        current = await ports.sessions.get_versioned(user_id, session_id)
        if current is None:
            raise Unauthenticated(SESSION_ENDED)
        now = ports.clock.now()
        if _idle(current.record, now, identity):
            await ports.sessions.delete(user_id, session_id)
            raise Unauthenticated(SESSION_ENDED)
        outcome = redeem_refresh_token(RefreshRecord.from_session_data(session_id, current.record.data), presented)
        if isinstance(outcome, Reused):
            await end_session(ports, user_id, session_id, SessionEndReason.REFRESH_REUSE, Anonymous())
            raise Unauthenticated("this refresh token was already used, so the session has been ended; sign in again")
        if not isinstance(outcome, Rotated):
            raise RefreshTokenInvalid("not the session's current token")
        data = {**current.record.data, **outcome.record.to_session_data()}
        rotated = msgspec.structs.replace(current.record, data=data, last_seen_at=now)
        if not await ports.sessions.replace(rotated, expected_revision=current.revision):
            raise Unauthenticated("this refresh token was just used by another request; sign in again")
    access = identity.tokens.issue(user_id, session_id)
    return SessionTokens(
        user_id=user_id,
        session_id=session_id,
        access_token=access.token,
        refresh_token=outcome.token,
        expires_in_s=access.expires_in_s,
    )


async def end_session(
    ports: IdentityPorts, user_id: UserId, session_id: SessionId, reason: SessionEndReason, principal: Principal
) -> Outcome[SessionState | None]:
    """End one session: gone from the store at once, then recorded (`NotFound` if it is not theirs)."""
    loaded = await load_ref(ports.store, SESSION, session_ref(session_id))
    state: SessionState | None = loaded.state
    if state is None or state.user_id != user_id:
        raise NotFound("session not found")
    await ports.sessions.delete(user_id, session_id)
    return await execute(
        ports, SESSION, session_ref(session_id), EndSession(session_id=session_id, reason=reason), principal
    )


async def end_user_sessions(
    ports: IdentityPorts,
    user_id: UserId,
    reason: SessionEndReason,
    principal: Principal,
    *,
    keep: SessionId | None = None,
) -> list[SessionId]:
    """End every live session of the user except `keep`; returns the ones ended."""
    ended: list[SessionId] = []
    for record in await ports.sessions.list_for_user(user_id):
        if record.session_id == keep:
            continue
        try:
            await end_session(ports, user_id, record.session_id, reason, principal)
        except NotFound:
            # A session without a sign-in record cannot be audited, but must still end.
            await ports.sessions.delete(user_id, record.session_id)
        ended.append(record.session_id)
    return ended


async def list_sessions(ports: IdentityPorts, user_id: UserId) -> list[SessionView]:
    return [view_of(record) for record in await ports.sessions.list_for_user(user_id)]
