"""The seam between the engine and replication: every state change is `submit`ted here.

`Replicator` is what the engine depends on. `SingleNodeReplicator` orders commands on one replica:
it journals them (one `write` and one `fsync` for every command that arrived together, a group
commit), then applies each, in op order, through the engine's `StateMachine`, and returns each
command's reply to its caller. The VSR issue replaces this class with a consensus replicator that
drives the same `StateMachine` on every replica once an op commits; kernel, storage, store,
query and server do not change.

A `StateMachine` applies in two halves: `prepare` (pure: kernel decisions and record encoding, no
I/O) and `perform` (the writes). While the journal's fsync waits for the disk, with the GIL
released, a helper thread runs `prepare` for the same group, so the CPU work of a group overlaps
its commit instead of following it. Nothing is performed before the fsync has returned.

Threading: any number of threads may call `submit`. Whoever finds no commit in progress becomes
the leader of the next group: it takes up to `group_commands_max` queued commands, journals,
prepares and performs them, then hands the role on. Waiting threads sleep on a condition variable.

Owns: command order, the commit point (the journal fsync) and group commit. Must never: perform
a command that is not durable in the journal, perform two commands concurrently, or reorder them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

from appliance.craton.kernel import Command, encode_command
from appliance.craton.storage.journal import Journal
from appliance.craton.types import EngineError, NotLeader, StorageError

# Commands journaled by one fsync at most; bounds the latency a leader adds to its followers.
GROUP_COMMANDS_MAX: Final = 256


class StateMachine(Protocol):
    """What a replicator drives: the engine's applier."""

    def prepare(self, first_op: int, commands: Sequence[Command]) -> Sequence[Any]:
        """Pure work for consecutive ops starting at `first_op` (no I/O, no state change)."""
        ...

    def perform(self, prepared: Any) -> object:
        """Apply one prepared op; its reply, or its rejection raised as an EngineError."""
        ...


class Replicator(Protocol):
    """Orders commands, makes them durable, and applies them; the only way state changes."""

    def submit(self, command: Command) -> object:
        """Block until `command` is committed and applied; its reply, or its rejection raised."""
        ...

    def close(self) -> None: ...


class _Pending:
    __slots__ = ("command", "done", "error", "reply")

    def __init__(self, command: Command) -> None:
        self.command = command
        self.done = False
        self.reply: object = None
        self.error: BaseException | None = None


class SingleNodeReplicator:
    """Journal-then-apply on one replica, with group commit across concurrent callers."""

    def __init__(
        self,
        journal: Journal,
        machine: StateMachine,
        *,
        after_group: Callable[[int], None] | None = None,
        group_commands_max: int = GROUP_COMMANDS_MAX,
    ) -> None:
        self._journal = journal
        self._machine = machine
        self._after_group = after_group
        self._group_commands_max = group_commands_max
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="craton-prepare")
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._committing = False
        self._closed = False
        self._broken: str | None = None
        self.groups_committed = 0
        self.commands_committed = 0

    def submit(self, command: Command) -> object:
        pending = _Pending(command)
        with self._condition:
            if self._closed:
                raise NotLeader("this replica is shutting down and accepts no more writes")
            if self._broken is not None:
                raise StorageError(f"writes are fenced ({self._broken}); restart the replica")
            self._queue.append(pending)
            while not pending.done:
                if self._committing:
                    self._condition.wait()
                    continue
                group = self._queue[: self._group_commands_max]
                del self._queue[: len(group)]
                self._committing = True
                self._condition.release()
                try:
                    self._commit(group)
                finally:
                    self._condition.acquire()
                    self._committing = False
                    self._condition.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.reply

    def _commit(self, group: list[_Pending]) -> None:
        commands = [pending.command for pending in group]
        try:
            first_op = self._journal.write([encode_command(command) for command in commands])
        except (EngineError, OSError) as error:
            self._fail(group, error)
            return
        # The helper prepares while this thread waits in fsync (which releases the GIL).
        preparing = self._preparer.submit(self._machine.prepare, first_op, commands)
        try:
            self._journal.sync()
        except (EngineError, OSError) as error:
            preparing.result()  # let it finish: one prepare at a time, and nothing of it is used
            self._fail(group, error)
            return
        try:
            prepared = preparing.result()
        except Exception as error:
            # Durable but not applicable (a bug): the live state would diverge from the journal,
            # so refuse every later command until a restart replays the journal.
            self._broken = f"prepare failed after ops {first_op}.. were journaled: {error}"
            self._fail(group, error)
            return
        for pending, one in zip(group, prepared, strict=True):
            self._perform(pending, one)
        self.groups_committed += 1
        self.commands_committed += len(group)
        if self._after_group is not None:
            self._after_group(first_op + len(group) - 1)

    @staticmethod
    def _fail(group: list[_Pending], error: BaseException) -> None:
        failure = error if isinstance(error, EngineError) else StorageError(f"commit failed: {error}")
        for pending in group:
            pending.error, pending.done = failure, True

    def _perform(self, pending: _Pending, prepared: Any) -> None:
        try:
            pending.reply = self._machine.perform(prepared)
        except EngineError as rejection:
            pending.error = rejection  # a deterministic rejection: the reply, never a stall
        except Exception as error:
            pending.error = error  # a fault (disk, bug): the engine's applier has already fenced writes
        finally:
            pending.done = True

    def close(self) -> None:
        with self._condition:
            self._closed = True
            while self._committing:
                self._condition.wait()
        self._preparer.shutdown(wait=True)
