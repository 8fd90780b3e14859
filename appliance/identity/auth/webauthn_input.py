"""Parsing of untrusted passkey responses, before the `webauthn` library sees them.

This module owns the first contact with a browser's credential JSON: a byte limit, strict JSON
decoding into an object, strict base64url for the fields used as lookup keys (credential id,
user handle), and the transports hint. Everything it refuses is `InvalidInput` naming the
`credential` field, except a well-formed user handle this appliance never issued, which is
`Unauthenticated`. It must never verify anything cryptographic (that is `webauthn.py`'s job
through the library) and never trust what it parsed for more than finding the stored passkey.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.structs import AuthenticatorTransport

from appliance.kernel.errors import InvalidInput, Unauthenticated
from appliance.kernel.ids import UserId

CREDENTIAL_JSON_BYTES_MAX = 64 * 1024
TRANSPORTS_MAX = 8
TRANSPORTS_KNOWN = frozenset(t.value for t in AuthenticatorTransport)
USER_HANDLE_BYTES = 16  # every handle this appliance hands out is the 16 bytes of a UserId
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")

CredentialInput = bytes | str | Mapping[str, Any]


def credential_object(credential: CredentialInput) -> dict[str, Any]:
    """Decode and bound the credential JSON; the library then parses its fields."""
    if isinstance(credential, Mapping):
        raw = msgspec.json.encode(credential)
    else:
        raw = credential.encode() if isinstance(credential, str) else credential
    if len(raw) > CREDENTIAL_JSON_BYTES_MAX:
        raise InvalidInput(f"passkey response is larger than {CREDENTIAL_JSON_BYTES_MAX} bytes", field="credential")
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidInput("passkey response is not valid JSON", field="credential") from None
    if not isinstance(body, dict):
        raise InvalidInput("passkey response must be a JSON object", field="credential")
    return body


def base64url_field(body: Mapping[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"passkey response lacks {name}", field="credential")
    return strict_base64url(value, f"passkey response {name}")


def strict_base64url(text: str, what: str) -> bytes:
    # The library's decoder skips stray characters; a lookup key must be exactly what was sent.
    if not _BASE64URL.match(text):
        raise InvalidInput(f"{what} is not base64url", field="credential")
    try:
        return base64url_to_bytes(text)
    except ValueError:
        raise InvalidInput(f"{what} is not base64url", field="credential") from None


def parse_user_handle(handle: object) -> UserId | None:
    if handle is None or handle == "":
        return None
    if not isinstance(handle, str):
        raise InvalidInput("passkey user handle must be base64url text", field="credential")
    raw = strict_base64url(handle, "passkey user handle")
    if len(raw) != USER_HANDLE_BYTES:
        # Not one of ours (see USER_HANDLE_BYTES), so no account can match it.
        raise Unauthenticated("unknown passkey user handle")
    return UserId(bytes=raw)


def transports_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    response = body.get("response")
    listed = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(listed, list):
        return ()
    known = [t for t in listed if isinstance(t, str) and t in TRANSPORTS_KNOWN]
    return tuple(dict.fromkeys(known))[:TRANSPORTS_MAX]
