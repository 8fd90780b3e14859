"""Reaching the event store of a data dir from a command-line tool.

If the appliance is running on the data dir, tools connect to its nats-server (the port is in the
server's ports file, the credentials in `secrets/nats.json`). If it is stopped, they take the data
dir's lock and start a private nats-server for the duration of the command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from appliance.eventstore import binary
from appliance.eventstore.jetstream import JetStreamEventStore, connect
from appliance.eventstore.kv import KvSessionStore
from appliance.eventstore.supervisor import NatsSupervisor, load_or_create_credentials
from appliance.kernel.errors import ConfigError
from appliance.runtime.boot import LOCK_FILE
from appliance.runtime.system import SystemClock


@dataclass
class Attached:
    store: JetStreamEventStore
    sessions: KvSessionStore  # the live sessions (NATS KV), for tools that end them
    appliance_running: bool


def appliance_running(data_dir: Path) -> bool:
    lock_path = data_dir / LOCK_FILE
    if not lock_path.exists():
        return False
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def running_nats_url(data_dir: Path) -> str:
    for ports_file in sorted((data_dir / "nats").glob("*.ports")):
        with contextlib.suppress(ValueError, KeyError, IndexError, OSError):
            return str(json.loads(ports_file.read_text())["nats"][0])
    raise ConfigError(f"the appliance on {data_dir} is running but its NATS address is unknown")


def require_initialised(data_dir: Path) -> None:
    if not (data_dir / "nats").is_dir():
        raise ConfigError(f"{data_dir} holds no appliance data (run `craton up --data-dir {data_dir}` first)")


@contextlib.asynccontextmanager
async def attach(data_dir: Path, *, exclusive: bool, nats_binary: Path | None = None) -> AsyncIterator[Attached]:
    """The event store of `data_dir`; `exclusive` refuses when the appliance is running."""
    require_initialised(data_dir)
    if appliance_running(data_dir):
        if exclusive:
            raise ConfigError(f"the appliance is running on {data_dir}; stop it first")
        user, password = load_or_create_credentials(data_dir / "secrets")
        client = await connect(running_nats_url(data_dir), user=user, password=password)
        try:
            yield Attached(
                store=JetStreamEventStore(client),
                sessions=KvSessionStore(client, SystemClock()),
                appliance_running=True,
            )
        finally:
            await client.close()
        return
    lock: IO[Any] = (data_dir / LOCK_FILE).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ConfigError(f"the appliance started on {data_dir} meanwhile; try again") from None
    supervisor = NatsSupervisor(data_dir=data_dir, binary=binary.verified_binary(nats_binary), clock=SystemClock())
    try:
        await supervisor.start()
        client = await connect(supervisor.url, user=supervisor.user, password=supervisor.password)
        try:
            yield Attached(
                store=JetStreamEventStore(client),
                sessions=KvSessionStore(client, SystemClock()),
                appliance_running=False,
            )
        finally:
            await client.close()
    finally:
        await supervisor.stop()
        lock.close()
