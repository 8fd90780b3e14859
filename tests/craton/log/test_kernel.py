"""The pure kernel: determinism, optimistic concurrency, rejections that never stall (§8.2 items 7–9)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.craton import kernel
from appliance.craton.kernel import (
    AppendBatch,
    Checkpoint,
    CreateStream,
    KernelState,
    StorageAppend,
    StreamCreated,
    TableChange,
    apply_committed,
    initial_state,
    sql_command,
    state_hash,
)
from appliance.craton.query import parse_statement
from appliance.craton.types import (
    CheckpointPolicy,
    EngineError,
    InvalidRequest,
    OffsetMismatch,
    QueryExecutionError,
    StorageError,
    StreamAlreadyExists,
    StreamNotFound,
    TableNotFound,
    stream_id,
    tenant_id,
)


def _run(state: KernelState, commands: list[kernel.Command]) -> tuple[KernelState, list[object]]:
    """Apply every command; a rejection becomes its (code, message) reply, as the engine does."""
    replies: list[object] = []
    for command in commands:
        try:
            state, effects = apply_committed(state, command)
            replies.append(effects)
        except EngineError as error:
            replies.append((int(error.code), error.message))
    return state, replies


SQL = [
    "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, flag BOOLEAN)",
    "CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY)",
    "INSERT INTO t VALUES (1, 'a', true), (2, 'b', NULL)",
    "INSERT INTO t (id) VALUES (3)",
    "INSERT INTO t VALUES ('x', 'a', true)",
    "UPDATE t SET name = 'z' WHERE id = 1",
    "UPDATE t SET nope = 1",
    "DELETE FROM t WHERE flag IS NULL",
    "DELETE FROM u",
    "DROP TABLE t",
    "DROP TABLE IF EXISTS t",
]

commands_strategy = st.lists(
    st.one_of(
        st.builds(CreateStream, st.integers(0, 2), st.sampled_from(["a", "b", "c", "__x", ""])),
        st.builds(
            AppendBatch,
            st.integers(0, 2),
            st.builds(lambda t, local: stream_id(tenant_id(t), local), st.integers(0, 2), st.integers(0, 3)),
            st.lists(st.binary(max_size=8), max_size=4).map(tuple),
            st.one_of(st.none(), st.integers(0, 12)),
        ),
        st.builds(
            Checkpoint,
            st.integers(0, 2),
            st.builds(lambda t, local: stream_id(tenant_id(t), local), st.integers(0, 2), st.integers(0, 3)),
        ),
        st.builds(lambda t, sql: sql_command(t, parse_statement(sql, [])), st.integers(0, 2), st.sampled_from(SQL)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(commands_strategy, st.integers(1, 5))
def test_replaying_the_same_commands_gives_the_same_state_and_effects(commands: list, every: int) -> None:
    """Determinism: twice from scratch, and once through the journal codec, give identical results."""
    policy = CheckpointPolicy(every)
    first_state, first_replies = _run(initial_state(policy), commands)
    second_state, second_replies = _run(initial_state(policy), commands)
    decoded = [kernel.decode_command(kernel.encode_command(c)) for c in commands]
    third_state, third_replies = _run(initial_state(policy), decoded)
    assert state_hash(first_state) == state_hash(second_state) == state_hash(third_state)
    assert first_replies == second_replies == third_replies
    restored = kernel.decode_snapshot(kernel.encode_snapshot(kernel.Snapshot(7, first_state))).state
    assert state_hash(restored) == state_hash(first_state)


@settings(max_examples=100, deadline=None)
@given(commands_strategy)
def test_offsets_are_dense_and_checkpoints_never_split_a_batch(commands: list) -> None:
    """Every StorageAppend starts where the previous one (plus its checkpoint) ended."""
    state, replies = _run(initial_state(CheckpointPolicy(3)), commands)
    next_offsets: dict[int, int] = {}
    for reply in replies:
        for effect in reply if isinstance(reply, list) else []:
            if isinstance(effect, StorageAppend):
                assert effect.first_offset == next_offsets.get(effect.stream, 0)
                end = effect.first_offset + len(effect.events)
                assert effect.checkpoint_offset in (None, end)
                next_offsets[effect.stream] = end + (effect.checkpoint_offset is not None)
            if isinstance(effect, TableChange):
                assert effect.offset == next_offsets.get(effect.stream, 0)
                next_offsets[effect.stream] = effect.offset + 1 + (effect.checkpoint_offset is not None)
    for stream, offset in next_offsets.items():
        assert state.streams[stream].next_offset == offset


def test_state_hash_does_not_depend_on_insertion_order() -> None:
    """Two states with the same content built in different orders hash the same."""
    a, _ = _run(initial_state(), [CreateStream(1, "x"), CreateStream(2, "y")])
    reordered = msgspec.structs.replace(a, streams=dict(reversed(a.streams.items())))
    reordered = msgspec.structs.replace(reordered, tenants=dict(reversed(a.tenants.items())))
    assert list(reordered.streams) != list(a.streams)
    assert state_hash(reordered) == state_hash(a)


def test_wrong_expected_offset_is_rejected_and_changes_nothing() -> None:
    """Optimistic concurrency: OffsetMismatch, no effects, and the same state as before."""
    state, _ = _run(initial_state(), [CreateStream(4, "orders")])
    stream = stream_id(tenant_id(4), 1)
    state, effects = apply_committed(state, AppendBatch(4, stream, (b"a", b"b"), expected_offset=0))
    before = state_hash(state)
    with pytest.raises(OffsetMismatch) as raised:
        apply_committed(state, AppendBatch(4, stream, (b"c",), expected_offset=1))
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert state_hash(state) == before
    _state, effects = apply_committed(state, AppendBatch(4, stream, (b"c",), expected_offset=2))
    assert effects == [StorageAppend(stream, 2, (b"c",), None)]


def test_rejections_do_not_stall_later_commands() -> None:
    """A duplicate stream and a bad append get error replies; the next command proceeds normally."""
    _state, replies = _run(
        initial_state(),
        [
            CreateStream(1, "s"),
            CreateStream(1, "s"),
            AppendBatch(1, stream_id(tenant_id(1), 9), (b"x",)),
            AppendBatch(1, stream_id(tenant_id(1), 1), ()),
            CreateStream(1, "t"),
            AppendBatch(1, stream_id(tenant_id(1), 1), (b"x",)),
        ],
    )
    assert replies[0] == [StreamCreated(1, stream_id(tenant_id(1), 1), "s")]
    assert replies[1][0] == StreamAlreadyExists.code
    assert replies[2][0] == StreamNotFound.code
    assert replies[3][0] == InvalidRequest.code
    assert replies[4] == [StreamCreated(1, stream_id(tenant_id(1), 2), "t")]
    assert replies[5] == [StorageAppend(stream_id(tenant_id(1), 1), 0, (b"x",), None)]


def test_a_tenant_cannot_touch_another_tenants_stream() -> None:
    """Tenant 2 naming tenant 1's stream id gets StreamNotFound, as if it did not exist."""
    state, _ = _run(initial_state(), [CreateStream(1, "private")])
    with pytest.raises(StreamNotFound):
        apply_committed(state, AppendBatch(2, stream_id(tenant_id(1), 1), (b"x",)))
    with pytest.raises(StreamNotFound):
        apply_committed(state, Checkpoint(2, stream_id(tenant_id(1), 1)))


