"""Errors of the SQL layer, placed in the engine's one error tree (`appliance.craton.types`).

Owns: the SQL-specific error classes and their short, stable `reason` tags.
Must never: invent wire codes: every class takes its `code` from `types.ErrorCode`.

    QueryParseError (7)
     └─ SqlParseError            the text is malformed, too big, or outside the subset
    QueryExecutionError (8)
     └─ StoreRejected            a write refused deterministically; the store holds no part of it
         └─ StoreTableNotFound   (code 6) the write names a table the tenant does not have

Reads raise the engine's own `TableNotFound` (6), `PositionAhead` (9) and `QueryExecutionError` (8).
"""

from __future__ import annotations

from appliance.craton.types import ErrorCode, QueryExecutionError, QueryParseError


class SqlParseError(QueryParseError):
    """The statement is malformed, too large, or uses a construct outside the subset (code 7)."""

    def __init__(self, message: str, *, reason: str = "syntax") -> None:
        super().__init__(message)
        self.reason = reason


class StoreRejected(QueryExecutionError):
    """A write was refused deterministically (constraint, type, unknown column); nothing changed."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreTableNotFound(StoreRejected):
    """A write names a table this tenant does not have (code 6)."""

    code = ErrorCode.TABLE_NOT_FOUND
