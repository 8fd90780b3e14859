"""Fixtures for TUI tests: a scripted appliance behind httpx's MockTransport and a running app.

Polls happen only when a test asks for them: the interval is an hour, and `poll` wakes the
status screen and waits (by processing messages, not by sleeping) until the round is shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from textual.pilot import Pilot

from tests.tui.fake_appliance import BASE_URL, FakeAppliance
from tui.app import CratonApp
from tui.client import ApplianceClient
from tui.poller import Poller

# Polls are driven by the tests; an hour means the timer never fires on its own during a test.
POLL_INTERVAL_S = 3600.0
SIZE = (100, 32)
# Each wait processes pending messages; this bounds the loop so a broken app fails, not hangs.
pauses_max = 500


@pytest.fixture
def fake() -> FakeAppliance:
    return FakeAppliance()


@dataclass
class Running:
    app: CratonApp
    pilot: Pilot[None]
    fake: FakeAppliance

    async def settle(self, polls: int) -> None:
        """Process messages until `polls` rounds have been shown on the status screen."""
        for _ in range(pauses_max):
            if self.app.status_screen.polls_shown >= polls:
                return
            await self.pilot.pause()
        raise AssertionError(f"only {self.app.status_screen.polls_shown} of {polls} polls were shown")

    async def poll(self) -> None:
        """Run one more poll round now and wait until the screen shows it."""
        target = self.app.status_screen.polls_shown + 1
        self.app.status_screen.poll_now()
        await self.settle(target)


async def start_app(fake: FakeAppliance, **poller_options: int) -> AsyncIterator[Running]:
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        app = CratonApp(Poller(client, **poller_options), poll_interval_s=POLL_INTERVAL_S)
        async with app.run_test(size=SIZE) as pilot:
            running = Running(app, pilot, fake)
            await running.settle(1)
            yield running


@pytest.fixture
async def running(fake: FakeAppliance) -> AsyncIterator[Running]:
    async for value in start_app(fake):
        yield value
