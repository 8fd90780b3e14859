"""The engine's shared vocabulary: ids, offsets, timestamps, record kinds, SQL values and errors.

Owns: `TenantId`, `StreamId` (tenant in the high 32 bits), `Offset`, `Timestamp`, `RecordKind`,
`IdempotencyId`, `Value`, `CheckpointPolicy`, `RecoveryRecord`, and the engine's one error tree,
each error with the stable §4.1 integer `code` that the wire sends unchanged::

    EngineError                 0 Unknown (never raised on purpose)
    ├── InternalError           1 a bug or an impossible state (InvariantViolation is one)
    ├── InvalidRequest          2 malformed or out-of-range input (names the field)
    ├── AuthenticationFailed    3 no credentials, or credentials that do not verify
    ├── TenantNotFound          4 the tenant is unknown or not the caller's
    ├── StreamNotFound          5 no such stream for this tenant (never says whose it is)
    ├── TableNotFound           6 no such table for this tenant
    ├── QueryParseError         7 SQL outside the subset, malformed, or non-deterministic write
    ├── QueryExecutionError     8 a deterministic rejection while running SQL (constraint, type)
    ├── PositionAhead           9 `AT OFFSET n` beyond what the log holds
    ├── StreamAlreadyExists    10 a stream name is taken within the tenant
    ├── InvalidOffset          11 an offset outside the stream
    ├── StorageError           12 the disk failed (retryable)
    │   └── IntegrityError     12 the log, journal or index is damaged at a named offset
    ├── ProjectionLag          13 projections are behind the log (retryable)
    ├── RateLimited            14 too many requests for this tenant (retryable)
    ├── NotLeader              15 this replica cannot accept writes; carries `leader_hint`
    └── OffsetMismatch         16 optimistic concurrency: `expected_offset` is not the stream's next

Must never: import anything else from `appliance`, read files, or hold behaviour beyond small
pure helpers (the monotonic clock helper is the one place here that reads the wall clock).
"""

from __future__ import annotations

import enum
import os
import time
from typing import ClassVar, Final, NewType, TypeAlias

import msgspec

TenantId = NewType("TenantId", int)
StreamId = NewType("StreamId", int)
Offset = NewType("Offset", int)
Timestamp = NewType("Timestamp", int)  # nanoseconds since the Unix epoch
IdempotencyId = NewType("IdempotencyId", bytes)  # 16 bytes from the OS random source

# A SQL value: NULL, BOOLEAN, BIGINT, TIMESTAMP (int ns), TEXT or BYTES.
Value: TypeAlias = bool | int | str | bytes | None

TENANT_ID_MAX: Final = (1 << 32) - 1
STREAM_LOCAL_ID_MAX: Final = (1 << 32) - 1
OFFSET_MAX: Final = (1 << 64) - 1
IDEMPOTENCY_ID_BYTES: Final = 16
HASH_BYTES: Final = 32
GENESIS_HASH: Final = bytes(HASH_BYTES)
# Local id 0 of every tenant is its system stream of table changes (`__tables`); users get 1, 2, …
TABLES_STREAM_LOCAL_ID: Final = 0
TABLES_STREAM_NAME: Final = "__tables"


class RecordKind(enum.IntEnum):
    """One byte on disk, covered by the chain hash."""

    DATA = 0
    CHECKPOINT = 1
    TOMBSTONE = 2


def tenant_id(value: int) -> TenantId:
    """Parse a tenant id once at the boundary: 0 ≤ value ≤ 2³²−1 (it lives in a stream id's high bits)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TENANT_ID_MAX:
        message = f"tenant id must be an integer in [0, {TENANT_ID_MAX}], got {value!r}"
        raise InvalidRequest(message, field="tenant")
    return TenantId(value)


def stream_id(tenant: TenantId, local_id: int) -> StreamId:
    """`(tenant << 32) | local`, so the owning tenant can be read back from any stream id."""
    invariant(0 <= tenant <= TENANT_ID_MAX, "tenant id fits in 32 bits")
    invariant(0 <= local_id <= STREAM_LOCAL_ID_MAX, "local stream id fits in 32 bits")
    return StreamId((tenant << 32) | local_id)


def parse_stream_id(value: int) -> StreamId:
    """Parse a stream id from the outside world: a non-negative integer below 2⁶⁴."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << 64):
        raise InvalidRequest(f"stream id must be an integer in [0, 2^64), got {value!r}", field="stream")
    return StreamId(value)


