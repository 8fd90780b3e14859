"""Unit tests of the §4.1 frame: layout, round trips and every malformed-header case."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.craton.wire.frame import (
    FRAME_HEADER_BYTES,
    FRAME_MAGIC,
    FRAME_PAYLOAD_BYTES_MAX,
    FrameDecoder,
    FrameError,
    encode_frame,
)


def test_header_layout_is_big_endian_magic_version_length_crc() -> None:
    """A frame is exactly 'VDB ' | u16 1 | u32 length | u32 crc32(payload), big-endian, then the payload."""
    payload = b"hello"
    frame = encode_frame(payload)
    assert frame[:4] == b"VDB "
    assert frame[4:6] == b"\x00\x01"
    assert frame[6:10] == struct.pack(">I", 5)
    assert frame[10:14] == struct.pack(">I", zlib.crc32(payload))
    assert frame[14:] == payload
    assert FRAME_MAGIC == 0x56444220


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(min_value=1, max_value=50))
def test_any_split_of_a_frame_stream_decodes_to_the_same_payloads(payloads: list[bytes], chunk: int) -> None:
    """Feeding the bytes of several frames in arbitrary chunk sizes yields exactly the payloads, in order."""
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for start in range(0, len(stream), chunk):
        out.extend(decoder.feed(stream[start : start + chunk]))
    assert out == payloads
    assert decoder.buffered_bytes == 0


def _header(magic: int = FRAME_MAGIC, version: int = 1, length: int = 0, crc: int = 0) -> bytes:
    return struct.pack(">IHII", magic, version, length, crc)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_header(magic=0x47455420) + b"", "bad frame magic"),
        (b"GET / HTTP/1.1\r\n", "bad frame magic"),
        (_header(version=2), "unsupported frame version 2"),
        (_header(length=FRAME_PAYLOAD_BYTES_MAX + 1), "exceeds the limit"),
        (_header(length=3, crc=zlib.crc32(b"abc") ^ 1) + b"abc", "CRC mismatch"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(data: bytes, fragment: str) -> None:
    """Bad magic, bad version, a length over 16 MiB and a bad CRC each raise FrameError naming the problem."""
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match=fragment):
        decoder.feed(data)


def test_garbage_is_refused_from_its_first_four_bytes() -> None:
    """Four bytes that are not the magic are enough to refuse, without waiting for a full header."""
    with pytest.raises(FrameError, match="magic"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


def test_a_broken_decoder_stays_broken() -> None:
    """After one framing error every later feed fails too: the stream has no trustworthy boundary left."""
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(b"XXXX" + bytes(10))
    with pytest.raises(FrameError):
        decoder.feed(encode_frame(b"fine"))


def test_truncated_frame_waits_for_the_rest() -> None:
    """A frame cut short yields nothing (yet) and keeps its bytes; the remainder completes it."""
    frame = encode_frame(b"payload")
    decoder = FrameDecoder()
    assert decoder.feed(frame[: FRAME_HEADER_BYTES + 3]) == []
    assert decoder.buffered_bytes == FRAME_HEADER_BYTES + 3
    assert decoder.feed(frame[FRAME_HEADER_BYTES + 3 :]) == [b"payload"]


def test_server_side_limit_refuses_from_the_header_alone() -> None:
    """With a lower request limit, an oversized frame is refused before its body arrives."""
    decoder = FrameDecoder(payload_bytes_max=1024)
    with pytest.raises(FrameError, match="exceeds the limit of 1024"):
        decoder.feed(_header(length=1025))


def test_encoder_refuses_an_oversized_payload() -> None:
    """A payload over the limit cannot be framed at all (the server turns this into an error reply)."""
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(bytes(11), payload_bytes_max=10)
