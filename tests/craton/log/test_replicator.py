"""The replicator seam and its journal: durable before applied, grouped fsyncs, torn tails (§ seam)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from appliance.craton.kernel import AppendBatch, Command, CreateStream
from appliance.craton.replicator import SingleNodeReplicator
from appliance.craton.storage.journal import Journal
from appliance.craton.types import IntegrityError, NotLeader, StorageError, StreamNotFound


class FunctionMachine:
    """A StateMachine around a plain function, recording which thread prepared each group."""

    def __init__(self, apply) -> None:  # type: ignore[no-untyped-def]
        self.apply = apply
        self.prepared_on: list[str] = []

    def prepare(self, first_op: int, commands: list[Command]) -> list[tuple[int, Command]]:
        self.prepared_on.append(threading.current_thread().name)
        return [(first_op + index, command) for index, command in enumerate(commands)]

    def perform(self, prepared: tuple[int, Command]) -> object:
        return self.apply(*prepared)


def test_commands_are_journaled_before_they_are_applied(tmp_path: Path) -> None:
    """When apply runs, the command's bytes are already in the journal file on disk."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    seen_in_file: list[bool] = []

    def apply(op: int, command: Command) -> object:
        reopened = Journal.open(tmp_path / "j.log")
        seen_in_file.append(any(entry_op == op for entry_op, _ in reopened[1]))
        reopened[0].close()
        return op

    replicator = SingleNodeReplicator(journal, FunctionMachine(apply))
    assert replicator.submit(CreateStream(1, "a")) == 1
    assert replicator.submit(CreateStream(1, "b")) == 2
    assert seen_in_file == [True, True]
    replicator.close()
    journal.close()


def test_commands_arriving_together_share_one_fsync(tmp_path: Path) -> None:
    """While one group is being applied, later submitters queue and then commit as one group."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    release = threading.Event()
    first_applying = threading.Event()
    order: list[int] = []

    def apply(op: int, command: Command) -> object:
        if op == 1:
            first_applying.set()
            release.wait(10)
        order.append(op)
        return op

    replicator = SingleNodeReplicator(journal, FunctionMachine(apply))
    leader = threading.Thread(target=replicator.submit, args=(CreateStream(1, "first"),))
    leader.start()
    first_applying.wait(10)
    followers = [threading.Thread(target=replicator.submit, args=(CreateStream(1, f"s{i}"),)) for i in range(10)]
    for thread in followers:
        thread.start()
    while len(replicator._queue) < 10:  # every follower is queued behind the leader
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *followers]:
        thread.join()
    assert order == list(range(1, 12))
    assert (replicator.commands_committed, replicator.groups_committed) == (11, 2)
    replicator.close()
    journal.close()


def test_a_rejection_is_the_reply_and_the_next_command_proceeds(tmp_path: Path) -> None:
    """apply raising an EngineError reaches only its own caller."""
    journal, _, _ = Journal.open(tmp_path / "j.log")

    def apply(op: int, command: Command) -> object:
        if isinstance(command, AppendBatch):
            raise StreamNotFound("no such stream")
        return op

    replicator = SingleNodeReplicator(journal, FunctionMachine(apply))
    with pytest.raises(StreamNotFound):
        replicator.submit(AppendBatch(1, 5, (b"x",)))
    assert replicator.submit(CreateStream(1, "next")) == 2
    replicator.close()
    with pytest.raises(NotLeader):
        replicator.submit(CreateStream(1, "late"))
    journal.close()


def test_journal_replays_entries_in_order_after_reopen(tmp_path: Path) -> None:
    """What was appended comes back, op by op, with the same bytes."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    assert journal.append([b"one", b"two"]) == 1
    assert journal.append([b"three"]) == 3
    journal.close()
    reopened, entries, repairs = Journal.open(tmp_path / "j.log")
    assert entries == [(1, b"one"), (2, b"two"), (3, b"three")]
    assert repairs == []
    assert reopened.append([b"four"]) == 4
    reopened.close()


@pytest.mark.parametrize("cut", [1, 5, 12, 15])
def test_torn_last_entry_is_cut_and_reported(tmp_path: Path, cut: int) -> None:
    """A write cut anywhere inside the last entry loses only that unacknowledged entry."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    journal.append([b"kept"])
    size = journal.size_bytes
    journal.append([b"torn entry"])
    journal.close()
    os.truncate(tmp_path / "j.log", size + cut)
    reopened, entries, repairs = Journal.open(tmp_path / "j.log")
    assert entries == [(1, b"kept")]
    assert [(r.subject, r.discarded_bytes) for r in repairs] == [("journal", cut)]
    assert reopened.append([b"again"]) == 2
    reopened.close()


def test_damage_before_the_last_entry_refuses_to_open(tmp_path: Path) -> None:
    """A bad entry followed by good ones could hide acknowledged commands: it is an integrity error."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    journal.append([b"a" * 10])
    journal.append([b"b" * 10])
    journal.close()
    data = bytearray((tmp_path / "j.log").read_bytes())
    data[20 + 12 + 3] ^= 0xFF  # inside the first entry's payload
    (tmp_path / "j.log").write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        Journal.open(tmp_path / "j.log")


def test_reset_starts_an_empty_journal_after_the_snapshot_op(tmp_path: Path) -> None:
    """After compaction the journal is empty and numbers ops from the new base."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    journal.append([b"x", b"y"])
    journal.reset(3)
    assert journal.append([b"z"]) == 3
    journal.close()
    reopened, entries, _ = Journal.open(tmp_path / "j.log")
    assert entries == [(3, b"z")]
    reopened.close()


def test_prepare_runs_beside_the_fsync_and_perform_after_it(tmp_path: Path) -> None:
    """The pure half runs on the helper thread; the writes run on the committing thread."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    performed_on: list[str] = []

    def apply(op: int, command: Command) -> object:
        performed_on.append(threading.current_thread().name)
        return op

    machine = FunctionMachine(apply)
    replicator = SingleNodeReplicator(journal, machine)
    replicator.submit(CreateStream(1, "a"))
    assert machine.prepared_on[0].startswith("craton-prepare")
    assert performed_on == [threading.current_thread().name]
    replicator.close()
    journal.close()


def test_a_failed_fsync_fails_the_group_performs_nothing_and_unwinds_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the commit point fails nothing is applied, callers get StorageError, and the entries are cut."""
    journal, _, _ = Journal.open(tmp_path / "j.log")
    performed: list[int] = []
    replicator = SingleNodeReplicator(journal, FunctionMachine(lambda op, command: performed.append(op)))
    replicator.submit(CreateStream(1, "kept"))
    size = (tmp_path / "j.log").stat().st_size

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("appliance.craton.storage.journal.os.fsync", failing_fsync)
    with pytest.raises(StorageError, match="Input/output error"):
        replicator.submit(CreateStream(1, "lost"))
    monkeypatch.undo()
    assert performed == [1]
    assert (tmp_path / "j.log").stat().st_size == size
    assert replicator.submit(CreateStream(1, "next")) is None
    assert performed == [1, 2]  # the failed op number is reused: it never existed
    replicator.close()
    journal.close()
