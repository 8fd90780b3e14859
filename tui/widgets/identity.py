"""The parts every identity screen shares: a heading, a notice line and a table of rows.

It owns showing rows as plain text (a `Text` cell is never parsed as markup, so a display name like
`[red]x` shows as typed) and remembering which row is selected by key across reloads. It must never
fetch anything or decide what a row means; the screens do.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import clean
from tui.identity_format import Cells
from tui.widgets.panel import Panel

Row = tuple[str, Cells]
notice_chars_max = 400


class Heading(Panel):
    """The screen's title and who is signed in."""

    def __init__(self, title: str) -> None:
        super().__init__("", id="identity-heading")
        self.title_text = title
        self.show_lines([title])

    def show_user(self, email: str | None, extra: str = "") -> None:
        who = "not signed in" if email is None else f"signed in as {clean(email, 80)}"
        line = f"{self.title_text}  ·  {who}"
        if extra:
            line += f"  ·  {extra}"
        self.show_lines([line])


class NoticeBar(Panel):
    """The outcome of the last load or action: an error in red, a confirmation in green, or nothing."""

    def __init__(self) -> None:
        super().__init__("", id="identity-notice")
        self.display = False

    def show_error(self, text: str) -> None:
        self._show(f"✘ {text}", "bad")

    def show_done(self, text: str) -> None:
        self._show(f"✔ {text}", "ok")

    def clear(self) -> None:
        self.display = False
        self.show_lines([])

    def _show(self, text: str, severity: str) -> None:
        self.set_class(severity == "bad", "-bad")
        self.set_class(severity == "ok", "-ok")
        self.display = True
        self.show_lines([clean(text, notice_chars_max)])


class RowsTable(DataTable[Text]):
    """Rows keyed by the appliance's id; reloading keeps the cursor on the same key when it is still there."""

    def __init__(self, columns: tuple[tuple[str, str], ...]) -> None:
        super().__init__(id="identity-rows", cursor_type="row", zebra_stripes=True)
        self.column_spec = columns

    def on_mount(self) -> None:
        for key, label in self.column_spec:
            self.add_column(label, key=key)

    def show_rows(self, rows: list[Row]) -> None:
        selected = self.selected_key()
        self.clear()
        seen: set[str] = set()
        for key, cells in rows:
            if key in seen:
                continue  # a reply naming the same id twice shows it once
            seen.add(key)
            self.add_row(*(Text(cell) for cell in cells), key=key)
        if selected in seen:
            self.move_cursor(row=self.get_row_index(selected))

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def row_texts(self) -> list[tuple[str, ...]]:
        """The rows as shown, top to bottom (what a reader sees; used by tests)."""
        return [tuple(cell.plain for cell in self.get_row(row.key)) for row in self.ordered_rows]
