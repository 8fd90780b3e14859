"""The wire's error codes: §4.1's 0–14 plus 15 NotLeader and 16 OffsetMismatch.

The numbers are `appliance.craton.types.ErrorCode`; this module owns which of them a client may
retry and how they are named. It must never change a
number once shipped: clients in the field branch on them.
"""

from __future__ import annotations

from typing import Final

# One definition of the numbers for engine and wire alike.
from appliance.craton.types import ErrorCode

__all__ = ["RETRYABLE_CODES", "ErrorCode", "code_name"]

# The same request may succeed later (or on the hinted leader); every other code means the
# request itself is wrong and retrying it unchanged cannot help.
RETRYABLE_CODES: Final = frozenset(
    {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.STORAGE_ERROR,
        ErrorCode.PROJECTION_LAG,
        ErrorCode.RATE_LIMITED,
        ErrorCode.NOT_LEADER,
    }
)


def code_name(code: int) -> str:
    """`NotLeader` for 15; `Code99` for a number this build does not know (newer server)."""
    try:
        member = ErrorCode(code)
    except ValueError:
        return f"Code{code}"
    return "".join(part.capitalize() for part in member.name.split("_"))
