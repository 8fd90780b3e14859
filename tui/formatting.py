"""How the status screen words things: counts, durations, NATS state, checks and log lines.

Every string that came from the appliance passes through `clean` before it reaches the screen,
so a hostile or broken server cannot move the cursor, switch terminal modes or reorder text with
control or bidirectional-override characters, nor push the layout apart with an endless line.
This module must never import Textual, read a clock or perform I/O; it is pure text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tui.replies import LogLine, NatsStatus, ProjectionStatus, ReadinessCheck

Severity = Literal["ok", "warn", "bad"]

text_chars_max_default = 200
log_message_chars_max = 2000
_WHITESPACE = {0x09: " ", 0x0A: " ", 0x0D: " "}
_REPLACEMENT = "\ufffd"
_CONTROL_CODES = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI_OVERRIDES = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]
_CLEAN_TABLE = {code: _WHITESPACE.get(code, _REPLACEMENT) for code in _CONTROL_CODES + _BIDI_OVERRIDES}

_NATS_SEVERITY: dict[str, Severity] = {
    "running": "ok",
    "external": "ok",
    "starting": "warn",
    "restarting": "warn",
    "failed": "bad",
}


def clean(text: str, chars_max: int = text_chars_max_default) -> str:
    """`text` made safe to show on one line: no control characters, at most `chars_max` chars."""
    safe = text.translate(_CLEAN_TABLE)
    if len(safe) > chars_max:
        return safe[: max(chars_max - 1, 0)] + "…"
    return safe


def format_count(count: int) -> str:
    return f"{count:,}"


def format_duration(seconds: float) -> str:
    """A compact uptime: `42 s`, `3m 07s`, `1h 02m 03s`, `4d 05h 06m`."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs} s"


def nats_severity(nats: NatsStatus) -> Severity:
    """How worried to look: a state this TUI does not know yet is shown, as a warning."""
    return _NATS_SEVERITY.get(nats.state, "warn")


def format_nats(nats: NatsStatus) -> tuple[str, ...]:
    """The NATS panel's lines: state and mode, URL, process id and restarts."""
    pid = "—" if nats.pid is None else str(nats.pid)
    return (
        f"{clean(nats.state, 40)} · {clean(nats.mode, 40)}",
        f"url {clean(nats.url)}",
        f"pid {pid} · restarts {format_count(nats.restarts)}",
    )


def format_timestamp(moment: datetime) -> str:
    """`2026-11-28 19:00:00Z`, in the zone the appliance sent (the TUI reads no local clock)."""
    offset = moment.utcoffset()
    zone = "Z" if offset is not None and not offset else f"{moment:%z}"
    return f"{moment:%Y-%m-%d %H:%M:%S}{zone}"


def lag_severity(projection: ProjectionStatus) -> Severity:
    if projection.failed_events > 0 or projection.lag > projection.lag_threshold:
        return "bad"
    return "warn" if projection.lag > 0 else "ok"


def format_lag(projection: ProjectionStatus) -> tuple[str, ...]:
    """The projection panel's figures under the sparkline."""
    return (
        f"lag {format_count(projection.lag)} events (threshold {format_count(projection.lag_threshold)})",
        f"failed events {format_count(projection.failed_events)}",
    )


def format_check(check: ReadinessCheck) -> str:
    mark = "✔" if check.ok else "✘"
    return f"{mark} {clean(check.name, 24)}: {clean(check.detail)}"


def format_log_line(line: LogLine) -> str:
    """One log line as `HH:MM:SS LEVEL logger: message (request id)`, in the line's own zone."""
    text = f"{line.ts:%H:%M:%S} {clean(line.level, 8):<8} {clean(line.logger, 40)}: "
    text += clean(line.message, log_message_chars_max)
    if line.request_id:
        text += f" (request {clean(line.request_id, 40)})"
    return text
