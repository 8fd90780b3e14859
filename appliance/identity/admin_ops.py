"""What `craton admin` does to identity, on an attached data dir (appliance running or stopped).

Everything here reads the event store itself, never the read model: the read model of a stopped
appliance is only as fresh as its last run (events appended by an earlier admin command are not
projected yet), while the events are always the truth. Changes go through the same workflows the
API uses, with the `Operator` principal (someone with the data dir is trusted with everything on
it, and the audit trail names them as `operator:<login name>`).

It owns: naming a user by e-mail or id (`parse_who`, checked before anything is attached),
finding and listing accounts, finding the organisation of an API key, and rotating the
token-signing keys. It must never act on a data dir another OS user owns, write to the read model,
hash a password, choose a user's password, or print anything (the CLI does the talking).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from appliance.eventstore.port import ORG_STREAM_PREFIX, PLATFORM_STREAM, EventStore, StoredCommit
from appliance.identity.auth.keys import Keyring, keys_dir_for
from appliance.identity.auth.tokens import AccessTokenConfig
from appliance.identity.domain.aggregates import AggregateKind, user_ref
from appliance.identity.domain.events import decode_event
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.principals import Operator
from appliance.identity.domain.session import SessionEndReason
from appliance.identity.domain.user_events import UserEvent
from appliance.identity.domain.user_state import UserState, evolve_user
from appliance.identity.domain.validation import normalise_email
from appliance.identity.services import ACCESS_TOKEN_AUDIENCE, IdentitySettings
from appliance.identity.workflows.apikeys import revoke_api_key
from appliance.identity.workflows.login import user_by_email
from appliance.identity.workflows.orgs import load_org
from appliance.identity.workflows.password_reset import IssuedReset, issue_password_reset
from appliance.identity.workflows.sessions import end_user_sessions
from appliance.identity.workflows.store import USER, IdentityPorts, load_ref
from appliance.identity.workflows.users import set_user_status
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, InvalidInput, NotFound
from appliance.kernel.ids import OrgId, UserId
from appliance.runtime.config import Config
from appliance.runtime.offline import attach, require_initialised
from appliance.runtime.system import SystemClock, Uuid7Ids

T = TypeVar("T")

READ_BATCH_COMMITS_MAX = 500
# One admin listing reads at most this many PLATFORM commits; a log beyond it is refused with a
# clear message rather than read for minutes (sign-in records make PLATFORM the busiest stream).
PLATFORM_COMMITS_SCANNED_MAX = 5_000_000
USER_SUBJECT_PREFIX = f"platform.identity.{AggregateKind.USER.value}."


def operator() -> Operator:
    """The person running `craton admin`, as the audit trail will name them."""
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = f"uid-{os.geteuid()}"
    return Operator(name=name)


Who = str | UserId  # a normalised e-mail address, or a user id


def parse_who(text: str) -> Who:
    """An account named on the command line: an e-mail address (normalised) or a user id."""
    stripped = text.strip()
    if "@" in stripped:
        return normalise_email(stripped, field="user")
    try:
        return UserId.parse(stripped)
    except InvalidInput:
        raise InvalidInput(f"{text[:80]!r} is neither an e-mail address nor a user id", field="user") from None


async def find_user(ports: IdentityPorts, who: Who) -> UserState:
    """The account named by `who`; `NotFound` when there is none."""
    if isinstance(who, str):
        state = await user_by_email(ports, who)
        if state is None:
            raise NotFound(f"no user with the e-mail address {who}")
        return state
    found: UserState | None = (await load_ref(ports.store, USER, user_ref(who))).state
    if found is None:
        raise NotFound(f"no user with the id {who}")
    return found


async def list_users(store: EventStore) -> list[UserState]:
    """Every account ever registered (disabled ones too), oldest first, folded from the events."""
    users: dict[str, UserState | None] = {}
    async for commit in _platform_commits(store):
        if not commit.subject.startswith(USER_SUBJECT_PREFIX) or commit.error is not None:
            continue
        key = commit.subject.removeprefix(USER_SUBJECT_PREFIX)
        state = users.get(key)
        for envelope in commit.commit.events:
            event = decode_event(envelope)
            if isinstance(event, UserEvent):
                state = evolve_user(state, event)
        users[key] = state
    found = [state for state in users.values() if state is not None]
    return sorted(found, key=lambda state: (state.created_at, str(state.user_id)))


async def _platform_commits(store: EventStore) -> AsyncIterator[StoredCommit]:
    """The PLATFORM stream's commits as they are now, read in bounded batches."""
    infos = {info.name: info.last_sequence for info in await store.streams()}
    last = infos.get(PLATFORM_STREAM, 0)
    if last > PLATFORM_COMMITS_SCANNED_MAX:
        raise InvalidInput(f"the PLATFORM stream holds {last} commits, more than an admin listing reads")
    after = 0
    while after < last:
        batch = await store.read(PLATFORM_STREAM, after_sequence=after, limit=READ_BATCH_COMMITS_MAX)
        if not batch:
            return
        for commit in batch:
            yield commit
        after = batch[-1].sequence


