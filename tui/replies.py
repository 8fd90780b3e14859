"""The appliance's HTTP replies as frozen msgspec structs, and the one place they are decoded.

Unknown fields are tolerated on purpose: a newer appliance may add fields, and an older TUI must
still show what it understands. Enumerations the appliance may grow (NATS mode and state,
readiness status, log level) are kept as strings for the same reason; the formatting module
decides how to show values it does not know. Everything else is checked: a wrong type, a missing
required field or a negative count is a `ReplyInvalid`, never a half-filled struct.

This module must never import Textual or httpx, and never performs I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from tui.errors import ReplyInvalid

# A century: an uptime beyond it is a broken clock, not a long-lived appliance.
uptime_s_max = 100 * 365.25 * 86_400
Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=uptime_s_max)]


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every reply: frozen, keyword-only, unknown fields ignored."""


class NatsStatus(Reply, frozen=True, kw_only=True):
    mode: str
    state: str
    restarts: Count
    url: str
    pid: int | None = None


class StreamStatus(Reply, frozen=True, kw_only=True):
    name: str
    last_sequence: Count
    messages: Count
    events: Count


class ProjectionStatus(Reply, frozen=True, kw_only=True):
    lag: Count
    failed_events: Count
    lag_threshold: Count
    lag_by_stream: dict[str, Count] = msgspec.field(default_factory=dict)


class InstanceReply(Reply, frozen=True, kw_only=True):
    """`GET /api/v1/instance`."""

    instance_id: str
    name: str
    version: str
    started_at: datetime
    uptime_s: Seconds
    http_address: str
    setup_pending: bool
    nats: NatsStatus
    streams: tuple[StreamStatus, ...]
    projection: ProjectionStatus


class ReadinessCheck(Reply, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str = ""


class ReadinessReply(Reply, frozen=True, kw_only=True):
    """`GET /readyz?verbose` (200 when ready, 503 when not; both carry this body)."""

    status: str
    checks: tuple[ReadinessCheck, ...] = ()

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class LogLine(Reply, frozen=True, kw_only=True):
    seq: Count
    ts: datetime
    level: str
    logger: str
    message: str
    request_id: str | None = None


class LogPage(Reply, frozen=True, kw_only=True):
    """`GET /api/v1/instance/logs`: lines after the cursor, oldest first, and the next cursor."""

    lines: tuple[LogLine, ...]
    next: Count


class Problem(Reply, frozen=True, kw_only=True):
    """RFC 9457 problem details; every field is optional because a broken server may omit any."""

    type: str = "about:blank"
    title: str = ""
    status: int | None = None
    detail: str = ""
    code: str | None = None
    request_id: str | None = None


ReplyT = TypeVar("ReplyT", bound=Reply)


def decode_reply(body: bytes, kind: type[ReplyT], *, what: str) -> ReplyT:
    """Decode and validate `body` as `kind`; any problem is a `ReplyInvalid` naming the field."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as error:
        raise ReplyInvalid(f"{what}: unexpected reply shape: {error}") from error
    except msgspec.DecodeError as error:
        raise ReplyInvalid(f"{what}: reply is not valid JSON: {error}") from error


def decode_problem(body: bytes) -> Problem | None:
    """The problem details in an error reply, or None when the body is not a problem object."""
    try:
        return msgspec.json.decode(body, type=Problem)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
