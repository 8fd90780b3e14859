"""Base msgspec structs and the one JSON codec that knows our typed ids.

Everything that crosses a boundary (commands, events, states, DTOs) is a frozen `Struct`.
`to_json` / `from_json` are the only encode/decode calls the appliance uses, so the typed-id hook
is applied everywhere in the same way.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import TypedId


class Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Frozen, keyword-only, strict: unknown fields are an error, not silently dropped."""


def _dec_hook(kind: type, obj: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, TypedId):
        return kind.parse(obj)
    # msgspec's hook protocol: NotImplementedError means "not a type this hook knows", and msgspec
    # turns it into its own "unsupported type" error. It is not a stub.
    raise NotImplementedError(f"no decoder for {kind!r}")


_ENCODER = msgspec.json.Encoder()
T = TypeVar("T")


def to_json(value: object) -> bytes:
    return _ENCODER.encode(value)


def from_json(data: bytes | str, kind: type[T], *, what: str = "input") -> T:
    """Decode and validate; any problem is `InvalidInput` with msgspec's path to the field."""
    try:
        return msgspec.json.decode(data, type=kind, dec_hook=_dec_hook)
    except InvalidInput:
        raise
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise InvalidInput(f"invalid {what}: {error}") from None


def from_builtins(value: object, kind: type[T], *, what: str = "input") -> T:
    """Convert already-decoded builtins (dicts, lists) into a typed value, validating it."""
    try:
        return msgspec.convert(value, type=kind, dec_hook=_dec_hook)
    except InvalidInput:
        raise
    except msgspec.ValidationError as error:
        raise InvalidInput(f"invalid {what}: {error}") from None


def decode_typed_id(kind: type, obj: Any) -> Any:
    """Public form of the decode hook, for frameworks that take one (Litestar's type decoders)."""
    return _dec_hook(kind, obj)
