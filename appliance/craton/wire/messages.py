"""Requests and responses of the client protocol, and their msgpack codec.

Every message is a frozen msgspec Struct encoded as a msgpack *array* of its fields in declaration
order (compact, and new optional fields can only be appended at the end). A request or response
body is a tagged union: its array starts with the tag string. `docs/craton-wire.md` documents the
exact layout; keep the two in step.

This module owns the shape of messages and the bounds checked while decoding them. It must never
perform an operation or know about sockets, auth or the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

PROTOCOL_VERSION: Final = 1
EVENTS_PER_APPEND_MAX: Final = 10_000
SQL_BYTES_MAX: Final = 1024 * 1024
PARAMS_PER_STATEMENT_MAX: Final = 10_000
STREAM_NAME_BYTES_MAX: Final = 256
READ_BYTES_MAX: Final = 8 * 1024 * 1024

# msgpack cannot carry more than 64 bits, so non-negativity is the only bound left to check.
U64 = Annotated[int, msgspec.Meta(ge=0)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
TenantNumber = U32
# SQL values as they cross the wire: None | bool | int | float | str | bytes. TIMESTAMP travels as
# int nanoseconds; float appears in results (AVG). msgspec cannot type a union of str and bytes, so
# value lists decode as `Any` and `_check_values` refuses anything that is not one of these scalars.
WireValue = Any
_SCALARS: Final = (type(None), bool, int, float, str, bytes)


def _check_values(values: list[Any], what: str) -> None:
    for index, value in enumerate(values):
        if not isinstance(value, _SCALARS):
            raise TypeError(f"{what}[{index}] must be null, bool, int, float, str or bytes, not {type(value).__name__}")


class _Message(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    pass


# ----- request bodies -----


class Handshake(_Message, frozen=True, tag="handshake"):
    client_version: U32
    auth_token: str | None = None


class CreateStream(_Message, frozen=True, tag="create_stream"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=STREAM_NAME_BYTES_MAX)]


class AppendEvents(_Message, frozen=True, tag="append_events"):
    stream_id: U64
    events: Annotated[list[bytes], msgspec.Meta(min_length=1, max_length=EVENTS_PER_APPEND_MAX)]
    expected_offset: U64 | None = None


class ReadEvents(_Message, frozen=True, tag="read_events"):
    stream_id: U64
    from_offset: U64
    max_bytes: Annotated[int, msgspec.Meta(ge=1, le=READ_BYTES_MAX)]


SqlText = Annotated[str, msgspec.Meta(min_length=1, max_length=SQL_BYTES_MAX)]
SqlParams = Annotated[list[WireValue], msgspec.Meta(max_length=PARAMS_PER_STATEMENT_MAX)]


class Query(_Message, frozen=True, tag="query"):
    sql: SqlText
    params: SqlParams = []

    def __post_init__(self) -> None:
        _check_values(self.params, "params")


class QueryAt(_Message, frozen=True, tag="query_at"):
    sql: SqlText
    params: SqlParams
    offset: U64

    def __post_init__(self) -> None:
        _check_values(self.params, "params")


class Execute(_Message, frozen=True, tag="execute"):
    sql: SqlText
    params: SqlParams = []

    def __post_init__(self) -> None:
        _check_values(self.params, "params")


class VerifyChain(_Message, frozen=True, tag="verify_chain"):
    stream_id: U64


class Sync(_Message, frozen=True, tag="sync"):
    pass


RequestBody = Handshake | CreateStream | AppendEvents | ReadEvents | Query | QueryAt | Execute | VerifyChain | Sync


class Request(_Message, frozen=True):
    """`auth_token` is optional per request: without it the connection's handshake identity applies."""

    id: U64
    tenant_id: TenantNumber
    body: RequestBody
    auth_token: str | None = None


# ----- response bodies -----


class HandshakeOk(_Message, frozen=True, tag="handshake_ok"):
    server_version: int
    authenticated: bool
    tenant_id: int | None
    subject: str | None
    capabilities: list[str]


class StreamCreated(_Message, frozen=True, tag="stream_created"):
    stream_id: int


class EventsAppended(_Message, frozen=True, tag="events_appended"):
    first_offset: int
    count: int


class EventsRead(_Message, frozen=True, tag="events_read"):
    events: list[bytes]
    next_offset: int | None


class QueryRows(_Message, frozen=True, tag="query_rows"):
    columns: list[str]
    rows: list[list[WireValue]]

    def __post_init__(self) -> None:
        for row in self.rows:
            _check_values(row, "row")


class Executed(_Message, frozen=True, tag="executed"):
    rows_affected: int
    offset: int | None


class ChainVerified(_Message, frozen=True, tag="chain_verified"):
    ok: bool
    records_checked: int
    first_bad_offset: int | None
    reason: str | None


class Synced(_Message, frozen=True, tag="synced"):
    success: bool


class ErrorReply(_Message, frozen=True, tag="error"):
    code: int
    message: str
    leader_hint: str | None = None


ResponseBody = (
    HandshakeOk
    | StreamCreated
    | EventsAppended
    | EventsRead
    | QueryRows
    | Executed
    | ChainVerified
    | Synced
    | ErrorReply
)


class Response(_Message, frozen=True):
    """`request_id` 0 answers something that was not a decodable request (a framing error)."""

    request_id: int
    body: ResponseBody


class MessageError(Exception):
    """A payload that passed the frame CRC but is not a valid message; `reason` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_ENCODER = msgspec.msgpack.Encoder()
_REQUEST_DECODER = msgspec.msgpack.Decoder(Request)
_RESPONSE_DECODER = msgspec.msgpack.Decoder(Response)


def encode_message(message: Request | Response) -> bytes:
    return _ENCODER.encode(message)


def decode_request(payload: bytes) -> Request:
    try:
        return _REQUEST_DECODER.decode(payload)
    except msgspec.DecodeError as error:
        raise MessageError(f"malformed request: {error}") from None


def decode_response(payload: bytes) -> Response:
    try:
        return _RESPONSE_DECODER.decode(payload)
    except msgspec.DecodeError as error:
        raise MessageError(f"malformed response: {error}") from None


def peek_request_id(payload: bytes) -> int:
    """Best-effort id of a request that failed validation, so its error can still be matched.

    Returns 0 when even the id is unreadable.
    """
    try:
        head = msgspec.msgpack.decode(payload)
    except msgspec.DecodeError:
        return 0
    if isinstance(head, list) and head and isinstance(head[0], int) and not isinstance(head[0], bool):
        return head[0] if 0 <= head[0] < 2**64 else 0
    return 0