def test_checkpoint_policy_places_checkpoints_after_batches() -> None:
    """every(3): batches of 2 put a checkpoint after the second batch; Checkpoint adds one on demand."""
    state, _ = _run(initial_state(CheckpointPolicy(3)), [CreateStream(1, "s")])
    stream = stream_id(tenant_id(1), 1)
    state, first = apply_committed(state, AppendBatch(1, stream, (b"a", b"b")))
    state, second = apply_committed(state, AppendBatch(1, stream, (b"c", b"d")))
    state, third = apply_committed(state, AppendBatch(1, stream, (b"e",)))
    state, closing = apply_committed(state, Checkpoint(1, stream))
    _state, nothing = apply_committed(state, Checkpoint(1, stream))
    assert first == [StorageAppend(stream, 0, (b"a", b"b"), None)]
    assert second == [StorageAppend(stream, 2, (b"c", b"d"), 4)]
    assert third == [StorageAppend(stream, 5, (b"e",), None)]
    assert closing == [StorageAppend(stream, 6, (), 6)]
    assert isinstance(nothing[0], kernel.NoChange)


def test_sql_writes_are_checked_against_the_schema_before_the_log() -> None:
    """Unknown tables and columns, wrong types and NULLs are refused without a TableChange."""
    state, replies = _run(initial_state(), [sql_command(1, parse_statement(SQL[0], []))])
    assert isinstance(replies[0][0], StreamCreated)
    assert isinstance(replies[0][1], TableChange)
    refused = {
        "INSERT INTO t VALUES ('x', 'a', true)": QueryExecutionError,
        "INSERT INTO t (id) VALUES (3)": QueryExecutionError,  # name is NOT NULL
        "UPDATE t SET nope = 1": QueryExecutionError,
        "DELETE FROM t WHERE missing = 1": QueryExecutionError,
        "DELETE FROM u": TableNotFound,
        "CREATE TABLE t (id BIGINT PRIMARY KEY)": QueryExecutionError,
    }
    for sql, error in refused.items():
        with pytest.raises(error):
            apply_committed(state, sql_command(1, parse_statement(sql, [])))
    with pytest.raises(TableNotFound):  # another tenant does not see tenant 1's table
        apply_committed(state, sql_command(2, parse_statement("DELETE FROM t", [])))
    _state, effects = apply_committed(state, sql_command(1, parse_statement(SQL[2], [])))
    assert [type(e) for e in effects] == [TableChange]
    assert effects[0].offset == 1
    # What an UPDATE's new values do to NOT NULL and types depends on the rows it matches: the store's call.
    _state, effects = apply_committed(state, sql_command(1, parse_statement("UPDATE t SET name = NULL", [])))
    assert [type(e) for e in effects] == [TableChange]


def test_garbage_journal_bytes_are_a_storage_error() -> None:
    """Decoding bytes that are not a command fails with a clear error instead of a crash."""
    for data in (b"", b"\xc1", msgspec.msgpack.encode({"type": "Nope"}), msgspec.msgpack.encode([1, 2])):
        with pytest.raises(StorageError):
            kernel.decode_command(data)
