"""The seam between the engine and replication: every state change is `submit`ted here.

`Replicator` is what the engine depends on. `SingleNodeReplicator` orders commands on one replica:
it journals them (one `write` and one `fsync` for every command that arrived together, a group
commit), then applies each, in op order, through the `apply` function the engine gives it, and
returns each command's reply to its caller. The VSR issue replaces this class with a consensus
replicator that calls the same `apply` on every replica once an op commits; kernel, storage,
store, query and server do not change.

Threading: any number of threads may call `submit`. Whoever finds no commit in progress becomes
the leader of the next group: it takes up to `group_commands_max` queued commands, journals and
applies them, then hands the role on. Waiting threads sleep on a condition variable.

Owns: command order, the commit point (the journal fsync) and group commit. Must never: apply a
command that is not durable in the journal, apply two commands concurrently, or reorder them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, Protocol

from appliance.craton.kernel import Command, encode_command
from appliance.craton.storage.journal import Journal
from appliance.craton.types import EngineError, NotLeader, StorageError

# Commands journaled by one fsync at most; bounds the latency a leader adds to its followers.
GROUP_COMMANDS_MAX: Final = 256

# (op, command) -> reply. Raises an EngineError to reject; the error is the reply.
ApplyFunction = Callable[[int, Command], object]


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
        apply: ApplyFunction,
        *,
        after_group: Callable[[int], None] | None = None,
        group_commands_max: int = GROUP_COMMANDS_MAX,
    ) -> None:
        self._journal = journal
        self._apply = apply
        self._after_group = after_group
        self._group_commands_max = group_commands_max
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._committing = False
        self._closed = False
        self.groups_committed = 0
        self.commands_committed = 0

    def submit(self, command: Command) -> object:
        pending = _Pending(command)
        with self._condition:
            if self._closed:
                raise NotLeader("this replica is shutting down and accepts no more writes")
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
        try:
            first_op = self._journal.append([encode_command(p.command) for p in group])
        except (EngineError, OSError) as error:
            failure = error if isinstance(error, EngineError) else StorageError(f"journal write failed: {error}")
            for pending in group:
                pending.error, pending.done = failure, True
            return
        for index, pending in enumerate(group):
            self._apply_one(first_op + index, pending)
        self.groups_committed += 1
        self.commands_committed += len(group)
        if self._after_group is not None:
            self._after_group(first_op + len(group) - 1)

    def _apply_one(self, op: int, pending: _Pending) -> None:
        try:
            pending.reply = self._apply(op, pending.command)
        except EngineError as rejection:
            pending.error = rejection  # a deterministic rejection: the reply, never a stall
        except Exception as error:
            pending.error = error  # a fault (disk, bug): the engine's apply has already fenced writes
        finally:
            pending.done = True

    def close(self) -> None:
        with self._condition:
            self._closed = True
            while self._committing:
                self._condition.wait()
