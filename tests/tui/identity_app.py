"""The running TUI with the scripted identity routes, for Pilot tests of the identity screens.

Nothing here sleeps: waits process messages (`pilot.pause()`) until a condition holds, bounded so
a broken app fails instead of hanging. The monotonic clock is a number the test moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.conftest import POLL_INTERVAL_S, SIZE, pauses_max
from tests.tui.fake_appliance import BASE_URL, FakeAppliance
from tests.tui.fake_identity import ADMIN_EMAIL, PASSWORD, Directory, FakeIdentity, standard_routes
from tui.app import CratonApp
from tui.client import ApplianceClient
from tui.poller import Poller
from tui.screens.identity import IdentityScreen
from tui.screens.login import LoginScreen


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class IdentityRun:
    app: CratonApp
    pilot: Pilot[None]
    fake: FakeAppliance
    identity: FakeIdentity
    directory: Directory
    clock: Clock

    async def wait(self, condition: Callable[[], bool], what: str) -> None:
        for _ in range(pauses_max):
            if condition():
                return
            await self.pilot.pause()
        raise AssertionError(f"never saw: {what} (screen {type(self.app.screen).__name__})")

    @property
    def login(self) -> LoginScreen:
        screen = self.app.screen
        assert isinstance(screen, LoginScreen), type(screen).__name__
        return screen

    def identity_screen(self) -> IdentityScreen:
        screen = self.app.screen
        assert isinstance(screen, IdentityScreen), type(screen).__name__
        return screen

    async def type_credentials(self, email: str, password: str) -> None:
        """Fill the login form as a person would, and press enter in the password field."""
        login = self.login
        login.query_one("#login-email", Input).value = email
        await self.pilot.press("enter")  # moves to the password field
        login.query_one("#login-password", Input).value = password
        await self.pilot.press("enter")

    async def open_signed_in(self, key: str, kind: type[IdentityScreen]) -> IdentityScreen:
        """Press `key`, sign in on the login screen it brings, and wait for `kind` to show its rows."""
        await self.pilot.press(key)
        await self.wait(lambda: isinstance(self.app.screen, LoginScreen), "the login screen")
        await self.type_credentials(ADMIN_EMAIL, PASSWORD)
        return await self.shown(kind)

    async def shown(self, kind: type[IdentityScreen], loads: int = 1) -> IdentityScreen:
        await self.wait(lambda: isinstance(self.app.screen, kind), kind.__name__)
        screen = self.identity_screen()
        await self.wait(lambda: screen.loads_shown >= loads, f"{loads} load(s) of {kind.__name__}")
        return screen

    async def reload(self) -> IdentityScreen:
        screen = self.identity_screen()
        before = screen.loads_shown
        await self.pilot.press("r")
        await self.wait(lambda: screen.loads_shown > before or self.app.screen is not screen, "a reload")
        return screen

    async def act(self, screen: IdentityScreen, *keys: str, reloads: bool = True) -> None:
        """Press `keys` (an action and its dialog's answer) and wait for the outcome to be shown.

        A successful action reloads the rows; `reloads` waits for that reload as well.
        """
        outcomes, loads = screen.outcomes_shown, screen.loads_shown
        for key in keys:
            await self.pilot.press(key)
            await self.pilot.pause()
        await self.wait(lambda: screen.outcomes_shown > outcomes, "the action's outcome")
        if reloads:
            await self.wait(lambda: screen.loads_shown > loads, "the reload after the action")


async def start_identity_app() -> AsyncIterator[IdentityRun]:
    fake = FakeAppliance()
    identity = FakeIdentity()
    directory = Directory()
    standard_routes(identity, directory)
    fake.identity = identity
    clock = Clock()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        app = CratonApp(Poller(client), poll_interval_s=POLL_INTERVAL_S, clock=clock)
        async with app.run_test(size=SIZE) as pilot:
            run = IdentityRun(app, pilot, fake, identity, directory, clock)
            await run.wait(lambda: app.status_screen.polls_shown >= 1, "the first status poll")
            yield run
