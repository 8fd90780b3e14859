"""The Users screen (instance administrators): every account, and enabling or disabling one.

It owns the list of `GET /api/v1/admin/users` (paged with the appliance's cursor) and the toggle,
asked for with a yes/no question first. Someone who is not an instance administrator sees the
appliance's 403 in the notice bar. It must never change an account without that confirmation.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from tui.identity_api import IdentityApi
from tui.identity_format import USER_COLUMNS, user_cells
from tui.identity_replies import UserSummary
from tui.screens.dialogs import ConfirmDialog
from tui.screens.identity import Fetched, IdentityScreen


class UsersScreen(IdentityScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "toggle_user", "Enable/disable"),
        Binding("n", "next_page", "Next page"),
        Binding("p", "previous_page", "Previous page"),
    ]

    def __init__(self, api: IdentityApi) -> None:
        super().__init__(api, title="Users", columns=USER_COLUMNS, fetch=self.fetch_users)
        self.users: dict[str, UserSummary] = {}

    async def fetch_users(self, cursor: str | None) -> Fetched:
        users, next_cursor = await self.api.users(cursor)
        self.users = {user.user_id: user for user in users}
        return [(user.user_id, user_cells(user)) for user in users], next_cursor

    def action_toggle_user(self) -> None:
        key = self.table.selected_key()
        user = self.users.get(key or "")
        if user is None:
            return
        verb = "Enable" if user.disabled else "Disable"
        question = f"{verb} {user.email}?"
        if not user.disabled:
            question += " This ends all of their sessions."

        def answered(yes: bool | None) -> None:
            if yes:
                enable = user.disabled
                self.act(
                    f"{user.email} {'enabled' if enable else 'disabled'}",
                    lambda: self.api.set_user_enabled(user.user_id, enabled=enable),
                )

        self.app.push_screen(ConfirmDialog(question), answered)
