"""The base of the status screen's text panels: plain text, a border title, severity classes.

It owns how a panel switches between the `-ok`/`-warn`/`-bad` and `-stale` looks that
`app.tcss` styles. It must never render appliance text as markup.
"""

from __future__ import annotations

from textual.widgets import Static

from tui.formatting import Severity

SEVERITY_CLASSES = ("-ok", "-warn", "-bad")


class Panel(Static):
    """A bordered block of plain-text lines."""

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__("…", markup=False, id=id)
        self.border_title = title

    @property
    def text(self) -> str:
        """What the panel shows now, as plain text."""
        return str(self.content)

    def show_lines(self, lines: tuple[str, ...] | list[str]) -> None:
        self.update("\n".join(lines))

    def set_severity(self, severity: Severity | None) -> None:
        """Tint the panel by how worried the reader should be; None clears the tint."""
        self.remove_class(*SEVERITY_CLASSES)
        if severity is not None:
            self.add_class(f"-{severity}")

    def set_stale(self, stale: bool) -> None:
        """Dim what is shown when it is the last known value of an appliance we cannot reach."""
        self.set_class(stale, "-stale")
