"""The shape every identity screen shares: load rows in a worker, show them, act on one, page.

A screen loads its rows with the `fetch` it was given (one page at a time, newest cursor last in
`cursors`), and runs each action (end a session, change a role…) as a worker that reloads the rows
when it succeeds. Outcomes come back as nested messages, so the widgets change only on the UI side.
A session the appliance no longer accepts is not this screen's business: `SessionLost` bubbles up
to the app, which goes back to the login screen.

It must never talk HTTP itself (the `IdentityApi` does), and never let anything the appliance does
end the app: every `TuiError` becomes a line in the notice bar.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from tui.errors import SignedOut, TuiError
from tui.identity_api import IdentityApi
from tui.identity_format import describe_error
from tui.widgets.identity import Heading, NoticeBar, Row, RowsTable

Fetched = tuple[list[Row], str | None]
Fetch = Callable[[str | None], Awaitable[Fetched]]
# Paging back keeps the cursors of the pages seen; this bounds that memory for a very long trail.
pages_kept_max = 1000


class IdentityScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        """A page of rows arrived; `next_cursor` is None on the last page."""

        def __init__(self, rows: list[Row], next_cursor: str | None) -> None:
            super().__init__()
            self.rows = rows
            self.next_cursor = next_cursor

    class Failed(Message):
        """A load (or, with `action`, a change) failed; `text` says why, in words a person can act on."""

        def __init__(self, text: str, *, action: bool) -> None:
            super().__init__()
            self.text = text
            self.action = action

    class Done(Message):
        """An action succeeded; the rows are reloaded."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class SessionLost(Message):
        """The appliance refused the session (and its refresh): the app asks for a new sign-in."""

        def __init__(self, reason: str, origin: IdentityScreen) -> None:
            super().__init__()
            self.reason = reason
            self.origin = origin

    def __init__(self, api: IdentityApi, *, title: str, columns: tuple[tuple[str, str], ...], fetch: Fetch) -> None:
        super().__init__(classes="identity")
        self.api = api
        self.title_text = title
        self.columns = columns
        self._fetch = fetch
        self.cursors: list[str | None] = [None]
        self.next_cursor: str | None = None
        self.loads_shown = 0
        self.outcomes_shown = 0
        self._keep_notice = False

    def compose(self) -> ComposeResult:
        yield Heading(self.title_text)
        yield NoticeBar()
        yield RowsTable(self.columns)
        yield Footer()

    def on_mount(self) -> None:
        self.show_heading()
        self.reload()

    @property
    def table(self) -> RowsTable:
        return self.query_one(RowsTable)

    @property
    def notice(self) -> NoticeBar:
        return self.query_one(NoticeBar)

    def show_heading(self) -> None:
        extra = ""
        if len(self.cursors) > 1 or self.next_cursor is not None:
            extra = f"page {len(self.cursors)}" + (" · n: older" if self.next_cursor is not None else "")
        self.query_one(Heading).show_user(self.api.session.email, extra)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.run_worker(self._load(self.cursors[-1]), group="identity-load", exclusive=True)

    def action_next_page(self) -> None:
        if self.next_cursor is None:
            self.notice.show_done("this is the last page")
            return
        if len(self.cursors) < pages_kept_max:
            self.cursors.append(self.next_cursor)
        else:
            self.cursors[-1] = self.next_cursor
        self.reload()

    def action_previous_page(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.reload()

    def act(self, done_text: str, call: Callable[[], Awaitable[object]]) -> None:
        """Run one change on the appliance; success reloads the rows and says `done_text`."""
        self.run_worker(self._act(done_text, call), group="identity-act", exclusive=True)

    async def _load(self, cursor: str | None) -> None:
        try:
            rows, next_cursor = await self._fetch(cursor)
        except SignedOut as error:
            self.post_message(self.SessionLost(error.message, self))
            return
        except TuiError as error:
            self.post_message(self.Failed(describe_error(error), action=False))
            return
        self.post_message(self.Loaded(rows, next_cursor))

    async def _act(self, done_text: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except SignedOut as error:
            self.post_message(self.SessionLost(error.message, self))
            return
        except TuiError as error:
            self.post_message(self.Failed(describe_error(error), action=True))
            return
        self.post_message(self.Done(done_text))

    def on_identity_screen_loaded(self, message: Loaded) -> None:
        self.table.show_rows(message.rows)
        self.next_cursor = message.next_cursor
        if not self._keep_notice:
            self.notice.clear()
        self._keep_notice = False
        self.show_heading()
        self.loads_shown += 1

    def on_identity_screen_failed(self, message: Failed) -> None:
        self.notice.show_error(message.text)
        if message.action:
            self.outcomes_shown += 1
        else:
            self.loads_shown += 1

    def on_identity_screen_done(self, message: Done) -> None:
        self.notice.show_done(message.text)
        self._keep_notice = True
        self.outcomes_shown += 1
        self.reload()
