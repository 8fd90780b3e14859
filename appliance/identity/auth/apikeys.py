"""API keys: `crk_<lookup prefix>_<secret><checksum>`, stored as SHA-256, shown once.

Owns the key format, its hashing and its parsing:
- `crk_` + 12 characters of lookup prefix (60 random bits, not secret: stored in clear, shown in
  listings as `crk_<prefix>…`, used to find the one stored key to compare with) + `_` + 32
  characters of secret (160 random bits) + 7 characters of CRC-32 checksum; the alphabet is
  lower-case RFC 4648 base32 (`a-z`, `2-7`), 56 characters in all. The checksum lets a mistyped or
  truncated key be told apart from a wrong one without any lookup, and lets secret scanners
  recognise a real key;
- stored hash: hex SHA-256 of the whole key text. Not HMAC with a server pepper, on purpose: the
  secret has 160 bits of entropy, so a stolen hash cannot be reversed by guessing, and a pepper
  would be one more secret whose loss or rotation breaks every key;
- comparison with `hmac.compare_digest`; the full key is returned once, by `issue_api_key`, and
  never kept here.

Public API: `issue_api_key() -> IssuedApiKey` (token, prefix, key_hash), `parse_api_key(text) ->
PresentedApiKey` (prefix, key_hash; raises `ApiKeyMalformed`), `api_key_matches(presented,
stored_hash)`, `looks_like_api_key(text)` (to route an `Authorization: Bearer` value), `API_KEY_PREFIX`.

This module must never log or store a key, compare hashes with `==`, or read the clock or a global
random source (random bytes are injected; `secrets.token_bytes` by default).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib
from collections.abc import Callable

from appliance.kernel.errors import Unauthenticated, invariant
from appliance.kernel.structs import Struct

RandomBytes = Callable[[int], bytes]

API_KEY_PREFIX = "crk_"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_ALPHABET_SET = frozenset(_ALPHABET)
LOOKUP_CHARS = 12
SECRET_CHARS = 32
CHECKSUM_CHARS = 7
API_KEY_CHARS = len(API_KEY_PREFIX) + LOOKUP_CHARS + 1 + SECRET_CHARS + CHECKSUM_CHARS
_INPUT_CHARS_MAX = 256


class ApiKeyMalformed(Unauthenticated):
    """The text cannot be one of our API keys. The message says what is wrong with its shape only."""

    code = "api_key_malformed"


class IssuedApiKey(Struct, frozen=True):
    """A new key: `token` is shown to its creator once; `prefix` and `key_hash` are stored."""

    token: str
    prefix: str
    key_hash: str


class PresentedApiKey(Struct, frozen=True):
    """A well-formed key as presented: the prefix to look up and the hash to compare."""

    prefix: str
    key_hash: str


def _encode(value: int, chars: int) -> str:
    invariant(0 <= value < 32**chars, "the value fits the base32 width")
    return "".join(_ALPHABET[(value >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def _checksum(body: str) -> str:
    return _encode(zlib.crc32(body.encode("ascii")), CHECKSUM_CHARS)


def hash_api_key(token: str) -> str:
    """Hex SHA-256 of the whole key text."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _random_chars(random_bytes: RandomBytes, chars: int) -> str:
    needed = (5 * chars + 7) // 8
    raw = random_bytes(needed)
    invariant(len(raw) == needed, "the random source returns the bytes asked for")
    return _encode(int.from_bytes(raw, "big") >> (8 * needed - 5 * chars), chars)


def issue_api_key(*, random_bytes: RandomBytes = secrets.token_bytes) -> IssuedApiKey:
    """A new random key (60-bit lookup prefix, 160-bit secret) with its stored form."""
    prefix = _random_chars(random_bytes, LOOKUP_CHARS)
    body = f"{API_KEY_PREFIX}{prefix}_{_random_chars(random_bytes, SECRET_CHARS)}"
    token = body + _checksum(body)
    invariant(len(token) == API_KEY_CHARS, "an API key has the documented length")
    return IssuedApiKey(token=token, prefix=prefix, key_hash=hash_api_key(token))


def looks_like_api_key(text: object) -> bool:
    """Whether a bearer credential claims to be an API key (then it must parse as one)."""
    return isinstance(text, str) and text.startswith(API_KEY_PREFIX)


def parse_api_key(text: object) -> PresentedApiKey:
    """Check the shape and checksum of a presented key; `ApiKeyMalformed` says what is wrong."""
    if not isinstance(text, str):
        raise ApiKeyMalformed("API key must be a string")
    if not text.startswith(API_KEY_PREFIX):
        raise ApiKeyMalformed(f"API key must start with {API_KEY_PREFIX!r}")
    if len(text) != API_KEY_CHARS:
        shown = len(text) if len(text) <= _INPUT_CHARS_MAX else f"more than {_INPUT_CHARS_MAX}"
        raise ApiKeyMalformed(f"API key must be {API_KEY_CHARS} characters long, not {shown}")
    separator = len(API_KEY_PREFIX) + LOOKUP_CHARS
    if text[separator] != "_":
        raise ApiKeyMalformed(f"API key must have '_' after its {LOOKUP_CHARS}-character prefix")
    encoded = text[len(API_KEY_PREFIX) : separator] + text[separator + 1 :]
    if not _ALPHABET_SET.issuperset(encoded):
        raise ApiKeyMalformed("API key may only contain the characters a-z and 2-7 after 'crk_'")
    body, checksum = text[:-CHECKSUM_CHARS], text[-CHECKSUM_CHARS:]
    if not hmac.compare_digest(checksum, _checksum(body)):
        raise ApiKeyMalformed("API key checksum does not match: it was mistyped or cut short")
    return PresentedApiKey(prefix=text[len(API_KEY_PREFIX) : separator], key_hash=hash_api_key(text))


def api_key_matches(presented: PresentedApiKey, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key's hash with the stored one."""
    return hmac.compare_digest(presented.key_hash.encode("ascii"), stored_hash.encode("ascii"))
