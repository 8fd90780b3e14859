"""Following the appliance's log: the cursor, de-duplication and the bounded recent lines.

The logs endpoint returns lines with `seq > after`, oldest first, and the `next` cursor. This
module turns a sequence of such pages into lines that are each shown exactly once and in order,
even when a page repeats lines, arrives out of order, or the server ignores the cursor. It must
never import Textual or perform I/O; the poller fetches, this module decides what is new.
"""

from __future__ import annotations

from collections import deque

from tui.errors import invariant
from tui.replies import LogLine, LogPage

log_lines_max_default = 1000


class LogTail:
    """The cursor into the appliance's log and the last `lines_max` lines seen, oldest first."""

    def __init__(self, lines_max: int = log_lines_max_default) -> None:
        invariant(lines_max > 0, "a log tail keeps at least one line")
        self.lines_max = lines_max
        self.after = 0
        self._lines: deque[LogLine] = deque(maxlen=lines_max)

    def accept(self, page: LogPage) -> tuple[LogLine, ...]:
        """Record `page` and return only the lines not seen before, in `seq` order."""
        fresh: dict[int, LogLine] = {}
        for line in page.lines:
            # The first copy of a repeated seq wins, so a duplicate inside one page is dropped too.
            if line.seq > self.after and line.seq not in fresh:
                fresh[line.seq] = line
        ordered = tuple(fresh[seq] for seq in sorted(fresh))
        before = self.after
        self.after = max(self.after, page.next, ordered[-1].seq if ordered else 0)
        self._lines.extend(ordered)
        invariant(self.after >= before, "the log cursor never moves backwards within one run")
        return ordered

    def restart(self) -> None:
        """The appliance restarted and numbers its lines from the start again; keep what we saw."""
        self.after = 0

    @property
    def lines(self) -> tuple[LogLine, ...]:
        return tuple(self._lines)
