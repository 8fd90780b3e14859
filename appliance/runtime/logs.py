"""Structured logging: JSON lines to a file (and to stderr when no TUI owns the terminal), plus an
in-memory ring buffer that the API serves to the TUI.

Every line carries the request id of the request being handled, when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

from appliance.api.context import current_request_id

LOG_BUFFER_LINES_MAX = 2_000
LOG_FILE_BYTES_MAX = 10 * 1024 * 1024
LOG_FILES_KEPT = 5
_STANDARD_ATTRS = set(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {"message", "asctime"}


@dataclass(frozen=True)
class LogLine:
    seq: int
    ts: str
    level: str
    logger: str
    message: str
    request_id: str | None


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "request_id": current_request_id(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
    if record.exc_info and record.exc_info[0] is not None:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False)


class LogBuffer(logging.Handler):
    """The last `LOG_BUFFER_LINES_MAX` lines, numbered, for `GET /api/v1/instance/logs`."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=LOG_BUFFER_LINES_MAX)
        self._seq = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        fields = record_fields(record)
        extras = {
            k: v for k, v in fields.items() if k not in {"ts", "level", "logger", "message", "request_id", "exception"}
        }
        message = str(fields["message"])
        if extras:
            message += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        with self._guard:
            self._seq += 1
            self._lines.append(
                LogLine(
                    seq=self._seq,
                    ts=str(fields["ts"]),
                    level=record.levelname,
                    logger=record.name,
                    message=message,
                    request_id=current_request_id(),
                )
            )

    def after(self, seq: int, limit: int) -> list[LogLine]:
        with self._guard:
            return [line for line in self._lines if line.seq > seq][:limit]


def close_handlers() -> None:
    """Detach and close every handler `configure` installed (files are flushed and closed)."""
    root = logging.getLogger("appliance")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def configure(*, level: str, log_dir: Path | None, to_stderr: bool) -> LogBuffer:
    """Install the handlers on the `appliance` logger tree; returns the buffer for the API."""
    root = logging.getLogger("appliance")
    root.setLevel(level.upper())
    root.propagate = False
    close_handlers()
    buffer = LogBuffer()
    root.addHandler(buffer)
    if log_dir is not None:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        file_handler = RotatingFileHandler(
            log_dir / "craton.log", maxBytes=LOG_FILE_BYTES_MAX, backupCount=LOG_FILES_KEPT
        )
        file_handler.setFormatter(JsonFormatter())
        root.addHandler(file_handler)
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(JsonFormatter())
        root.addHandler(stream)
    return buffer
