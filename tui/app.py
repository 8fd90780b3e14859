"""The Craton TUI application: key bindings, the command palette and the status screen.

It owns the app-wide actions (refresh, OpenAPI address, theme, quit) and the stylesheet. It must
never call `sys.exit`, print, or write to stdout/stderr (it may share the process and the
terminal with a running appliance), and never import anything from `appliance`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.commands import CratonCommands
from tui.errors import invariant
from tui.poller import Poller
from tui.screens.status import StatusScreen

poll_interval_s_default = 1.0
# Textual's own palette entries that we replace ("Quit") or do not want ("Screenshot" writes an
# SVG into whatever directory the appliance was started from).
_SYSTEM_COMMANDS_DROPPED = frozenset({"Quit", "Screenshot"})


class CratonApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Craton"
    COMMANDS: ClassVar = App.COMMANDS | {CratonCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("o", "show_openapi", "OpenAPI"),
    ]

    def __init__(self, poller: Poller, *, poll_interval_s: float = poll_interval_s_default) -> None:
        invariant(poll_interval_s > 0, "the poll interval must be positive")
        super().__init__()
        self.poller = poller
        self.poll_interval_s = poll_interval_s
        self.status_screen = StatusScreen(poller, poll_interval_s=poll_interval_s)
        self.last_notice = ""

    def on_mount(self) -> None:
        self.sub_title = self.poller.client.base_url
        self.push_screen(self.status_screen)

    @property
    def openapi_address(self) -> str:
        return f"{self.poller.client.base_url}/schema"

    def action_refresh_now(self) -> None:
        self.status_screen.poll_now()

    def action_show_openapi(self) -> None:
        address = self.openapi_address
        self.copy_to_clipboard(address)
        self.tell(f"OpenAPI schema: {address} (copied to the clipboard)")

    def tell(self, notice: str) -> None:
        """Show a short notice in a toast; the last one is kept for whoever asks."""
        self.last_notice = notice
        self.notify(notice, markup=False)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in _SYSTEM_COMMANDS_DROPPED:
                yield command
