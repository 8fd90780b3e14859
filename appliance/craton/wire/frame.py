"""The §4.1 frame: a 14-byte big-endian header followed by a CRC-checked payload.

    magic u32 = 0x56444220 ("VDB ") | version u16 = 1 | length u32 ≤ 16 MiB | crc32 u32 of payload

This module owns the byte layout of a frame and the incremental decoder that cuts a byte stream
into payloads. It must never interpret a payload (that is `codec`) and never touch a socket:
callers feed it bytes, so the same decoder serves the asyncio server, the blocking client and the
tests that hand it hostile bytes.

A framing error is unrecoverable for the connection: once a header is wrong the stream has no
trustworthy boundary left, so the decoder stays broken and the caller closes the connection.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

FRAME_MAGIC: Final = 0x56444220
FRAME_VERSION: Final = 1
FRAME_HEADER_BYTES: Final = 14
FRAME_PAYLOAD_BYTES_MAX: Final = 16 * 1024 * 1024

_HEADER = struct.Struct(">IHII")
_MAGIC = struct.Struct(">I")


class FrameError(Exception):
    """The byte stream is not a valid sequence of frames; `reason` is one short sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode_frame(payload: bytes, *, payload_bytes_max: int = FRAME_PAYLOAD_BYTES_MAX) -> bytes:
    """Header + payload as one bytes object (one `write`, one syscall)."""
    if len(payload) > payload_bytes_max:
        raise FrameError(f"payload of {len(payload)} bytes exceeds the {payload_bytes_max}-byte frame limit")
    header = _HEADER.pack(FRAME_MAGIC, FRAME_VERSION, len(payload), zlib.crc32(payload))
    return header + payload


def parse_header(header: bytes, *, payload_bytes_max: int = FRAME_PAYLOAD_BYTES_MAX) -> tuple[int, int]:
    """Check a 14-byte header; return (payload length, expected crc32) or raise `FrameError`."""
    if len(header) != FRAME_HEADER_BYTES:
        raise FrameError(f"frame header must be {FRAME_HEADER_BYTES} bytes, got {len(header)}")
    magic, version, length, crc = _HEADER.unpack(header)
    if magic != FRAME_MAGIC:
        raise FrameError(f"bad frame magic 0x{magic:08x} (expected 0x{FRAME_MAGIC:08x} 'VDB ')")
    if version != FRAME_VERSION:
        raise FrameError(f"unsupported frame version {version} (this end speaks {FRAME_VERSION})")
    if length > payload_bytes_max:
        raise FrameError(f"frame length {length} exceeds the limit of {payload_bytes_max} bytes")
    return length, crc


def check_payload(payload: bytes, crc_expected: int) -> bytes:
    crc_actual = zlib.crc32(payload)
    if crc_actual != crc_expected:
        raise FrameError(f"frame CRC mismatch (header 0x{crc_expected:08x}, payload 0x{crc_actual:08x})")
    return payload


class FrameDecoder:
    """Incremental decoder: `feed` bytes as they arrive, then take complete payloads.

    `payload_bytes_max` may be lower than the protocol's 16 MiB: a server uses it as its
    request-size limit, so an oversized request is refused from its header alone, before the
    body is buffered.
    """

    def __init__(self, *, payload_bytes_max: int = FRAME_PAYLOAD_BYTES_MAX) -> None:
        if not 0 < payload_bytes_max <= FRAME_PAYLOAD_BYTES_MAX:
            raise ValueError(f"payload_bytes_max must be in 1..{FRAME_PAYLOAD_BYTES_MAX}")
        self._payload_bytes_max = payload_bytes_max
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Append `data` and return every payload now complete (possibly none).

        Raises `FrameError` on the first malformed frame, and again on any later call: the
        payloads decoded before the bad frame in the same call are lost to the caller on purpose,
        because the connection is about to be closed anyway.
        """
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        payloads: list[bytes] = []
        try:
            while True:
                payload = self._take_one()
                if payload is None:
                    return payloads
                payloads.append(payload)
        except FrameError as error:
            self._broken = error
            raise

    def _take_one(self) -> bytes | None:
        if len(self._buffer) < FRAME_HEADER_BYTES:
            # Refuse garbage as soon as four bytes show it, rather than waiting for a full header
            # that a hostile or confused peer may never send.
            if len(self._buffer) >= _MAGIC.size and _MAGIC.unpack_from(self._buffer)[0] != FRAME_MAGIC:
                raise FrameError(f"bad frame magic 0x{_MAGIC.unpack_from(self._buffer)[0]:08x} (expected 'VDB ')")
            return None
        length, crc = parse_header(bytes(self._buffer[:FRAME_HEADER_BYTES]), payload_bytes_max=self._payload_bytes_max)
        end = FRAME_HEADER_BYTES + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[FRAME_HEADER_BYTES:end])
        del self._buffer[:end]
        return check_payload(payload, crc)
