"""The status screen: it owns the poll loop and hands each round's view to the widgets.

One worker polls, posts a `Polled` message, then waits for the poll interval or a "refresh now",
so rounds never overlap however slow the appliance is. It must never talk HTTP itself (the
poller does) and never let anything the appliance does end the app.
"""

from __future__ import annotations

import asyncio
import contextlib

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from tui.errors import invariant
from tui.poller import Poller, StatusView
from tui.widgets.connection import ConnectionBar, ErrorBox
from tui.widgets.logs import LogPanel
from tui.widgets.overview import InstancePanel, NatsPanel, ReadinessPanel
from tui.widgets.projection import LagPanel
from tui.widgets.streams import StreamsTable


class StatusScreen(Screen[None]):
    class Polled(Message):
        """A poll round finished; `view` is everything it learned."""

        def __init__(self, view: StatusView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, poller: Poller, *, poll_interval_s: float) -> None:
        invariant(poll_interval_s > 0, "the poll interval must be positive")
        super().__init__(id="status")
        self.poller = poller
        self.poll_interval_s = poll_interval_s
        self.last_view: StatusView | None = None
        self.polls_shown = 0
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield ConnectionBar(self.poller.client.base_url, self.poll_interval_s)
        yield ErrorBox()
        with Horizontal(id="overview"):
            yield InstancePanel()
            yield NatsPanel()
            yield ReadinessPanel()
        with Horizontal(id="middle"):
            yield StreamsTable()
            yield LagPanel()
        yield LogPanel(self.poller.log.lines_max)
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._poll_forever(), name="status-poll", group="poll", exclusive=True)

    def poll_now(self) -> None:
        """Start the next round now instead of at the end of the interval."""
        self._wake.set()

    async def _poll_forever(self) -> None:
        while True:
            view = await self.poller.poll()
            self.post_message(self.Polled(view))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            self._wake.clear()

    def on_status_screen_polled(self, message: Polled) -> None:
        view = message.view
        self.query_one(ConnectionBar).show(view)
        self.query_one(ErrorBox).show(view)
        self.query_one(InstancePanel).show(view)
        self.query_one(NatsPanel).show(view)
        self.query_one(ReadinessPanel).show(view)
        self.query_one(StreamsTable).show(view)
        self.query_one(LagPanel).show(view)
        logs = self.query_one(LogPanel)
        if view.restarted:
            logs.mark_restart()
        logs.append(view.new_log_lines)
        self.last_view = view
        self.polls_shown += 1
