"""The Sessions screen: the signed-in user's live sessions, and ending one.

It owns the list of `GET /api/v1/auth/sessions` and ending the selected session after a yes/no
question (ending the current one signs this TUI out, which the question says). It must never end a
session without that confirmation.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from tui.identity_api import IdentityApi
from tui.identity_format import SESSION_COLUMNS, session_cells
from tui.identity_replies import SessionSummary
from tui.screens.dialogs import ConfirmDialog
from tui.screens.identity import Fetched, IdentityScreen


class SessionsScreen(IdentityScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "end_session", "End session")]

    def __init__(self, api: IdentityApi) -> None:
        super().__init__(api, title="Sessions", columns=SESSION_COLUMNS, fetch=self.fetch_sessions)
        self.sessions: dict[str, SessionSummary] = {}

    async def fetch_sessions(self, cursor: str | None) -> Fetched:
        sessions = await self.api.sessions()
        self.sessions = {session.session_id: session for session in sessions}
        return [(session.session_id, session_cells(session)) for session in sessions], None

    def action_end_session(self) -> None:
        session = self.sessions.get(self.table.selected_key() or "")
        if session is None:
            return
        question = "End this session? You will have to sign in again." if session.current else "End this session?"

        def answered(yes: bool | None) -> None:
            if yes:
                self.act("session ended", lambda: self.api.end_session(session.session_id))

        self.app.push_screen(ConfirmDialog(question), answered)
