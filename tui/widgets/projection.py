"""The projection area: lag over the last polls as a sparkline, and the current figures.

It owns drawing the lag history the poller keeps; it must never keep its own history (the
poller's `LagHistory` is the only one, so the sparkline and the figures cannot disagree).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline

from tui.formatting import format_count, format_lag, lag_severity
from tui.poller import Reachability, StatusView
from tui.widgets.panel import SEVERITY_CLASSES, Panel


class LagPanel(Vertical):
    def __init__(self) -> None:
        super().__init__(id="projection")
        self.border_title = "projection lag"

    def compose(self) -> ComposeResult:
        yield Sparkline([], id="lag-sparkline")
        yield Panel("", id="lag-figures")

    @property
    def sparkline(self) -> Sparkline:
        return self.query_one("#lag-sparkline", Sparkline)

    @property
    def figures(self) -> Panel:
        return self.query_one("#lag-figures", Panel)

    def show(self, view: StatusView) -> None:
        self.set_class(view.reachability is Reachability.UNREACHABLE, "-stale")
        self.sparkline.data = [float(sample) for sample in view.lag_samples]
        if view.instance is None:
            self.figures.show_lines(["no instance reply yet"])
            return
        projection = view.instance.projection
        self.remove_class(*SEVERITY_CLASSES)
        self.add_class(f"-{lag_severity(projection)}")
        peak = max(view.lag_samples, default=0)
        samples = len(view.lag_samples)
        window = "the last poll" if samples == 1 else f"the last {samples} polls"
        lines = [*format_lag(projection), f"peak {format_count(peak)} over {window}"]
        self.figures.show_lines(lines)
