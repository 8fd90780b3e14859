"""The kernel: typed ids, the error tree, the envelope and its upcasters, the workflow shape."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.eventstore.memory import InMemoryEventStore
from appliance.eventstore.port import PLATFORM_STREAM, platform_subject
from appliance.eventstore.workflow import Aggregate, run_command
from appliance.kernel.clock import ManualClock
from appliance.kernel.envelope import Commit, DomainEvent, EventMeta, Upcasters, seal
from appliance.kernel.errors import (
    ConcurrencyConflict,
    Conflict,
    CratonError,
    Fault,
    InvalidInput,
    InvariantViolation,
    RateLimited,
    Rejected,
    invariant,
)
from appliance.kernel.ids import ClusterId, EventId, NodeId, OrgId, SequentialIds, SessionId, UserId
from appliance.kernel.structs import Struct, from_json, to_json

KINDS = [OrgId, UserId, ClusterId, NodeId, SessionId]


@given(st.uuids(), st.sampled_from(KINDS), st.sampled_from(KINDS))
def test_ids_of_different_kinds_are_never_equal(value: uuid.UUID, one: type, other: type) -> None:
    """Two ids with the same bits are equal only when they are the same kind."""
    a, b = one(int=value.int), other(int=value.int)
    assert (a == b) == (one is other)
    assert (hash(a) == hash(b)) or one is not other


@given(st.uuids())
def test_parse_round_trips_canonical_text(value: uuid.UUID) -> None:
    """Parsing canonical text gives back the same id, and str() gives back the text."""
    parsed = OrgId.parse(str(value))
    assert str(parsed) == str(value)
    assert parsed.int == value.int


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-uuid",
        "0" * 36,
        "{12345678-1234-5678-1234-567812345678}",
        "12345678123456781234567812345678",
        "1234567_-1234-5678-1234-567812345678",
        "+2345678-1234-5678-1234-567812345678",
        12,
        None,
        b"x" * 36,
        "é" * 36,
    ],
)
def test_parse_refuses_anything_but_canonical_text(text: object) -> None:
    """Malformed ids are InvalidInput naming the kind, never a ValueError or a wrong id."""
    with pytest.raises(InvalidInput) as refused:
        UserId.parse(text)
    assert refused.value.field == "user_id"


def test_type_checker_refuses_mixing_id_kinds(tmp_path: Path) -> None:
    """mypy --strict rejects passing an OrgId where a UserId is expected."""
    source = tmp_path / "mix.py"
    source.write_text(
        textwrap.dedent("""
        from appliance.kernel.ids import OrgId, UserId
        def needs_user(user_id: UserId) -> None: ...
        needs_user(OrgId(int=1))
    """)
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(source)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert 'incompatible type "OrgId"; expected "UserId"' in result.stdout


def test_sequential_ids_are_deterministic_uuidv7() -> None:
    """The test id factory is repeatable from its seed and makes version-7 UUIDs."""
    one, two = SequentialIds(seed=3), SequentialIds(seed=3)
    made = [one.new(UserId) for _ in range(5)]
    assert made == [two.new(UserId) for _ in range(5)]
    assert all(i.version == 7 for i in made)
    assert len(set(made)) == 5


def test_error_tree_branches() -> None:
    """Every error is a CratonError on exactly one of the three branches."""
    assert issubclass(InvalidInput, Rejected)
    assert issubclass(ConcurrencyConflict, Conflict)
    assert issubclass(InvariantViolation, Fault)
    assert RateLimited("slow down", retry_after_s=0).retry_after_s == 1
    for kind in (Rejected, Conflict, Fault):
        assert issubclass(kind, CratonError)
    with pytest.raises(InvariantViolation, match="why"):
        invariant(False, "why")


class Named(DomainEvent, frozen=True):
    schema_version = 2
    name: str
    title: str


def test_seal_numbers_versions_and_round_trips() -> None:
    """Sealed envelopes number aggregate versions after the previous one and survive JSON."""
    ids = SequentialIds()
    commit = seal(
        [Named(name="a", title="x"), Named(name="b", title="y")],
        aggregate_type="thing",
        aggregate_id="t1",
        version_before=4,
        event_ids=[ids.new(EventId), ids.new(EventId)],
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        meta=EventMeta(actor="user:1", correlation_id="c1", causation_id="cause"),
    )
    assert [e.aggregate_version for e in commit.events] == [5, 6]
    assert {e.schema_version for e in commit.events} == {2}
    decoded = from_json(to_json(commit), Commit)
    assert decoded == commit
    with pytest.raises(InvariantViolation):
        seal(
            [Named(name="a", title="x")],
            aggregate_type="t",
            aggregate_id="1",
            version_before=0,
            event_ids=[],
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            meta=EventMeta(actor="a", correlation_id="c"),
        )


def test_upcasters_lift_old_payloads_by_name() -> None:
    """A version-1 payload is lifted by the named upcaster before it is decoded."""
    upcasters = Upcasters()

    @upcasters.register("Named", 1)
    def add_title(raw: dict[str, object]) -> dict[str, object]:
        return {**raw, "title": "untitled"}

    ids = SequentialIds()
    old = seal(
        [Named(name="a", title="ignored")],
        aggregate_type="t",
        aggregate_id="1",
        version_before=0,
        event_ids=[ids.new(EventId)],
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        meta=EventMeta(actor="a", correlation_id="c"),
    ).events[0]
    stored_v1 = msgspec.structs.replace(old, schema_version=1, payload=msgspec.Raw(b'{"type":"Named","name":"a"}'))
    assert upcasters.decode(stored_v1, Named) == Named(name="a", title="untitled")
    with pytest.raises(InvariantViolation):
        upcasters.register("Named", 1)(add_title)


class Counter(Struct, frozen=True):
    value: int = 0


class Added(DomainEvent, frozen=True):
    amount: int


class Add(Struct, frozen=True):
    amount: int


def decide(state: Counter, command: Add, ctx: None) -> list[DomainEvent]:
    if command.amount <= 0:
        raise InvalidInput("amount must be positive")
    return [Added(amount=command.amount)]


def evolve(state: Counter, event: DomainEvent) -> Counter:
    assert isinstance(event, Added)
    return Counter(value=state.value + event.amount)


COUNTER: Aggregate[Counter, Add, None] = Aggregate("counter", Counter(), decide, evolve, Added, Upcasters())


async def test_workflow_retries_one_conflict_then_surfaces_it() -> None:
    """A stale read is retried once from a fresh load; a writer that always loses gets ConcurrencyConflict."""
    store = InMemoryEventStore()
    await store.ensure_stream(PLATFORM_STREAM)
    subject = platform_subject("test", "counter", "c1")
    ids, clock = SequentialIds(), ManualClock()
    meta = EventMeta(actor="test", correlation_id="c")
    outcome = await run_command(
        store,
        COUNTER,
        subject=subject,
        aggregate_id="c1",
        command=Add(amount=2),
        context=None,
        meta=meta,
        ids=ids,
        clock=clock,
    )
    assert outcome.state == Counter(value=2)

    real_append = store.append
    interleaved = 0

    async def racing_append(subject: str, commit: Commit, *, expected_last_sequence: int):  # type: ignore[no-untyped-def]
        nonlocal interleaved
        if interleaved < 1:  # someone else lands first, once
            interleaved += 1
            history = await store.load(subject)
            await real_append(
                subject,
                seal(
                    [Added(amount=10)],
                    aggregate_type="counter",
                    aggregate_id="c1",
                    version_before=history.version,
                    event_ids=[ids.new(EventId)],
                    occurred_at=clock.now(),
                    meta=meta,
                ),
                expected_last_sequence=history.last_sequence,
            )
        return await real_append(subject, commit, expected_last_sequence=expected_last_sequence)

    store.append = racing_append  # type: ignore[method-assign]
    outcome = await run_command(
        store,
        COUNTER,
        subject=subject,
        aggregate_id="c1",
        command=Add(amount=3),
        context=None,
        meta=meta,
        ids=ids,
        clock=clock,
    )
    assert outcome.state == Counter(value=15)

    async def always_loses(subject: str, commit: Commit, *, expected_last_sequence: int):  # type: ignore[no-untyped-def]
        raise ConcurrencyConflict(subject, expected_last_sequence)

    store.append = always_loses  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyConflict):
        await run_command(
            store,
            COUNTER,
            subject=subject,
            aggregate_id="c1",
            command=Add(amount=1),
            context=None,
            meta=meta,
            ids=ids,
            clock=clock,
        )
    with pytest.raises(InvalidInput):
        await run_command(
            store,
            COUNTER,
            subject=subject,
            aggregate_id="c1",
            command=Add(amount=0),
            context=None,
            meta=meta,
            ids=ids,
            clock=clock,
        )