def tenant_of(stream: StreamId) -> TenantId:
    return TenantId(stream >> 32)


def local_of(stream: StreamId) -> int:
    return stream & STREAM_LOCAL_ID_MAX


def parse_offset(value: int, *, field: str = "offset") -> Offset:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= OFFSET_MAX:
        raise InvalidOffset(f"{field} must be an integer in [0, 2^64), got {value!r}")
    return Offset(value)


def now_monotonic(last: Timestamp) -> Timestamp:
    """The later of the wall clock and `last + 1` ns: strictly increasing even if the clock steps back."""
    return Timestamp(max(time.time_ns(), last + 1))


def new_idempotency_id() -> IdempotencyId:
    """A fresh id from the OS random source; a client reuses it when it retries the same request."""
    return IdempotencyId(os.urandom(IDEMPOTENCY_ID_BYTES))


class CheckpointPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When the log gets a checkpoint record: after a batch that brings the data records since the
    last checkpoint to `every_records` or more, and on clean shutdown. Checkpoints never split a
    batch, so a batch's offsets stay dense."""

    every_records: int = 1000

    def __post_init__(self) -> None:
        if not 1 <= self.every_records <= 1_000_000_000:
            message = "checkpoint policy: every_records must be in [1, 1e9]"
            raise InvalidRequest(message, field="every_records")

    def due(self, data_records_since_checkpoint: int) -> bool:
        return data_records_since_checkpoint >= self.every_records


class RecoveryRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a restart had to repair, kept for compliance reports (how much was dropped, and why).

    `subject` names the damaged file's owner (`stream:<id>`, `journal`, `audit`, `index:<id>`);
    `discarded_bytes` counts what was cut from a torn tail; `kept_records` is what survived."""

    generation: int
    subject: str
    reason: str
    kept_records: int
    discarded_bytes: int
    timestamp: Timestamp


class ErrorCode(enum.IntEnum):
    """§4.1 error codes plus 15 NotLeader and 16 OffsetMismatch. Numbers never change once shipped."""

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


class EngineError(Exception):
    """Root of every deliberate engine failure; `code` is the stable §4.1 wire code."""

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InternalError(EngineError):
    code = ErrorCode.INTERNAL_ERROR
    retryable = True


class InvariantViolation(InternalError):
    """An always-on assertion failed: a bug, reported loudly."""

    retryable = False


class InvalidRequest(EngineError):
    code = ErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthenticationFailed(EngineError):
    code = ErrorCode.AUTHENTICATION_FAILED


class TenantNotFound(EngineError):
    code = ErrorCode.TENANT_NOT_FOUND


class StreamNotFound(EngineError):
    code = ErrorCode.STREAM_NOT_FOUND


class TableNotFound(EngineError):
    code = ErrorCode.TABLE_NOT_FOUND


class QueryParseError(EngineError):
    code = ErrorCode.QUERY_PARSE_ERROR


class QueryExecutionError(EngineError):
    code = ErrorCode.QUERY_EXECUTION_ERROR


class PositionAhead(EngineError):
    code = ErrorCode.POSITION_AHEAD


class StreamAlreadyExists(EngineError):
    code = ErrorCode.STREAM_ALREADY_EXISTS


class InvalidOffset(EngineError):
    code = ErrorCode.INVALID_OFFSET


class StorageError(EngineError):
    code = ErrorCode.STORAGE_ERROR
    retryable = True


class IntegrityError(StorageError):
    """Damage that must not be skipped: a bad CRC or chain break before the tail, at `offset`."""

    retryable = False

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class ProjectionLag(EngineError):
    code = ErrorCode.PROJECTION_LAG
    retryable = True


class RateLimited(EngineError):
    code = ErrorCode.RATE_LIMITED
    retryable = True


class NotLeader(EngineError):
    """This replica cannot order writes; `leader_hint` is the address of the one that can, if known."""

    code = ErrorCode.NOT_LEADER
    retryable = True

    def __init__(self, message: str, *, leader_hint: str | None = None) -> None:
        super().__init__(message)
        self.leader_hint = leader_hint


class OffsetMismatch(EngineError):
    """`expected_offset` differs from the stream's next offset; nothing was written."""

    code = ErrorCode.OFFSET_MISMATCH

    def __init__(self, message: str, *, expected: int, actual: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


def invariant(condition: bool, why: str) -> None:
    """Always-on assertion (not stripped by `python -O`). A failure is a bug, so it is loud."""
    if not condition:
        raise InvariantViolation(why)
