"""Shared fixtures: a real nats-server per test (the bundled, checksum-verified binary)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.eventstore.binary import verified_binary
from appliance.eventstore.supervisor import NatsSupervisor
from appliance.runtime.system import SystemClock


@pytest.fixture(scope="session")
def nats_binary() -> Path:
    return verified_binary()


@pytest.fixture
async def nats_server(tmp_path: Path, nats_binary: Path) -> AsyncIterator[NatsSupervisor]:
    supervisor = NatsSupervisor(data_dir=tmp_path / "data", binary=nats_binary, clock=SystemClock())
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop()
