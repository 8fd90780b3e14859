"""The streams table: one row per JetStream stream with its event and message counts.

It owns keeping the table's rows in step with the latest reply without rebuilding it (so the
cursor and scroll position survive each poll). It must never show more than `stream_rows_max`
rows, and never crash on a reply that names the same stream twice (the first row wins).
"""

from __future__ import annotations

from textual.widgets import DataTable

from tui.formatting import clean, format_count
from tui.poller import Reachability, StatusView
from tui.replies import StreamStatus

stream_rows_max = 200
stream_name_chars_max = 48
COLUMNS = (("stream", "Stream"), ("events", "Events"), ("messages", "Messages"), ("last_seq", "Last seq"))


class StreamsTable(DataTable[str]):
    def __init__(self) -> None:
        super().__init__(id="streams", cursor_type="row", zebra_stripes=True)
        self.border_title = "streams"
        self.streams_total = 0

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, view: StatusView) -> None:
        self.set_class(view.reachability is Reachability.UNREACHABLE, "-stale")
        if view.instance is None:
            return
        wanted = self._wanted_rows(view.instance.streams)
        for row_key in list(self.rows):
            if row_key.value not in wanted:
                self.remove_row(row_key)
        present = {row_key.value for row_key in self.rows}
        for name, cells in wanted.items():
            if name in present:
                for (column, _), cell in zip(COLUMNS, cells, strict=True):
                    self.update_cell(name, column, cell)
            else:
                self.add_row(*cells, key=name)
        shown = len(wanted)
        self.streams_total = len(view.instance.streams)
        self.border_subtitle = "" if shown == self.streams_total else f"{shown} of {self.streams_total}"

    @staticmethod
    def _wanted_rows(streams: tuple[StreamStatus, ...]) -> dict[str, tuple[str, str, str, str]]:
        wanted: dict[str, tuple[str, str, str, str]] = {}
        for stream in streams:
            if len(wanted) >= stream_rows_max:
                break
            name = clean(stream.name, stream_name_chars_max)
            wanted.setdefault(
                name,
                (
                    name,
                    format_count(stream.events),
                    format_count(stream.messages),
                    format_count(stream.last_sequence),
                ),
            )
        return wanted

    def row_texts(self) -> list[tuple[str, ...]]:
        """The rows as shown, top to bottom (what a reader sees; used by tests)."""
        return [tuple(str(cell) for cell in self.get_row(row.key)) for row in self.ordered_rows]
