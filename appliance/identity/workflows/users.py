"""Accounts: the workflows that change one (reads are in `projections.users_query`, re-exported here).

Writes load the user aggregate, let `decide_user` decide, append, and
then carry out what the domain's `session_sweep` says a change means for live sessions: disabling
a user ends all their sessions, a new password or a removed passkey ends all but the current one.
`set_user_status` is also what `craton admin users disable|enable` calls, with an `Operator`.

This module must never hash a password on the event loop or decide a rule itself: the domain's
`decide_user` decides, `auth.passwords` hashes (through `PasswordHashing`, in a worker thread).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.eventstore.port import AppendResult
from appliance.eventstore.workflow import Outcome
from appliance.identity.auth.passwords import check_password_policy
from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.domain.aggregates import user_ref
from appliance.identity.domain.principals import Generated, Principal
from appliance.identity.domain.session import session_sweep
from appliance.identity.domain.user_commands import ChangeDisplayName, ChangePassword, DisableUser, EnableUser
from appliance.identity.domain.user_state import UserState
from appliance.identity.projections.users_query import (
    USERS_PAGE_MAX,
    UserRow,
    UsersPage,
    list_users,
    user_row,
)
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.login import password_text
from appliance.identity.workflows.sessions import ClientInfo, end_user_sessions
from appliance.identity.workflows.store import NOTHING_GENERATED, USER, IdentityPorts, execute, load_ref
from appliance.kernel.envelope import DomainEvent
from appliance.kernel.errors import NotFound, Unauthenticated
from appliance.kernel.ids import SessionId, UserId


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


__all__ = [
    "USERS_PAGE_MAX",
    "UserChange",
    "UserRow",
    "UsersPage",
    "change_display_name",
    "change_password",
    "list_users",
    "run_user_command",
    "set_user_status",
    "user_row",
]
