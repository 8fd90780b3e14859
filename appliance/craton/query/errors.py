"""Errors of the SQL layer (parser, binder, store), each carrying its stable §4.1 wire code.

Owns: the error classes that `query/` and `store/` raise, and their codes.
Must never: depend on apsw or on anything outside `appliance.craton`.

Tree:

    SqlError (base, code set per instance)
     ├─ SqlParseError      code 7  QueryParseError: the text is outside the subset, malformed or too big
     ├─ StoreRejected      a write refused deterministically (no partial change):
     │                     code 6 TableNotFound, code 8 constraint/type/column problems
     └─ QueryFailed        a read refused: code 6 TableNotFound, 8 execution error, 9 PositionAhead
"""

from __future__ import annotations

# §4.1 wire error codes used by this layer; the engine maps them onto the wire unchanged.
CODE_INVALID_REQUEST = 2
CODE_TABLE_NOT_FOUND = 6
CODE_QUERY_PARSE_ERROR = 7
CODE_QUERY_EXECUTION_ERROR = 8
CODE_POSITION_AHEAD = 9


class SqlError(Exception):
    """Base of every SQL-layer error; `code` is the §4.1 wire code, `reason` a stable short tag."""

    code: int = CODE_QUERY_PARSE_ERROR

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason


class SqlParseError(SqlError):
    """The statement is malformed, too large, or uses a construct outside the subset (code 7)."""

    code = CODE_QUERY_PARSE_ERROR


class StoreRejected(SqlError):
    """A write was refused deterministically; the store holds no part of it."""

    code = CODE_QUERY_EXECUTION_ERROR


class QueryFailed(SqlError):
    """A read could not be answered (unknown table, position ahead, execution limit)."""

    code = CODE_QUERY_EXECUTION_ERROR
