"""Instance workflows: first-start initialisation with a one-time setup token, and renaming.

The setup token is written to `secrets/setup-token` (0600) BEFORE the instance event is appended,
so a crash in between can never leave an instance whose token nobody can read. Only the token's
SHA-256 enters the event log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from appliance.eventstore.port import PLATFORM_STREAM, EventStore, platform_subject
from appliance.eventstore.workflow import Aggregate, Loaded, Outcome, load, run_command
from appliance.files import write_secret
from appliance.instance.domain import (
    AGGREGATE_ID,
    AGGREGATE_TYPE,
    Context,
    InitialiseInstance,
    InstanceCommand,
    InstanceEvent,
    InstanceState,
    decide,
    evolve,
)
from appliance.kernel.clock import Clock
from appliance.kernel.envelope import NO_UPCASTERS, EventMeta
from appliance.kernel.errors import ConfigError, Unauthenticated
from appliance.kernel.ids import IdFactory, InstanceId

SUBJECT = platform_subject("instance", "settings", AGGREGATE_ID)
SETUP_TOKEN_FILE = "setup-token"  # noqa: S105 - a file name, not a secret
SETUP_TOKEN_BYTES = 32

INSTANCE: Aggregate[InstanceState, InstanceCommand, Context] = Aggregate(
    aggregate_type=AGGREGATE_TYPE,
    initial=InstanceState(),
    decide=decide,
    evolve=evolve,
    events=InstanceEvent,
    upcasters=NO_UPCASTERS,
)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_token_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / SETUP_TOKEN_FILE


def read_setup_token(data_dir: Path) -> str | None:
    path = setup_token_path(data_dir)
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def load_instance(store: EventStore) -> Loaded[InstanceState]:
    return await load(store, INSTANCE, SUBJECT)


async def ensure_initialised(
    store: EventStore, *, data_dir: Path, name: str, ids: IdFactory, clock: Clock
) -> tuple[InstanceState, str | None]:
    """Create the instance on first start; returns its state and the new token (None if not new)."""
    await store.ensure_stream(PLATFORM_STREAM)
    current = await load_instance(store)
    if current.state.exists:
        return current.state, None
    token = secrets.token_urlsafe(SETUP_TOKEN_BYTES)
    secrets_dir = data_dir / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_secret(setup_token_path(data_dir), (token + "\n").encode())
    outcome = await execute(
        store,
        InitialiseInstance(instance_id=ids.new(InstanceId), name=name, setup_token_sha256=token_digest(token)),
        actor="system",
        ids=ids,
        clock=clock,
    )
    return outcome.state, token


async def execute(
    store: EventStore,
    command: InstanceCommand,
    *,
    actor: str,
    ids: IdFactory,
    clock: Clock,
    correlation_id: str | None = None,
) -> Outcome[InstanceState]:
    return await run_command(
        store,
        INSTANCE,
        subject=SUBJECT,
        aggregate_id=AGGREGATE_ID,
        command=command,
        context=Context(now=clock.now()),
        meta=EventMeta(actor=actor, correlation_id=correlation_id or str(ids.new(InstanceId))),
        ids=ids,
        clock=clock,
    )


async def setup_user_registered(store: EventStore, state: InstanceState) -> bool:
    """Whether the first owner the setup token was spent for exists (the signup finished)."""
    if state.setup_user_id is None:
        return state.setup_spent
    history = await store.load(platform_subject("identity", "user", str(state.setup_user_id)))
    return history.version > 0


def check_setup_token(state: InstanceState, presented: str) -> None:
    """Before the first owner exists, the setup token is the instance administrator's credential."""
    if not state.exists:
        raise ConfigError("the instance is not initialised")
    if state.setup_spent:
        raise Unauthenticated("the setup token has been used; sign in as an instance administrator")
    if not hmac.compare_digest(token_digest(presented), state.setup_token_sha256):
        raise Unauthenticated("the bearer token is not valid")
