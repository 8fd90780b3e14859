"""The top row of the status screen: the instance record, NATS, and readiness with its checks.

It owns how these three replies are laid out. It must never decide reachability (the connection
bar does) and never show more than `checks_shown_max` readiness checks, failing ones first.
"""

from __future__ import annotations

from tui.formatting import (
    clean,
    format_check,
    format_duration,
    format_nats,
    format_timestamp,
    nats_severity,
)
from tui.poller import Reachability, StatusView
from tui.widgets.panel import Panel

# The overview has six lines: the status and up to five checks (or four and a 'more' line).
checks_shown_max = 5


class InstancePanel(Panel):
    def __init__(self) -> None:
        super().__init__("instance", id="instance")

    def show(self, view: StatusView) -> None:
        self.set_stale(view.reachability is Reachability.UNREACHABLE)
        instance = view.instance
        if instance is None:
            self.show_lines(["no instance reply yet"])
            return
        self.show_lines(
            [
                f"name    {clean(instance.name, 40)} {clean(instance.version, 40)}",
                f"http    {clean(instance.http_address, 80)}",
                f"uptime  {format_duration(instance.uptime_s)}",
                f"started {format_timestamp(instance.started_at)}",
                f"setup   {'pending' if instance.setup_pending else 'done'}",
                f"id      {clean(instance.instance_id, 40)}",
            ]
        )


class NatsPanel(Panel):
    def __init__(self) -> None:
        super().__init__("NATS", id="nats")

    def show(self, view: StatusView) -> None:
        self.set_stale(view.reachability is Reachability.UNREACHABLE)
        if view.instance is None:
            self.set_severity(None)
            self.show_lines(["no instance reply yet"])
            return
        nats = view.instance.nats
        self.set_severity(nats_severity(nats))
        self.show_lines(format_nats(nats))


class ReadinessPanel(Panel):
    def __init__(self) -> None:
        super().__init__("readiness", id="readiness")

    def show(self, view: StatusView) -> None:
        self.set_stale(view.reachability is Reachability.UNREACHABLE)
        readiness = view.readiness
        if readiness is None:
            self.set_severity(None)
            self.show_lines(["no readiness reply yet"])
            return
        self.set_severity("ok" if readiness.ready else "bad")
        lines = [("● " if readiness.ready else "✘ ") + clean(readiness.status, 40)]
        # Failing checks first: when the panel is too small for all, the ones that matter show.
        ordered = sorted(readiness.checks, key=lambda check: check.ok)
        shown = ordered if len(ordered) <= checks_shown_max else ordered[: checks_shown_max - 1]
        lines.extend(format_check(check) for check in shown)
        hidden = len(ordered) - len(shown)
        if hidden > 0:
            lines.append(f"… and {hidden} more checks")
        self.show_lines(lines)
