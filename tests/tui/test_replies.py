"""Unit tests of decoding the appliance's replies into frozen structs (tui.replies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from tests.tui.fake_appliance import instance_body, log_line, readiness_body
from tui.errors import ReplyInvalid
from tui.replies import InstanceReply, LogPage, ReadinessReply, decode_problem, decode_reply


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def test_instance_reply_in_the_contract_shape_decodes_every_field() -> None:
    """The contract's instance body decodes with typed fields (datetime, nested structs, tuples)."""
    instance = decode_reply(encode(instance_body()), InstanceReply, what="instance")
    assert instance.started_at == datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
    assert instance.nats.pid == 4321
    assert instance.nats.restarts == 2
    assert [stream.name for stream in instance.streams] == ["PLATFORM", "ORG_0190f3a4"]
    assert instance.projection.lag_by_stream == {"PLATFORM": 0, "ORG_0190f3a4": 7}
    assert instance.setup_pending is True


def test_replies_are_frozen() -> None:
    """A decoded reply cannot be changed after the fact."""
    instance = decode_reply(encode(instance_body()), InstanceReply, what="instance")
    with pytest.raises(AttributeError):
        instance.name = "changed"  # type: ignore[misc]


def test_unknown_fields_and_unknown_enum_values_are_tolerated() -> None:
    """A newer appliance may add fields and NATS states; the TUI still decodes what it knows."""
    body = instance_body(future_field={"x": 1})
    body["nats"] = {**body["nats"], "state": "draining", "cluster": "r3"}
    instance = decode_reply(encode(body), InstanceReply, what="instance")
    assert instance.nats.state == "draining"


def test_optional_fields_may_be_absent() -> None:
    """`pid`, `lag_by_stream`, `checks`, `detail` and `request_id` have defaults when missing."""
    body = instance_body()
    del body["nats"]["pid"]
    del body["projection"]["lag_by_stream"]
    instance = decode_reply(encode(body), InstanceReply, what="instance")
    assert instance.nats.pid is None
    assert instance.projection.lag_by_stream == {}
    assert decode_reply(b'{"status": "ready"}', ReadinessReply, what="readyz").checks == ()
    line = log_line(1, "m")
    del line["request_id"]
    assert decode_reply(encode({"lines": [line], "next": 1}), LogPage, what="logs").lines[0].request_id is None


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda body: body["nats"].update(restarts="2"), "$.nats.restarts"),
        (lambda body: body["projection"].update(lag=-1), "$.projection.lag"),
        (lambda body: body.pop("streams"), "streams"),
        (lambda body: body.update(started_at="yesterday"), "$.started_at"),
        (lambda body: body.update(streams=[{"name": "X"}]), "$.streams[0]"),
        (lambda body: body.update(uptime_s=1e308), "$.uptime_s"),
    ],
)
def test_wrong_shapes_are_reply_invalid_naming_the_field(change, path: str) -> None:
    """Wrong types, negative counts, missing fields and bad timestamps are refused with the field's path."""
    body = instance_body()
    change(body)
    with pytest.raises(ReplyInvalid, match="unexpected reply shape") as caught:
        decode_reply(encode(body), InstanceReply, what="GET /api/v1/instance")
    assert path in caught.value.message
    assert caught.value.message.startswith("GET /api/v1/instance: ")


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"\xff\xfe", b'{"status": "ready"} trailing'])
def test_malformed_json_is_reply_invalid(body: bytes) -> None:
    """Bodies that are not JSON at all are refused as invalid, never half-decoded."""
    with pytest.raises(ReplyInvalid, match="not valid JSON"):
        decode_reply(body, ReadinessReply, what="GET /readyz")


def test_a_json_array_or_scalar_is_the_wrong_shape() -> None:
    """Valid JSON of the wrong kind (array, number, null) is a shape error."""
    for body in (b"[]", b"1", b"null"):
        with pytest.raises(ReplyInvalid, match="unexpected reply shape"):
            decode_reply(body, ReadinessReply, what="GET /readyz")


def test_readiness_ready_only_for_the_ready_status() -> None:
    """`ready` is true for "ready" only; "not_ready" or anything unknown is not ready."""
    assert decode_reply(encode(readiness_body(True)), ReadinessReply, what="r").ready
    assert not decode_reply(encode(readiness_body(False)), ReadinessReply, what="r").ready
    assert not decode_reply(b'{"status": "warming"}', ReadinessReply, what="r").ready


def test_problem_details_decode_and_non_problems_give_none() -> None:
    """A problem+json body decodes with all fields optional; anything else yields None."""
    problem = decode_problem(b'{"title": "Conflict", "status": 409, "code": "conflict", "extra": true}')
    assert problem is not None
    assert (problem.title, problem.status, problem.code, problem.detail) == ("Conflict", 409, "conflict", "")
    assert decode_problem(b"<html>502 Bad Gateway</html>") is None
    assert decode_problem(b'{"status": "five hundred"}') is None
    assert decode_problem(b"[1, 2]") is None


def test_log_page_round_trips_through_msgspec() -> None:
    """What the TUI decodes re-encodes to the same contract fields (no field is renamed or lost)."""
    page = {"lines": [log_line(5, "hello", request_id="r-1")], "next": 5}
    decoded = decode_reply(encode(page), LogPage, what="logs")
    again = json.loads(msgspec.json.encode(decoded))
    assert again["next"] == 5
    assert again["lines"][0] | {"ts": page["lines"][0]["ts"]} == page["lines"][0]
