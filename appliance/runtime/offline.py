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


def require_initialised(data_dir: Path, *, external_nats: bool) -> None:
    # With the embedded NATS the event store lives in `nats/`; with an external one the lock file
    # is what a started appliance leaves behind.
    marker = data_dir / (LOCK_FILE if external_nats else "nats")
    if not marker.exists():
        raise ConfigError(f"{data_dir} holds no appliance data (run `craton up --data-dir {data_dir}` first)")


@contextlib.asynccontextmanager
async def attach(
    data_dir: Path, *, exclusive: bool, nats_binary: Path | None = None, nats_url: str | None = None
) -> AsyncIterator[Attached]:
    """The event store of `data_dir`; `exclusive` refuses when the appliance is running.

    `nats_url` (the appliance's `nats_url` setting) reaches an external NATS instead of the
    embedded one."""
    require_initialised(data_dir, external_nats=nats_url is not None)
    running = appliance_running(data_dir)
    if running and exclusive:
        raise ConfigError(f"the appliance is running on {data_dir}; stop it first")
    async with _nats_client(data_dir, running=running, nats_binary=nats_binary, nats_url=nats_url) as client:
        yield Attached(
            store=JetStreamEventStore(client),
            sessions=KvSessionStore(client, SystemClock()),
            appliance_running=running,
        )


@contextlib.asynccontextmanager
async def _nats_client(
    data_dir: Path, *, running: bool, nats_binary: Path | None, nats_url: str | None
) -> AsyncIterator[Any]:
    """A NATS connection for a tool: the external server, the running appliance's, or a private one."""
    if running and nats_url is None:
        user, password = load_or_create_credentials(data_dir / "secrets")
        client = await connect(running_nats_url(data_dir), user=user, password=password)
    elif running:
        client = await connect(str(nats_url), user=None, password=None)
    else:
        client = None
    if client is not None:
        try:
            yield client
        finally:
            await client.close()
        return
    async with _stopped_appliance(data_dir, nats_binary=nats_binary, nats_url=nats_url) as client:
        yield client


@contextlib.asynccontextmanager
async def _stopped_appliance(data_dir: Path, *, nats_binary: Path | None, nats_url: str | None) -> AsyncIterator[Any]:
    """Hold the data dir's lock (so the appliance cannot start meanwhile) and reach NATS."""
    lock: IO[Any] = (data_dir / LOCK_FILE).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise ConfigError(f"the appliance started on {data_dir} meanwhile; try again") from None
    supervisor = None
    try:
        if nats_url is None:
            supervisor = NatsSupervisor(
                data_dir=data_dir, binary=binary.verified_binary(nats_binary), clock=SystemClock()
            )
            await supervisor.start()
            client = await connect(supervisor.url, user=supervisor.user, password=supervisor.password)
        else:
            client = await connect(nats_url, user=None, password=None)
        try:
            yield client
        finally:
            await client.close()
    finally:
        if supervisor is not None:
            await supervisor.stop()
        lock.close()
