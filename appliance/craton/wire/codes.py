"""The wire's error codes: §4.1's 0–14 plus 15 NotLeader and 16 OffsetMismatch.

This module owns the numbers and which of them a client may retry. It must never change a
number once shipped: clients in the field branch on them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class ErrorCode(IntEnum):
    UNKNOWN = 0
    INTERNAL_ERROR = 1
    INVALID_REQUEST = 2
    AUTHENTICATION_FAILED = 3
    TENANT_NOT_FOUND = 4
    STREAM_NOT_FOUND = 5
    TABLE_NOT_FOUND = 6
    QUERY_PARSE_ERROR = 7
    QUERY_EXECUTION_ERROR = 8
    POSITION_AHEAD = 9
    STREAM_ALREADY_EXISTS = 10
    INVALID_OFFSET = 11
    STORAGE_ERROR = 12
    PROJECTION_LAG = 13
    RATE_LIMITED = 14
    NOT_LEADER = 15
    OFFSET_MISMATCH = 16


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
