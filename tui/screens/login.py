"""The login screen: e-mail and password, sent once to `POST /api/v1/auth/login`.

It owns the form: fields are checked before anything is sent, the password field is emptied after
every attempt, and the appliance's refusal (wrong password, rate limit with its wait, unreachable)
is shown in words. It dismisses with True once signed in, False when the person goes back. It must
never keep the password beyond the attempt, nor show it, nor talk HTTP except through the session.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from tui.errors import TuiError
from tui.formatting import clean
from tui.identity_format import describe_error
from tui.session import Session, credentials_problem, email_chars_max, password_chars_max


class LoginScreen(Screen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    class Attempted(Message):
        """A login attempt ended; `error` is None when it succeeded."""

        def __init__(self, error: str | None) -> None:
            super().__init__()
            self.error = error

    def __init__(self, session: Session, *, reason: str = "") -> None:
        super().__init__(id="login")
        self.session = session
        self.reason = reason
        self.attempts_shown = 0
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            yield Static(f"Sign in to {clean(self.session.client.base_url, 80)}", markup=False, id="login-title")
            yield Static("", markup=False, id="login-message")
            yield Input(placeholder="e-mail address", id="login-email", max_length=email_chars_max)
            yield Input(placeholder="password", password=True, id="login-password", max_length=password_chars_max)
            yield Button("Sign in", id="login-submit", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        if self.reason:
            self.show_message(self.reason, error=True)
        self.query_one("#login-email", Input).focus()

    @property
    def message_text(self) -> str:
        return str(self.query_one("#login-message", Static).content)

    def show_message(self, text: str, *, error: bool) -> None:
        message = self.query_one("#login-message", Static)
        message.update(clean(text, 300))
        message.set_class(error, "-bad")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "login-email":
            self.query_one("#login-password", Input).focus()
        else:
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login-submit":
            self.submit()

    def submit(self) -> None:
        if self.busy:
            return
        email = self.query_one("#login-email", Input).value
        password_input = self.query_one("#login-password", Input)
        problem = credentials_problem(email, password_input.value)
        if problem is not None:
            self.show_message(problem, error=True)
            return
        self.busy = True
        self.show_message("signing in …", error=False)
        self.run_worker(self._login(email, password_input.value), group="login", exclusive=True)
        # The password lives on only in the worker's call; the field never shows it again.
        password_input.value = ""

    async def _login(self, email: str, password: str) -> None:
        try:
            await self.session.login(email, password)
        except TuiError as error:
            self.post_message(self.Attempted(describe_error(error)))
            return
        self.post_message(self.Attempted(None))

    def on_login_screen_attempted(self, message: Attempted) -> None:
        self.busy = False
        self.attempts_shown += 1
        if message.error is None:
            self.dismiss(True)
            return
        self.show_message(message.error, error=True)
        self.query_one("#login-password", Input).focus()

    def action_back(self) -> None:
        self.dismiss(False)
