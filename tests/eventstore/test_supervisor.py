"""The nats-server supervisor: its configuration, restarts with backoff, and the restart budget."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import psutil
import pytest

from appliance.eventstore import supervisor as supervisor_module
from appliance.eventstore.binary import verified_binary
from appliance.eventstore.supervisor import NatsState, NatsSupervisor
from appliance.kernel.errors import ConfigError
from appliance.runtime.system import SystemClock


async def wait_for(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling a process's state; nothing to await on
            await asyncio.sleep(0.02)


async def test_configuration_is_loopback_durable_and_private(nats_server: NatsSupervisor, tmp_path: Path) -> None:
    """The server listens on loopback only, fsyncs every write, and its secrets are 0600."""
    config = (tmp_path / "data" / "nats" / "nats.conf").read_text()
    assert 'host: "127.0.0.1"' in config
    assert 'http: "127.0.0.1:' in config
    assert 'sync_interval: "always"' in config
    for secret in (tmp_path / "data" / "nats" / "nats.conf", tmp_path / "data" / "secrets" / "nats.json"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data" / "secrets").stat().st_mode) == 0o700
    listening = {c.laddr.ip for c in psutil.Process(nats_server.pid).net_connections() if c.status == "LISTEN"}
    assert listening == {"127.0.0.1"}


async def test_killed_server_restarts_on_the_same_port(nats_server: NatsSupervisor) -> None:
    """A killed nats-server comes back on the same port (clients reconnect) and is counted."""
    port, first_pid = nats_server.url, nats_server.pid
    assert first_pid is not None
    psutil.Process(first_pid).kill()
    await wait_for(lambda: nats_server.pid not in (None, first_pid) and nats_server.state == NatsState.RUNNING)
    assert nats_server.url == port
    assert nats_server.restarts == 1


async def test_restart_budget_is_bounded(nats_server: NatsSupervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    """More crashes than the budget within the window: the supervisor gives up and says FAILED."""
    monkeypatch.setattr(supervisor_module, "RESTART_BACKOFF_S_MAX", 0.05)
    for _ in range(supervisor_module.RESTART_BUDGET_MAX + 1):
        await wait_for(
            lambda: (
                nats_server.state in (NatsState.RUNNING, NatsState.FAILED)
                and (nats_server.pid or nats_server.state == NatsState.FAILED)
            )
        )
        if nats_server.state == NatsState.FAILED:
            break
        pid = nats_server.pid
        assert pid is not None
        psutil.Process(pid).kill()
        await wait_for(lambda pid=pid: nats_server.pid != pid)
    await wait_for(lambda: nats_server.state == NatsState.FAILED)
    assert nats_server.restarts == supervisor_module.RESTART_BUDGET_MAX
    assert nats_server.pid is None


async def test_configured_port_in_use_is_refused(tmp_path: Path) -> None:
    """A configured NATS port that is taken is a ConfigError before anything starts."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        supervisor = NatsSupervisor(
            data_dir=tmp_path, binary=verified_binary(), clock=SystemClock(), port=holder.getsockname()[1]
        )
        with pytest.raises(ConfigError, match="already in use"):
            await supervisor.start()
    assert not (tmp_path / "nats").exists()


async def test_corrupt_credentials_file_is_reported(tmp_path: Path) -> None:
    """A damaged secrets/nats.json is a clear ConfigError, not a crash."""
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "nats.json").write_text("{broken")
    (tmp_path / "secrets" / "nats.json").chmod(0o600)
    supervisor = NatsSupervisor(data_dir=tmp_path, binary=verified_binary(), clock=SystemClock())
    with pytest.raises(ConfigError, match="corrupt"):
        await supervisor.start()


def test_ports_file_is_read_only_when_complete(tmp_path: Path) -> None:
    """A ports file that is missing, empty or half-written reads as 'not yet', never as an error."""
    from appliance.eventstore.supervisor import _read_ports

    path = tmp_path / "nats-server_1.ports"
    assert _read_ports(path) is None
    for partial in ("", '{"nats":["nats://127.0.0.1:4222"],"monitoring":[', '{"nats":[]}'):
        path.write_text(partial)
        assert _read_ports(path) is None
    path.write_text('{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}')
    assert _read_ports(path) == (4222, 8222)
