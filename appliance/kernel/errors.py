"""The one error tree of the appliance.

Every failure the control plane raises on purpose is a `CratonError`. Callers decide what to do
by branch, never by message text, and the HTTP layer maps branches to statuses in exactly one
place (`appliance.api.problems`)::

    CratonError
    ├── Rejected              the caller's fault: retrying the same request cannot succeed (4xx)
    │   ├── InvalidInput      malformed or out-of-range input, with the offending field
    │   ├── Unauthenticated   no credentials, or credentials that do not verify
    │   ├── Forbidden         authenticated, but the role lacks the permission
    │   ├── NotFound          absent, or belonging to another tenant (never say which)
    │   ├── AlreadyExists     a uniqueness rule would be broken
    │   ├── PreconditionFailed  the aggregate is not in a state that allows the command
    │   └── RateLimited       too many attempts; carries retry_after_s
    ├── Conflict              transient: the same request may succeed when retried
    │   └── ConcurrencyConflict  another writer appended to the aggregate first
    └── Fault                 the environment failed (5xx); never the caller's fault
        ├── Unavailable       a dependency (NATS, disk) is down or not ready
        ├── ConfigError       configuration or installation is broken; startup refuses
        └── InvariantViolation  a bug: an always-on assertion failed

This module must never import anything outside the standard library: it is the root of the tree.
"""

from __future__ import annotations


class CratonError(Exception):
    """Root of every deliberate failure. `code` is a stable machine-readable slug."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Rejected(CratonError):
    code = "rejected"


class InvalidInput(Rejected):
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Unauthenticated(Rejected):
    code = "unauthenticated"


class Forbidden(Rejected):
    code = "forbidden"


class NotFound(Rejected):
    code = "not_found"


class AlreadyExists(Rejected):
    code = "already_exists"


class PreconditionFailed(Rejected):
    code = "precondition_failed"


class RateLimited(Rejected):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class Conflict(CratonError):
    code = "conflict"


class ConcurrencyConflict(Conflict):
    code = "concurrency_conflict"

    def __init__(self, subject: str, expected_sequence: int) -> None:
        super().__init__(f"{subject} changed since it was read (expected last sequence {expected_sequence})")
        self.subject = subject
        self.expected_sequence = expected_sequence


class Fault(CratonError):
    code = "fault"


class Unavailable(Fault):
    code = "unavailable"


class ConfigError(Fault):
    code = "config_error"


class InvariantViolation(Fault):
    code = "invariant_violation"


def invariant(condition: bool, why: str) -> None:
    """Always-on assertion (not stripped by `python -O`). A failure is a bug, so it is loud."""
    if not condition:
        raise InvariantViolation(why)
