"""One poll round against the appliance, folded into the view the status screen renders.

It owns what the TUI remembers between rounds: the last good instance and readiness replies, the
lag history, the log cursor, the appliance's identity (to notice a restart) and whether the
appliance is reachable. It must never import Textual, never sleep or schedule (the screen decides
when to poll), and never raise for anything the appliance does: every reply, broken or not, ends
as a `StatusView`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from tui.client import ApplianceClient, log_page_lines_max
from tui.errors import ApplianceProblem, ApplianceUnreachable, ReplyInvalid, invariant
from tui.history import LagHistory, lag_polls_max_default
from tui.logtail import LogTail, log_lines_max_default
from tui.replies import InstanceReply, LogLine, ReadinessReply

log_page_lines_default = 200
# Catching up after a burst reads a few pages per round, then yields to the next round so one
# poll never turns into an unbounded download.
log_pages_per_poll_max = 5


class Reachability(StrEnum):
    # CONNECTING is only ever shown before the first round completes; a round is either ONLINE
    # (some HTTP reply arrived for every request) or UNREACHABLE.
    CONNECTING = "connecting"
    ONLINE = "online"
    UNREACHABLE = "unreachable"


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the status screen shows after one round; `instance`/`readiness` may be stale."""

    base_url: str
    poll: int
    reachability: Reachability
    instance: InstanceReply | None
    readiness: ReadinessReply | None
    lag_samples: tuple[int, ...]
    new_log_lines: tuple[LogLine, ...]
    errors: tuple[str, ...]
    unreachable_polls: int
    unreachable_reason: str = ""
    restarted: bool = False


class Poller:
    """Runs poll rounds with one client; the caller serialises calls to `poll`."""

    def __init__(
        self,
        client: ApplianceClient,
        *,
        log_page_lines: int = log_page_lines_default,
        lag_polls_max: int = lag_polls_max_default,
        log_lines_max: int = log_lines_max_default,
    ) -> None:
        invariant(1 <= log_page_lines <= log_page_lines_max, "a log page asks for 1..500 lines")
        self.client = client
        self.log_page_lines = log_page_lines
        self.lag = LagHistory(lag_polls_max)
        self.log = LogTail(log_lines_max)
        self._polls = 0
        self._unreachable_polls = 0
        self._identity: tuple[str, datetime] | None = None
        self._instance: InstanceReply | None = None
        self._readiness: ReadinessReply | None = None

    async def poll(self) -> StatusView:
        """Ask for instance, readiness and new log lines; an unreachable appliance ends the round."""
        self._polls += 1
        errors: list[str] = []
        restarted = False
        fresh: tuple[LogLine, ...] = ()
        try:
            restarted = await self._poll_instance(errors)
            await self._poll_readiness(errors)
            fresh = await self._poll_logs(errors)
        except ApplianceUnreachable as error:
            self._unreachable_polls += 1
            return self._view(Reachability.UNREACHABLE, errors, fresh, restarted, reason=error.message)
        self._unreachable_polls = 0
        return self._view(Reachability.ONLINE, errors, fresh, restarted, reason="")

    async def _poll_instance(self, errors: list[str]) -> bool:
        try:
            instance = await self.client.instance()
        except (ApplianceProblem, ReplyInvalid) as error:
            errors.append(error.message)
            return False
        self._instance = instance
        self.lag.record(instance.projection.lag)
        identity = (instance.instance_id, instance.started_at)
        restarted = self._identity is not None and identity != self._identity
        self._identity = identity
        if restarted:
            # A restarted appliance numbers its log lines from 1 again.
            self.log.restart()
        return restarted

    async def _poll_readiness(self, errors: list[str]) -> None:
        try:
            self._readiness = await self.client.readiness()
        except (ApplianceProblem, ReplyInvalid) as error:
            errors.append(error.message)

    async def _poll_logs(self, errors: list[str]) -> tuple[LogLine, ...]:
        fresh: list[LogLine] = []
        for _ in range(log_pages_per_poll_max):
            before = self.log.after
            try:
                page = await self.client.logs(after=before, limit=self.log_page_lines)
            except (ApplianceProblem, ReplyInvalid) as error:
                errors.append(error.message)
                break
            fresh.extend(self.log.accept(page))
            # A short page means we are caught up; a cursor that did not move means the server
            # is not honouring it, and asking again would only repeat the same lines.
            if len(page.lines) < self.log_page_lines or self.log.after == before:
                break
        return tuple(fresh)

    def _view(
        self,
        reachability: Reachability,
        errors: list[str],
        fresh: tuple[LogLine, ...],
        restarted: bool,
        *,
        reason: str,
    ) -> StatusView:
        return StatusView(
            base_url=self.client.base_url,
            poll=self._polls,
            reachability=reachability,
            instance=self._instance,
            readiness=self._readiness,
            lag_samples=self.lag.samples,
            new_log_lines=fresh,
            errors=tuple(errors),
            unreachable_polls=self._unreachable_polls,
            unreachable_reason=reason,
            restarted=restarted,
        )
