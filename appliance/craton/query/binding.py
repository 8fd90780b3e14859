"""Checking bound parameter values and placing them into statement templates.

Owns: the rules for a parameter value (types, 64-bit integers, valid text, size), the count check,
and the LIMIT/OFFSET/AT OFFSET value rules.
Must never: coerce a value silently (a float, a bytearray or an out-of-range integer is an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.statements import Lit, Param
from appliance.craton.types import Value

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def check_value(value: Any, where: str) -> Value:
    """A value the engine can store and compare; raises `SqlParseError` naming `where` otherwise."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
            raise SqlParseError(f"{where}: integer {value} is out of the 64-bit range", reason="bad_parameter")
        return value
    if isinstance(value, str):
        return _check_text(value, where)
    if isinstance(value, bytes) and type(value) is bytes:
        if len(value) > limits.value_bytes_max:
            raise SqlParseError(f"{where}: bytes longer than {limits.value_bytes_max}", reason="too_long")
        return value
    raise SqlParseError(
        f"{where}: values are NULL, booleans, 64-bit integers, text or bytes, not {type(value).__name__}",
        reason="bad_parameter",
    )


def _check_text(value: str, where: str) -> str:
    if type(value) is not str:
        raise SqlParseError(f"{where}: text must be a plain str", reason="bad_parameter")
    # Four bytes per character at most: short text skips the encoding cost.
    if len(value) * 4 > limits.value_bytes_max or not value.isascii():
        try:
            size_bytes = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise SqlParseError(f"{where}: text is not valid Unicode", reason="bad_parameter") from None
        if size_bytes > limits.value_bytes_max:
            raise SqlParseError(f"{where}: text longer than {limits.value_bytes_max} bytes", reason="too_long")
    return value


def check_params(params: Sequence[Any], expected: int) -> tuple[Value, ...]:
    """All parameters checked; their number must equal the highest `$n` the statement uses."""
    if type(params) not in (list, tuple) and (isinstance(params, str | bytes) or not isinstance(params, Sequence)):
        raise SqlParseError("parameters must be a list of values", reason="bad_parameter")
    if len(params) != expected:
        raise SqlParseError(
            f"the statement uses {expected} parameter(s) but {len(params)} were given", reason="param_count"
        )
    # Hot path: 64-bit integers, short ASCII text and NULL need no further work.
    for value in params:
        if not _plainly_valid(value):
            return tuple(check_value(v, f"parameter ${i + 1}") for i, v in enumerate(params))
    return tuple(params)


def _plainly_valid(value: object) -> bool:
    kind = type(value)
    if kind is int:
        return INT64_MIN <= value <= INT64_MAX  # type: ignore[operator]
    if kind is str:
        return len(value) <= 1024 and value.isascii()  # type: ignore[arg-type,attr-defined]
    return value is None


def resolve(value: Lit | Param, params: Sequence[Value]) -> Value:
    """The value of a literal or of a bound parameter."""
    return value.value if isinstance(value, Lit) else params[value.index]


def non_negative(value: Lit | Param | None, params: Sequence[Value], clause: str) -> int | None:
    """A LIMIT, OFFSET or AT OFFSET value: a non-negative 64-bit integer (never a boolean)."""
    if value is None:
        return None
    resolved = resolve(value, params)
    if isinstance(resolved, bool) or not isinstance(resolved, int) or resolved < 0:
        raise SqlParseError(f"{clause} needs a non-negative integer, got {resolved!r}", reason="bad_parameter")
    return resolved
