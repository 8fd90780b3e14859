"""Always-on checks that also narrow types: the domain's companion to `kernel.errors.invariant`.

This module must never raise anything but `InvariantViolation`: a failure here is a bug.
"""

from __future__ import annotations

from typing import TypeVar

from appliance.kernel.errors import InvariantViolation

T = TypeVar("T")


def present(value: T | None, why: str) -> T:
    """`value`, which a valid history or a correct workflow guarantees is there."""
    if value is None:
        raise InvariantViolation(why)
    return value
