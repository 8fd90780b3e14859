"""Small modal questions the identity screens ask before changing anything: yes/no, and a role.

They own only the question and the answer (`dismiss(answer)`); they never act on the appliance.
The question's text is shown as plain text, never markup, because it quotes appliance data.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tui.formatting import clean

question_chars_max = 300


class ConfirmDialog(ModalScreen[bool]):
    """`question`? y / n (escape is no)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="dialog")
        self.question = clean(question, question_chars_max)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.question, markup=False, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class RoleDialog(ModalScreen[str | None]):
    """Pick one of `roles` for `who` (escape picks nothing)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, who: str, roles: tuple[str, ...], current: str) -> None:
        super().__init__(classes="dialog")
        self.who = clean(who, 80)
        self.roles = roles
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(f"New role for {self.who}:", markup=False, classes="dialog-question")
            yield OptionList(*(Option(role, id=role) for role in self.roles), id="roles")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.roles:
            options.highlighted = self.roles.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
