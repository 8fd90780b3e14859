"""An appliance started in-process on a temp data dir, reached over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from appliance.runtime.boot import Appliance
from appliance.runtime.config import Config


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    running = Appliance(Config(data_dir=tmp_path / "data", http="127.0.0.1:0"), log_to_stderr=False)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(appliance: Appliance) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=appliance.url, timeout=10) as http:
        yield http


@pytest.fixture
def token(appliance: Appliance) -> str:
    assert appliance.setup_token is not None
    return appliance.setup_token
