"""Accounts: what the API reads about users (the `users` read model) and the workflows that change one.

Reads come from the read model (`users`, `user_passkeys`, `user_identities`, projected by
`projections/users.py`); writes load the user aggregate, let `decide_user` decide, append, and
then carry out what the domain's `session_sweep` says a change means for live sessions: disabling
a user ends all their sessions, a new password or a removed passkey ends all but the current one.
`set_user_status` is also what `craton admin users disable|enable` calls, with an `Operator`.

This module must never hash a password on the event loop or decide a rule itself: the domain's
`decide_user` decides, `auth.passwords` hashes (through `PasswordHashing`, in a worker thread).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import apsw

from appliance.eventstore.port import AppendResult
from appliance.eventstore.workflow import Outcome
from appliance.identity.auth.passwords import check_password_policy
from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.domain.aggregates import user_ref
from appliance.identity.domain.principals import Generated, Principal
from appliance.identity.domain.session import session_sweep
from appliance.identity.domain.user_commands import ChangeDisplayName, ChangePassword, DisableUser, EnableUser
from appliance.identity.domain.user_state import UserState
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.login import password_text
from appliance.identity.workflows.sessions import ClientInfo, end_user_sessions
from appliance.identity.workflows.store import NOTHING_GENERATED, USER, IdentityPorts, execute, load_ref
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import InvalidInput, NotFound, Unauthenticated
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import Struct

USERS_PAGE_MAX = 200
CURSOR_CHARS_MAX = 64


class UserRow(Struct, frozen=True):
    user_id: UserId
    email: str
    display_name: str
    active: bool
    instance_admin: bool
    has_password: bool
    created_at: datetime


_COLUMNS = "user_id, email, display_name, status, instance_admin, has_password, created_at"


def _row(row: Sequence[object]) -> UserRow:
    user_id, email, display_name, status, instance_admin, has_password, created_at = row
    return UserRow(
        user_id=UserId.parse(user_id),
        email=str(email),
        display_name=str(display_name),
        active=status == "active",
        instance_admin=bool(instance_admin),
        has_password=bool(has_password),
        created_at=datetime.fromisoformat(str(created_at)),
    )


def user_row(db: apsw.Connection, user_id: UserId) -> UserRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE user_id = ?", (str(user_id),)).fetchone()  # noqa: S608 - fixed columns
    return None if row is None else _row(row)


def active_user_row(db: apsw.Connection, user_id: UserId) -> UserRow:
    """The signed-in user's row; a disabled or unknown account is `Unauthenticated`."""
    row = user_row(db, user_id)
    if row is None or not row.active:
        raise Unauthenticated("this account is disabled or no longer exists")
    return row


class UsersPage(Struct, frozen=True):
    users: list[UserRow]
    next_cursor: str | None


def encode_cursor(user_id: UserId) -> str:
    return base64.urlsafe_b64encode(user_id.bytes).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> UserId:
    """An opaque cursor from a previous page; anything else is `InvalidInput`."""
    if len(cursor) > CURSOR_CHARS_MAX:
        raise InvalidInput("cursor is not one this appliance made", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("cursor is not one this appliance made", field="cursor") from None
    if len(raw) != 16:
        raise InvalidInput("cursor is not one this appliance made", field="cursor")
    return UserId.from_int(int.from_bytes(raw, "big"))


def list_users(db: apsw.Connection, *, cursor: str | None, limit: int) -> UsersPage:
    """Users in the order they were created (ids are UUIDv7), a page at a time."""
    if not 1 <= limit <= USERS_PAGE_MAX:
        raise InvalidInput(f"limit must be from 1 to {USERS_PAGE_MAX}", field="limit")
    after = "" if cursor is None else str(decode_cursor(cursor))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",  # noqa: S608 - fixed columns
        (after, limit + 1),
    ).fetchall()
    users = [_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(users[-1].user_id) if len(rows) > limit else None
    return UsersPage(users=users, next_cursor=next_cursor)


@dataclass(frozen=True)
class UserChange:
    """What a user command did, and where its events (and the session ends it caused) landed."""

    state: UserState | None
    events: list[DomainEvent]
    appended: list[AppendResult]
    ended_sessions: list[SessionId]


async def run_user_command(
    ports: IdentityPorts,
    principal: Principal,
    command: object,
    user_id: UserId,
    *,
    current_session: SessionId | None = None,
    generated: Generated = NOTHING_GENERATED,
) -> UserChange:
    """Decide and append one user command, then end the sessions the change ends."""
    outcome: Outcome[UserState | None] = await execute(
        ports, USER, user_ref(user_id), command, principal, generated=generated
    )
    ended: list[SessionId] = []
    for event in outcome.events:
        sweep = session_sweep(event)
        if sweep is not None:
            keep = current_session if sweep.keep_current else None
            ended += await end_user_sessions(ports, user_id, sweep.reason, principal, keep=keep)
    appended = [] if outcome.append is None else [outcome.append]
    return UserChange(state=outcome.state, events=list(outcome.events), appended=appended, ended_sessions=ended)


async def change_display_name(ports: IdentityPorts, principal: Principal, user_id: UserId, name: str) -> UserChange:
    return await run_user_command(ports, principal, ChangeDisplayName(user_id=user_id, display_name=name), user_id)


async def set_user_status(ports: IdentityPorts, principal: Principal, user_id: UserId, *, enabled: bool) -> UserChange:
    """Enable or disable an account (instance administrators, or `craton admin`); disabling ends
    every session of the user at once."""
    command = EnableUser(user_id=user_id) if enabled else DisableUser(user_id=user_id)
    return await run_user_command(ports, principal, command, user_id)


async def change_password(
    ports: IdentityPorts,
    identity: IdentityServices,
    principal: Principal,
    user_id: UserId,
    current_session: SessionId,
    current_password: object,
    new_password: object,
    client: ClientInfo,
) -> UserChange:
    """The user's own change: the current password is checked (rate-limited first), the new one must
    pass the policy; every other session of the user ends."""
    user: UserState | None = (await load_ref(ports.store, USER, user_ref(user_id))).state
    if user is None:
        raise NotFound("user not found")
    normalised = check_password_policy(new_password, context=(user.email, user.display_name))
    acquire_all(
        [(identity.login_ip_limiter, f"ip:{client.ip}"), (identity.login_account_limiter, f"account:{user.email}")]
    )
    check = await identity.hashing.verify(user.password_hash, password_text(current_password))
    if not check.ok:
        raise Unauthenticated("the current password is wrong")
    password_hash = await identity.hashing.hash(normalised)
    command = ChangePassword(user_id=user_id, password_hash=password_hash)
    return await run_user_command(ports, principal, command, user_id, current_session=current_session)
