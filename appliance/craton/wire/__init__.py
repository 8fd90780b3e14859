"""The Craton client protocol: §4.1 frames carrying msgpack-encoded requests and responses.

Public surface: `frame` (byte layout and incremental decoder), `messages` (requests, responses,
codec) and `codes` (error codes). This package must never do I/O or import the engine, server or
client: both ends build on it.
"""

from appliance.craton.wire.codes import RETRYABLE_CODES, ErrorCode, code_name
from appliance.craton.wire.frame import (
    FRAME_HEADER_BYTES,
    FRAME_MAGIC,
    FRAME_PAYLOAD_BYTES_MAX,
    FRAME_VERSION,
    FrameDecoder,
    FrameError,
    encode_frame,
    parse_header,
)
from appliance.craton.wire.messages import MessageError, decode_request, decode_response, encode_message

__all__ = [
    "FRAME_HEADER_BYTES",
    "FRAME_MAGIC",
    "FRAME_PAYLOAD_BYTES_MAX",
    "FRAME_VERSION",
    "RETRYABLE_CODES",
    "ErrorCode",
    "FrameDecoder",
    "FrameError",
    "MessageError",
    "code_name",
    "decode_request",
    "decode_response",
    "encode_frame",
    "encode_message",
    "parse_header",
]
