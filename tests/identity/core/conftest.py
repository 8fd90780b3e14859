"""Fixtures of the identity HTTP tests: `start` (an appliance with chosen identity settings) and `running`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .harness import Running, Starter, make_starter


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Starter]:
    """Start appliances with identity settings overridden as given; all are stopped after the test."""
    async with make_starter(tmp_path) as starter:
        yield starter


@pytest.fixture
async def running(start: Starter) -> Running:
    result: Running = await start()
    return result
