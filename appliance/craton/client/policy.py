"""What the sync and async clients share: errors, the retry policy, addresses, reply checking.

This module owns the client's decisions (what may be retried, how long to wait, where to go
next) so both transports behave identically. It must never do I/O or sleep itself.

Retry rules:
- An error reply with a retryable code (1, 12, 13, 14, 15) is retried with backoff starting at
  `backoff_initial_s` and doubling up to `backoff_max_s`; NotLeader with a leader hint switches to
  that address at once.
- A connection that fails before the request was sent is retried the same way.
- A connection lost *after* a write was sent is never resent: the write may or may not have been
  applied, so the caller gets `OutcomeUnknown` and decides (reads are resent freely).
"""

from __future__ import annotations

from typing import Final

import msgspec

from appliance.craton.wire.codes import RETRYABLE_CODES, ErrorCode, code_name
from appliance.craton.wire.messages import (
    AppendEvents,
    CreateStream,
    ErrorReply,
    Execute,
    RequestBody,
    ResponseBody,
)

CONNECT_TIMEOUT_S_DEFAULT: Final = 5.0
REQUEST_TIMEOUT_S_DEFAULT: Final = 30.0
RETRIES_MAX_DEFAULT: Final = 5
BACKOFF_INITIAL_S: Final = 0.1
BACKOFF_MAX_S: Final = 5.0
_WRITES: Final = (AppendEvents, CreateStream, Execute)


class CratonClientError(Exception):
    """Root of every client failure."""


class ServerError(CratonClientError):
    """The server answered with an error reply."""

    def __init__(self, code: int, message: str, leader_hint: str | None = None) -> None:
        super().__init__(f"{code_name(code)} (code {code}): {message}")
        self.code = code
        self.message = message
        self.leader_hint = leader_hint

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class ConnectionFailed(CratonClientError):
    """No replica could be reached (or kept) within the retry budget; nothing was applied."""


class OutcomeUnknown(CratonClientError):
    """The connection dropped after a write was sent: it may or may not have been applied."""


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    retries_max: int = RETRIES_MAX_DEFAULT
    backoff_initial_s: float = BACKOFF_INITIAL_S
    backoff_max_s: float = BACKOFF_MAX_S

    def backoff_s(self, attempt: int) -> float:
        """Wait before retry number `attempt` (0-based): initial, 2×initial, 4×initial, … capped."""
        return float(min(self.backoff_initial_s * 2.0**attempt, self.backoff_max_s))


def is_write(body: RequestBody) -> bool:
    return isinstance(body, _WRITES)


def parse_address(address: str, *, listening: bool = False) -> tuple[str, int]:
    """`host:port` or `[v6]:port` to a (host, port) pair; a clear ValueError otherwise.

    Port 0 is only meaningful for an address to listen on (the system picks a free port).
    """
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"address must look like HOST:PORT, got {address!r}")
    port = int(port_text)
    lowest = 0 if listening else 1
    if not lowest <= port < 65536:
        raise ValueError(f"port must be in {lowest}..65535, got {port}")
    return host.strip("[]"), port


class Attempts:
    """The retry state of one call: which address to use next and how long to wait first."""

    def __init__(self, policy: RetryPolicy, addresses: list[str], current: int) -> None:
        self._policy = policy
        self.addresses = addresses
        self.current = current
        self.attempt = 0

    def on_error_reply(self, reply: ErrorReply) -> float:
        """Seconds to wait before retrying, or raise `ServerError` when the reply is final."""
        error = ServerError(reply.code, reply.message, reply.leader_hint)
        if not error.retryable or self.attempt >= self._policy.retries_max:
            raise error
        self.attempt += 1
        if reply.code == ErrorCode.NOT_LEADER and reply.leader_hint:
            if reply.leader_hint not in self.addresses:
                self.addresses.append(reply.leader_hint)
            hinted = self.addresses.index(reply.leader_hint)
            if hinted != self.current:
                self.current = hinted
                return 0.0
        return self._policy.backoff_s(self.attempt - 1)

    def on_connection_lost(self, reason: str, *, write_sent: bool) -> float:
        """Seconds to wait before retrying on the next address, or raise."""
        if write_sent:
            raise OutcomeUnknown(f"connection lost after the write was sent ({reason}); it may have been applied")
        if self.attempt >= self._policy.retries_max:
            raise ConnectionFailed(f"gave up after {self.attempt + 1} attempts: {reason}")
        self.attempt += 1
        self.current = (self.current + 1) % len(self.addresses)
        return self._policy.backoff_s(self.attempt - 1)


def unexpected(body: ResponseBody, wanted: str) -> CratonClientError:
    return CratonClientError(f"protocol error: expected {wanted}, got {type(body).__name__}")
