"""Unit tests of the lag history and of following the log (tui.history, tui.logtail)."""

from __future__ import annotations

import msgspec
import pytest

from tests.tui.fake_appliance import log_line
from tui.errors import InvariantViolation
from tui.history import LagHistory
from tui.logtail import LogTail
from tui.replies import LogPage


def page(seqs: list[int], next_seq: int | None = None) -> LogPage:
    lines = [log_line(seq, f"m{seq}") for seq in seqs]
    body = {"lines": lines, "next": next_seq if next_seq is not None else max(seqs, default=0)}
    return msgspec.convert(body, LogPage)


def test_lag_history_keeps_the_last_samples_in_order() -> None:
    """Only the newest `polls_max` samples are kept, oldest first; latest and peak follow them."""
    history = LagHistory(polls_max=3)
    assert (history.samples, history.latest, history.peak) == ((), None, 0)
    for lag in (50, 1, 2, 3):
        history.record(lag)
    assert history.samples == (1, 2, 3)
    assert history.latest == 3
    assert history.peak == 3


def test_lag_history_refuses_nonsense() -> None:
    """A negative lag or an empty window is a bug and fails loudly."""
    with pytest.raises(InvariantViolation):
        LagHistory(polls_max=0)
    with pytest.raises(InvariantViolation):
        LagHistory().record(-1)


def test_log_tail_returns_each_line_once_in_order_across_pages() -> None:
    """Overlapping, repeated and reordered pages still yield every line exactly once, by seq."""
    tail = LogTail()
    assert [line.seq for line in tail.accept(page([1, 2, 3]))] == [1, 2, 3]
    assert [line.seq for line in tail.accept(page([2, 3, 4]))] == [4]
    assert [line.seq for line in tail.accept(page([7, 5, 6, 6]))] == [5, 6, 7]
    assert [line.seq for line in tail.accept(page([1, 2, 3, 4, 5, 6, 7]))] == []
    assert tail.after == 7
    assert [line.seq for line in tail.lines] == [1, 2, 3, 4, 5, 6, 7]


def test_log_tail_keeps_the_first_copy_of_a_duplicated_seq() -> None:
    """Two lines with the same seq in one page: the first is kept, the second dropped."""
    body = {"lines": [log_line(1, "first"), log_line(1, "second")], "next": 1}
    fresh = LogTail().accept(msgspec.convert(body, LogPage))
    assert [line.message for line in fresh] == ["first"]


def test_log_tail_follows_the_servers_next_cursor_past_gaps() -> None:
    """An empty page whose `next` moved on (lines dropped server-side) moves the cursor too."""
    tail = LogTail()
    tail.accept(page([], next_seq=40))
    assert tail.after == 40
    assert [line.seq for line in tail.accept(page([39, 40, 41]))] == [41]


def test_log_tail_never_moves_back_on_a_lower_next() -> None:
    """A `next` below the cursor cannot make old lines reappear."""
    tail = LogTail()
    tail.accept(page([1, 2, 3]))
    tail.accept(page([], next_seq=1))
    assert tail.after == 3
    assert tail.accept(page([2, 3])) == ()


def test_log_tail_is_bounded_and_restart_resets_only_the_cursor() -> None:
    """The tail keeps `lines_max` lines; after a restart lines numbered from 1 again are new."""
    tail = LogTail(lines_max=2)
    tail.accept(page([1, 2, 3]))
    assert [line.seq for line in tail.lines] == [2, 3]
    tail.restart()
    assert tail.after == 0
    assert [line.seq for line in tail.accept(page([1]))] == [1]
    assert [line.seq for line in tail.lines] == [3, 1]