async def find_api_key_org(store: EventStore, api_key_id: ApiKeyId) -> OrgId:
    """The organisation that issued the key, found in the organisations' own streams."""
    for org_id in _org_ids(info.name for info in await store.streams()):
        state = (await load_org(store, org_id)).state
        if state is not None and api_key_id in state.api_keys:
            return org_id
    raise NotFound(f"no API key with the id {api_key_id}")


def _org_ids(stream_names: Iterable[str]) -> list[OrgId]:
    ids: list[OrgId] = []
    for name in stream_names:
        if name.startswith(ORG_STREAM_PREFIX):
            try:
                ids.append(OrgId.parse(name.removeprefix(ORG_STREAM_PREFIX)))
            except InvalidInput:
                continue  # a stream someone else made on a shared NATS; not an organisation of ours
    return ids


@dataclass(frozen=True)
class Rotation:
    active_kid: str
    kids: tuple[str, ...]  # every key on file after the rotation, newest (active) first


def rotate_keys(data_dir: Path, settings: IdentitySettings, clock: Clock) -> Rotation:
    """A new active signing key; older keys keep verifying until the tokens they signed expire.

    A running appliance picks the new key up by itself (its keyring rescans the folder).
    """
    retain_s = AccessTokenConfig(
        issuer="craton", audience=ACCESS_TOKEN_AUDIENCE, ttl_s=settings.access_token_ttl_s
    ).key_retain_s
    keyring = Keyring.open(keys_dir_for(data_dir), clock, retain_s=retain_s)
    active = keyring.rotate()
    return Rotation(active_kid=active.kid, kids=keyring.kids())


@dataclass(frozen=True)
class StatusChange:
    user: UserState  # after the change
    changed: bool  # False when the account already had that status
    sessions_ended: int


@dataclass(frozen=True)
class KeyRevocation:
    api_key_id: ApiKeyId
    org_id: OrgId
    changed: bool  # False when the key was already revoked


@dataclass(frozen=True)
class Admin:
    """The attached data dir's ports, and the operator acting on them."""

    ports: IdentityPorts
    principal: Operator

    async def list_users(self) -> list[UserState]:
        return await list_users(self.ports.store)

    async def set_user_enabled(self, who: Who, *, enabled: bool) -> StatusChange:
        user = await find_user(self.ports, who)
        change = await set_user_status(self.ports, self.principal, user.user_id, enabled=enabled)
        return StatusChange(
            user=change.state or user, changed=bool(change.events), sessions_ended=len(change.ended_sessions)
        )

    async def revoke_sessions(self, who: Who) -> tuple[UserState, int]:
        user = await find_user(self.ports, who)
        ended = await end_user_sessions(self.ports, user.user_id, SessionEndReason.REVOKED, self.principal)
        return user, len(ended)

    async def revoke_all_sessions(self) -> tuple[int, int]:
        """End every live session of every account; returns (accounts, sessions ended)."""
        users = await list_users(self.ports.store)
        ended = 0
        for user in users:
            ended += len(await end_user_sessions(self.ports, user.user_id, SessionEndReason.REVOKED, self.principal))
        return len(users), ended

    async def issue_password_reset(self, who: Who, *, ttl_s: int) -> IssuedReset:
        user = await find_user(self.ports, who)
        return await issue_password_reset(self.ports, self.principal, user.user_id, ttl_s=ttl_s)

    async def revoke_api_key(self, api_key_id: ApiKeyId) -> KeyRevocation:
        org_id = await find_api_key_org(self.ports.store, api_key_id)
        change = await revoke_api_key(self.ports, org_id, self.principal, api_key_id)
        return KeyRevocation(api_key_id=api_key_id, org_id=org_id, changed=bool(change.events))


def require_data_dir_owner(data_dir: Path, *, euid: int | None = None, external_nats: bool = False) -> None:
    """Refuse to act on a data dir someone else owns (the service runs as its own user).

    A command run as root on the `craton` user's data dir would leave root-owned JetStream files
    or keys behind, which the appliance could then no longer read or would refuse.
    """
    require_initialised(data_dir, external_nats=external_nats)
    owner = data_dir.stat().st_uid
    me = os.geteuid() if euid is None else euid
    if owner != me:
        raise ConfigError(
            f"{data_dir} belongs to uid {owner}, not to this user ({me}); run craton admin as its owner "
            f"(for example `sudo -u '#{owner}' craton admin …`) so that nothing it writes changes hands"
        )


async def with_admin(config: Config, work: Callable[[Admin], Awaitable[T]]) -> T:
    """Attach to the data dir (running appliance or not), run `work`, detach."""
    require_data_dir_owner(config.data_dir, external_nats=config.nats_url is not None)
    async with attach(
        config.data_dir, exclusive=False, nats_binary=config.nats_binary, nats_url=config.nats_url
    ) as attached:
        ports = IdentityPorts(store=attached.store, sessions=attached.sessions, clock=SystemClock(), ids=Uuid7Ids())
        return await work(Admin(ports=ports, principal=operator()))


def rotate_keys_of(config: Config) -> Rotation:
    require_data_dir_owner(config.data_dir, external_nats=config.nats_url is not None)
    return rotate_keys(config.data_dir, config.identity, SystemClock())
