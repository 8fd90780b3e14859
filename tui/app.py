"""The Craton TUI application: key bindings, the command palette, the status screen and the
identity screens behind a sign-in.

It owns the app-wide actions (refresh, OpenAPI address, theme, quit, sign in/out, which screen is
shown) and the stylesheet. The status screen is always at the bottom of the stack and needs no
sign-in; an identity screen is opened on top of it, after the login screen when nobody is signed
in, and a session the appliance stops accepting brings the login screen back (then the screen the
person was on). It must never call `sys.exit`, print, or write to stdout/stderr (it may share the
process and the terminal with a running appliance), and never import anything from `appliance`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.commands import CratonCommands
from tui.errors import invariant
from tui.identity_api import IdentityApi
from tui.poller import Poller
from tui.screens.audit import AuditScreen
from tui.screens.identity import IdentityScreen
from tui.screens.login import LoginScreen
from tui.screens.orgs import OrgsScreen
from tui.screens.sessions import SessionsScreen
from tui.screens.status import StatusScreen
from tui.screens.users import UsersScreen
from tui.session import Session

poll_interval_s_default = 1.0
# Textual's own palette entries that we replace ("Quit") or do not want ("Screenshot" writes an
# SVG into whatever directory the appliance was started from).
_SYSTEM_COMMANDS_DROPPED = frozenset({"Quit", "Screenshot"})
IDENTITY_SCREENS: dict[str, Callable[[IdentityApi], IdentityScreen]] = {
    "users": UsersScreen,
    "orgs": OrgsScreen,
    "sessions": SessionsScreen,
    "audit": AuditScreen,
}


class CratonApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Craton"
    COMMANDS: ClassVar = App.COMMANDS | {CratonCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("o", "show_openapi", "OpenAPI"),
        Binding("s", "show('status')", "Status"),
        Binding("u", "show('users')", "Users"),
        Binding("g", "show('orgs')", "Orgs"),
        Binding("e", "show('sessions')", "Sessions"),
        Binding("a", "show('audit')", "Audit"),
        Binding("l", "sign_in_out", "Sign in/out"),
    ]

    def __init__(
        self,
        poller: Poller,
        *,
        poll_interval_s: float = poll_interval_s_default,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        invariant(poll_interval_s > 0, "the poll interval must be positive")
        super().__init__()
        self.poller = poller
        self.poll_interval_s = poll_interval_s
        self.status_screen = StatusScreen(poller, poll_interval_s=poll_interval_s)
        self.session = Session(poller.client, clock=clock)
        self.identity = IdentityApi(self.session)
        self.last_notice = ""

    def on_mount(self) -> None:
        self.show_who()
        self.push_screen(self.status_screen)

    @property
    def openapi_address(self) -> str:
        return f"{self.poller.client.base_url}/schema"

    def show_who(self) -> None:
        email = self.session.email
        self.sub_title = self.poller.client.base_url if email is None else f"{self.poller.client.base_url} · {email}"

    def action_refresh_now(self) -> None:
        self.status_screen.poll_now()

    def action_show_openapi(self) -> None:
        address = self.openapi_address
        self.copy_to_clipboard(address)
        self.tell(f"OpenAPI schema: {address} (copied to the clipboard)")

    def action_show(self, name: str) -> None:
        """Show the status screen, or an identity screen (after signing in if needed)."""
        if name == "status":
            self.back_to_status()
            return
        invariant(name in IDENTITY_SCREENS, "screen names come from the bindings and the palette")
        if self.session.signed_in:
            self.open_identity(name)
        else:
            self.ask_to_sign_in(name, reason="")

    def back_to_status(self) -> None:
        while self.screen is not self.status_screen and len(self.screen_stack) > 1:
            self.pop_screen()

    def open_identity(self, name: str) -> None:
        self.back_to_status()
        self.push_screen(IDENTITY_SCREENS[name](self.identity))

    def ask_to_sign_in(self, then: str | None, *, reason: str) -> None:
        """The login screen over the status screen; once signed in, open `then` if given."""
        self.back_to_status()

        def finished(signed_in: bool | None) -> None:
            self.show_who()
            if signed_in:
                self.tell(f"signed in as {self.session.email}")
                if then is not None:
                    self.open_identity(then)

        self.push_screen(LoginScreen(self.session, reason=reason), finished)

    async def action_sign_in_out(self) -> None:
        if not self.session.signed_in:
            self.ask_to_sign_in(None, reason="")
            return
        self.back_to_status()
        await self.session.logout()
        self.show_who()
        self.tell("signed out")

    def on_identity_screen_session_lost(self, message: IdentityScreen.SessionLost) -> None:
        name = next((key for key, kind in IDENTITY_SCREENS.items() if type(message.origin) is kind), None)
        self.show_who()
        self.ask_to_sign_in(name, reason=f"Please sign in again: {message.reason}")

    async def action_quit(self) -> None:
        # Leaving ends the session on the appliance too, so it does not linger until its idle timeout.
        await self.session.logout()
        self.exit()

    def tell(self, notice: str) -> None:
        """Show a short notice in a toast; the last one is kept for whoever asks."""
        self.last_notice = notice
        self.notify(notice, markup=False)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in _SYSTEM_COMMANDS_DROPPED:
                yield command
