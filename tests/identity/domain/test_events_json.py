"""Every identity event survives storage: JSON round trips, envelopes, the catalogue and the audit view."""

from __future__ import annotations

import enum
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import appliance.identity.domain.org_events
import appliance.identity.domain.reservation
import appliance.identity.domain.session
import appliance.identity.domain.user_events
from appliance.identity.domain.events import (
    AUDIT_OMITTED_FIELDS,
    EVENT_TYPES,
    IdentityEvent,
    audit_view,
    decode_event,
    org_of,
)
from appliance.identity.domain.org_commands import OrgCommand
from appliance.identity.domain.org_events import OrgEvent
from appliance.identity.domain.reservation import ReservationCommand
from appliance.identity.domain.session import EndSession, RecordSignIn
from appliance.identity.domain.signup import SignUp
from appliance.identity.domain.user_commands import UserCommand
from appliance.kernel.envelope import DomainEvent, EventEnvelope, EventMeta, seal
from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import EventId, SequentialIds, TypedId
from appliance.kernel.structs import from_json, to_json

EVENT_MODULES = (
    appliance.identity.domain.reservation,
    appliance.identity.domain.user_events,
    appliance.identity.domain.org_events,
    appliance.identity.domain.session,
)

_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


def _strategy(kind: Any) -> st.SearchStrategy[Any]:  # noqa: PLR0911 - one branch per kind of field
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy(arm) for arm in get_args(kind)))
    if origin is tuple:
        return st.lists(st.text(max_size=12), max_size=4).map(tuple)
    if kind is type(None):
        return st.none()
    if isinstance(kind, type) and issubclass(kind, TypedId):
        return st.integers(min_value=0, max_value=2**128 - 1).map(lambda value: kind(int=value))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return st.sampled_from(list(kind))
    if kind is datetime:
        return _moments
    if kind is str:
        return st.text(max_size=40)
    if kind is bytes:
        return st.binary(max_size=64)
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=0, max_value=2**32 - 1)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _struct(kind)
    raise AssertionError(f"no strategy for {kind!r}")


def _struct(cls: type[Any]) -> st.SearchStrategy[Any]:
    fields = {field.name: _strategy(field.type) for field in msgspec.structs.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


def _defined_events() -> set[type[DomainEvent]]:
    return {
        value
        for module in EVENT_MODULES
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value is not DomainEvent
    }


def test_the_catalogue_lists_every_event_defined() -> None:
    """Every `DomainEvent` subclass defined in the identity domain is in `EVENT_TYPES`, and nothing else."""
    assert set(EVENT_TYPES.values()) == _defined_events()
    assert len(EVENT_TYPES) >= 29  # the signup mode and setup token live on the instance aggregate


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_says_who_and_when_and_has_a_schema_version(event_type: str) -> None:
    """Each event carries `at` and `by` (for the audit trail), a past-tense name and a schema version."""
    cls = EVENT_TYPES[event_type]
    names = {field.name for field in msgspec.structs.fields(cls)}
    assert {"at", "by"} <= names
    assert cls.schema_version == 1
    assert event_type.endswith(("ed", "Spent", "Left", "In")), event_type
    assert cls.__struct_config__.frozen


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_event_round_trips_through_json_and_envelopes(event_type: str, data: st.DataObject) -> None:
    """Any value of any event round-trips through JSON and a sealed envelope; its audit view is clean JSON."""
    event = data.draw(_struct(EVENT_TYPES[event_type]))
    assert from_json(to_json(event), IdentityEvent) == event
    ids = SequentialIds()
    commit = seal(
        [event],
        aggregate_type="test",
        aggregate_id="x",
        version_before=0,
        event_ids=[ids.new(EventId)],
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        meta=EventMeta(actor="test", correlation_id="c"),
    )
    envelope = from_json(to_json(commit.events[0]), EventEnvelope)
    assert decode_event(envelope) == event
    view = audit_view(event)
    assert view["type"] == event_type
    assert not AUDIT_OMITTED_FIELDS & set(view)
    msgspec.json.encode(view)  # the audit view is plain JSON
    expected_org = getattr(event, "org_id", None) if isinstance(event, get_args(OrgEvent)) else None
    assert org_of(event) == expected_org


def test_decoding_refuses_unknown_types_and_bad_payloads() -> None:
    """An envelope of an unknown type, or a payload missing a field, is `InvalidInput`, not a crash."""
    ids = SequentialIds()
    base = {
        "event_id": str(ids.new(EventId)),
        "schema_version": 1,
        "aggregate_type": "user",
        "aggregate_id": "x",
        "aggregate_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z",
        "actor": "a",
        "correlation_id": "c",
        "causation_id": None,
    }
    unknown = from_json(msgspec.json.encode({**base, "type": "UserTeleported", "payload": {}}), EventEnvelope)
    with pytest.raises(InvalidInput, match="unknown identity event"):
        decode_event(unknown)
    broken = from_json(
        msgspec.json.encode({**base, "type": "UserDisabled", "payload": {"user_id": "nope"}}), EventEnvelope
    )
    with pytest.raises(InvalidInput):
        decode_event(broken)


@pytest.mark.parametrize(
    "command_types",
    [
        get_args(UserCommand),
        get_args(OrgCommand),
        get_args(ReservationCommand),
        (SignUp, RecordSignIn, EndSession),
    ],
)
def test_commands_are_frozen_structs(command_types: tuple[type[Any], ...]) -> None:
    """Every command is a frozen struct, so a command cannot change between decision and audit."""
    for cls in command_types:
        assert issubclass(cls, msgspec.Struct)
        assert cls.__struct_config__.frozen, cls
