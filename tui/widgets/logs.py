"""The recent log lines of the appliance, appended as the poller finds new ones.

It owns turning log lines into text rows and bounding how many it keeps (`lines_max`). It must
never fetch, de-duplicate or reorder lines itself: the poller's `LogTail` already did, and doing
it twice would let the two disagree.
"""

from __future__ import annotations

from textual.widgets import Log

from tui.formatting import format_log_line
from tui.replies import LogLine

RESTART_MARK = "──── the appliance restarted ────"


class LogPanel(Log):
    def __init__(self, lines_max: int) -> None:
        super().__init__(max_lines=lines_max, highlight=False, id="logs")
        self.border_title = "recent log lines"

    def append(self, lines: tuple[LogLine, ...]) -> None:
        if lines:
            self.write_lines([format_log_line(line) for line in lines])

    def mark_restart(self) -> None:
        self.write_line(RESTART_MARK)
