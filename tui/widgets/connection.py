"""The top of the status screen: which appliance we poll, whether it answers, and what failed.

It owns the one place where "unreachable" is said loudly. It must never hide an error the
poller reported, and never show more than `errors_shown_max` of them (the rest are counted).
"""

from __future__ import annotations

from tui.formatting import clean, format_duration
from tui.poller import Reachability, StatusView
from tui.widgets.panel import Panel

errors_shown_max = 3
error_chars_max = 300


class ConnectionBar(Panel):
    """One or two lines: reachability, the address we poll, the instance and its uptime."""

    def __init__(self, base_url: str, poll_interval_s: float) -> None:
        super().__init__("", id="connection")
        self.base_url = base_url
        self.poll_interval_s = poll_interval_s
        self.reachability = Reachability.CONNECTING
        self.show_lines([f"◌ connecting to {base_url} …"])

    def show(self, view: StatusView) -> None:
        self.reachability = view.reachability
        for state in Reachability:
            self.set_class(view.reachability is state, f"-{state.value}")
        if view.reachability is Reachability.UNREACHABLE:
            self.show_lines(self._unreachable_lines(view))
        else:
            self.show_lines(self._online_lines(view))

    def _online_lines(self, view: StatusView) -> list[str]:
        line = f"● online  {view.base_url}"
        if view.instance is not None:
            instance = view.instance
            line += f"  ·  {clean(instance.name, 40)} {clean(instance.version, 20)}"
            line += f"  ·  up {format_duration(instance.uptime_s)}"
        lines = [line]
        if view.instance is not None and view.instance.setup_pending:
            lines.append("setup pending · one-time token: craton admin setup-token")
        return lines

    def _unreachable_lines(self, view: StatusView) -> list[str]:
        every = f"{self.poll_interval_s:g} s"
        return [
            f"✘ UNREACHABLE  {view.base_url}  ·  retrying every {every} "
            f"({view.unreachable_polls} failed poll{'s' if view.unreachable_polls != 1 else ''})",
            clean(view.unreachable_reason, error_chars_max),
        ]


class ErrorBox(Panel):
    """The errors of the last poll round (bad replies, problem+json); hidden when there are none."""

    def __init__(self) -> None:
        super().__init__("errors", id="errors")
        self.errors: tuple[str, ...] = ()
        self.display = False

    def show(self, view: StatusView) -> None:
        self.errors = view.errors
        self.display = bool(view.errors)
        lines = [f"✘ {clean(error, error_chars_max)}" for error in view.errors[:errors_shown_max]]
        hidden = len(view.errors) - errors_shown_max
        if hidden > 0:
            lines.append(f"… and {hidden} more")
        self.show_lines(lines)
