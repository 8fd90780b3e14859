"""Projection lag over the last polls: the data behind the status screen's sparkline.

It owns the bounded window of samples and nothing else. It must never import Textual, read a
clock or perform I/O: a sample is whatever lag the caller observed on one successful poll.
"""

from __future__ import annotations

from collections import deque

from tui.errors import invariant

lag_polls_max_default = 60


class LagHistory:
    """The last `polls_max` lag samples, oldest first; older samples fall off the front."""

    def __init__(self, polls_max: int = lag_polls_max_default) -> None:
        invariant(polls_max > 0, "a lag history holds at least one sample")
        self.polls_max = polls_max
        self._samples: deque[int] = deque(maxlen=polls_max)

    def record(self, lag: int) -> None:
        invariant(lag >= 0, "projection lag is a count of events and never negative")
        self._samples.append(lag)
        invariant(len(self._samples) <= self.polls_max, "the window never grows past its bound")

    @property
    def samples(self) -> tuple[int, ...]:
        return tuple(self._samples)

    @property
    def latest(self) -> int | None:
        return self._samples[-1] if self._samples else None

    @property
    def peak(self) -> int:
        return max(self._samples, default=0)
