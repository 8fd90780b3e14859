"""Unit tests of the msgpack message codec: round trips, bounds and hostile payloads."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.craton.wire.messages import (
    EVENTS_PER_APPEND_MAX,
    AppendEvents,
    ErrorReply,
    Handshake,
    MessageError,
    Query,
    QueryAt,
    QueryRows,
    Request,
    Response,
    Sync,
    decode_request,
    decode_response,
    encode_message,
    peek_request_id,
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.floats(allow_nan=False),
)


@given(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.lists(values, max_size=10),
    st.text(min_size=1, max_size=50),
)
def test_requests_round_trip_with_every_value_type(request_id: int, params: list[object], sql: str) -> None:
    """Any id, SQL text and list of null/bool/int/float/str/bytes params decodes to what was encoded."""
    request = Request(request_id, 7, QueryAt(sql, params, 3), auth_token="t")
    decoded = decode_request(encode_message(request))
    assert decoded == request
    assert [type(v) for v in decoded.body.params] == [type(v) for v in params]  # type: ignore[union-attr]


def test_responses_round_trip() -> None:
    """Responses of each shape decode to what was encoded, including bytes vs text in rows."""
    for body in (
        QueryRows(["a", "b"], [[1, "x"], [b"\x00", None]]),
        ErrorReply(15, "not leader", leader_hint="127.0.0.1:9"),
    ):
        response = Response(42, body)
        assert decode_response(encode_message(response)) == response


def test_the_encoding_is_a_compact_tagged_array() -> None:
    """The documented layout: a request is [id, tenant, [tag, fields...], token]."""
    raw = msgspec.msgpack.decode(encode_message(Request(1, 2, Sync())))
    assert raw == [1, 2, ["sync"], None]
    raw = msgspec.msgpack.decode(encode_message(Request(1, 2, Handshake(1, "tok"))))
    assert raw == [1, 2, ["handshake", 1, "tok"], None]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([1, 2, ["drop_database"]], "Invalid value 'drop_database'"),
        ([1, 2, ["query", "x", [[1]]]], "params[0] must be null, bool"),
        ([1, 2, ["query", "x", [{"a": 1}]]], "params[0] must be null, bool"),
        ([-1, 2, ["sync"]], ">= 0"),
        ([1, 2**32, ["sync"]], "<= 4294967295"),
        ([1, 2, ["append_events", 1, []]], "length >= 1"),
        ([1, 2, ["read_events", 1, 0, 0]], ">= 1"),
        ([1, 2, ["query", ""]], "length >= 1"),
        ([1, 2, ["sync"], None, "extra"], "Expected `array` of at most length 4"),
        ("not an array", "Expected `array`"),
    ],
)
def test_invalid_requests_are_refused_with_the_field_named(raw: object, fragment: str) -> None:
    """Unknown operations, non-scalar params, out-of-range numbers, empty batches, extra fields: refused."""
    with pytest.raises(MessageError) as caught:
        decode_request(msgspec.msgpack.encode(raw))
    assert fragment in caught.value.reason


def test_too_many_events_are_refused() -> None:
    """An append of more than EVENTS_PER_APPEND_MAX events is refused at decode time."""
    raw = msgspec.msgpack.encode([1, 2, ["append_events", 1, [b""] * (EVENTS_PER_APPEND_MAX + 1)]])
    with pytest.raises(MessageError, match="length <= 10000"):
        decode_request(raw)


def test_not_msgpack_is_refused() -> None:
    """Bytes that are not msgpack at all give MessageError, not a crash."""
    with pytest.raises(MessageError, match="malformed request"):
        decode_request(b"\xc1\xc1\xc1")


def test_peek_recovers_the_id_of_an_invalid_request() -> None:
    """The id of a request that fails validation is still found, so its error reply can be matched."""
    assert peek_request_id(msgspec.msgpack.encode([99, 1, ["nope"]])) == 99
    assert peek_request_id(b"\xc1") == 0
    assert peek_request_id(msgspec.msgpack.encode({"id": 5})) == 0


def test_defaults_are_optional_on_the_wire() -> None:
    """Trailing optional fields may be omitted by older clients: Query params and Append expected offset."""
    request = decode_request(msgspec.msgpack.encode([3, 1, ["query", "SELECT 1"]]))
    assert request.body == Query("SELECT 1", [])
    request = decode_request(msgspec.msgpack.encode([3, 1, ["append_events", 9, [b"x"]]]))
    assert request.body == AppendEvents(9, [b"x"], None)


def test_the_documented_example_bytes() -> None:
    """docs/craton-wire.md's example frame is exactly what the codec produces."""
    from appliance.craton.wire.frame import encode_frame

    payload = encode_message(Request(5, 1, Query("SELECT 1")))
    assert payload == bytes.fromhex("940501 93 a5") + b"query" + b"\xa8SELECT 1" + bytes.fromhex("90c0")
    assert encode_frame(payload)[:14] == bytes.fromhex("56444220 0001 00000015 3d956d94")
