"""The TUI's error tree and its always-on assertion.

Every failure the TUI expects from the appliance is a `TuiError`; the status screen shows it
and keeps polling, so none of these may ever end the app::

    TuiError
    ├── ApplianceUnreachable   no HTTP reply at all: refused, reset, timed out, not HTTP
    ├── ApplianceProblem       an HTTP reply with an error status (problem+json or not)
    ├── ReplyInvalid           a 2xx reply the contract does not allow: not JSON, wrong shape,
    │                          too large
    ├── SignedOut              no usable session: never signed in, signed out, or the appliance
    │                          refused both the access token and the refresh (sign in again)
    ├── AddressInvalid         the appliance URL given to the TUI is not an http(s) base URL
    └── InvariantViolation     a bug in the TUI itself: an always-on assertion failed

This module must never import Textual, httpx or anything from the appliance: the TUI talks to
the appliance only over HTTP, and the pure modules build on this one.
"""

from __future__ import annotations


class TuiError(Exception):
    """Root of every deliberate TUI failure; `message` is what the status screen shows."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApplianceUnreachable(TuiError):
    """The request got no HTTP reply; the appliance may be down, restarting or far away."""


class ApplianceProblem(TuiError):
    """The appliance answered with an error status; `status` is the HTTP status code."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        detail: str = "",
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s


class ReplyInvalid(TuiError):
    """The appliance answered 2xx with a body the contract does not allow."""


class SignedOut(TuiError):
    """There is no session the appliance accepts; the identity screens go back to the login screen."""


class AddressInvalid(TuiError, ValueError):
    """The appliance URL is unusable; raised before the app starts, never while it runs.

    It is also a `ValueError`, so the appliance's CLI can report it without importing `tui`.
    """


class InvariantViolation(TuiError):
    """A bug: an assumption the TUI relies on did not hold."""


def invariant(condition: bool, why: str) -> None:
    """Always-on assertion (not stripped by `python -O`); a failure is a bug, so it is loud."""
    if not condition:
        raise InvariantViolation(why)
