"""Fixtures of the organisation HTTP tests: an in-process appliance (real NATS, real SQLite, real
loopback HTTP, a clock the test can move) and the two-organisation world of `world.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.identity.core.harness import Running, Starter, make_starter

from .world import OrgWorld, build_world


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Starter]:
    async with make_starter(tmp_path) as starter:
        yield starter


@pytest.fixture
async def running(start: Starter) -> Running:
    result: Running = await start()
    return result


@pytest.fixture
async def world(running: Running) -> OrgWorld:
    return await build_world(running)
