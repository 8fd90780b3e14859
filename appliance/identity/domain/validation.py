"""Validation and normalisation of identity input: e-mail addresses, names, labels, hashes.

Each function takes untrusted input (it may not even be a `str`), returns the normalised value,
or raises `InvalidInput` naming the field. Work is bounded before it starts: over-long input is
refused by its raw length, so hostile input costs at most a few kilobytes of scanning.

E-mail normalisation (decided here, used for uniqueness and for matching invites):
  * surrounding whitespace is trimmed and the text is put in Unicode NFC;
  * the *whole* address is lower-cased, the local part too. RFC 5321 allows a mail server to treat
    `Alice@x` and `alice@x` as different mailboxes, but no mainstream one does, and two accounts
    that differ only by case are an impersonation hazard (an invite sent to `Alice@x` must not be
    accepted by a look-alike account). Dots and `+tags` are kept: their meaning is provider-specific;
  * quoted local parts, comments and address literals (`user@[10.0.0.1]`) are refused;
  * single-label domains (`ops@lab`) are accepted, because air-gapped sites use internal names.

Names (display names, organisation names, API-key and passkey labels) are trimmed, put in NFC,
limited in length, and refused if they hold control characters, line or paragraph separators, or
invisible and bidirectional-override characters that could make one name look like another.

This module must never read the clock or any state: it is pure functions of its input.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from appliance.kernel.errors import InvalidInput

EMAIL_CHARS_MAX = 254  # RFC 5321 path limit, less the angle brackets
EMAIL_LOCAL_CHARS_MAX = 64
EMAIL_LABEL_CHARS_MAX = 63
DISPLAY_NAME_CHARS_MAX = 100
ORG_NAME_CHARS_MAX = 100
LABEL_CHARS_MAX = 64
PASSWORD_HASH_CHARS_MAX = 512
SECRET_HASH_CHARS_MIN = 16
SECRET_HASH_CHARS_MAX = 256
PROVIDER_CHARS_MAX = 32
EXTERNAL_SUBJECT_CHARS_MAX = 255
CREDENTIAL_ID_BYTES_MAX = 1023  # WebAuthn §5.8.2
PUBLIC_KEY_BYTES_MAX = 2048
SIGN_COUNT_MAX = 2**32 - 1
# Raw input longer than this many times its limit is refused before it is even trimmed.
_RAW_SLACK_FACTOR = 4

_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PASSWORD_HASH_PREFIX = "$argon2id$"  # noqa: S105 - a format marker, not a secret
# Invisible or direction-changing characters (category Cf) that let one name masquerade as
# another. Zero-width joiner (U+200D) and non-joiner (U+200C) stay allowed: scripts and emoji
# sequences need them.
_DECEPTIVE = frozenset(
    (0x061C, 0x200B, 0x200E, 0x200F, 0xFEFF)  # letter mark, zero-width space, LRM, RLM, BOM
).union(range(0x202A, 0x202F), range(0x2060, 0x2065), range(0x2066, 0x206A))
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _text(value: object, field: str, chars_max: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if len(value) > chars_max * _RAW_SLACK_FACTOR:
        raise InvalidInput(f"{field} must be at most {chars_max} characters", field=field)
    return unicodedata.normalize("NFC", value.strip())


def _refuse_hidden(text: str, field: str) -> None:
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or ord(char) in _DECEPTIVE:
            raise InvalidInput(
                f"{field} must not contain control or invisible characters (found U+{ord(char):04X})",
                field=field,
            )


def check_name(value: object, *, field: str, chars_max: int) -> str:
    """A trimmed, NFC, visible name of 1 to `chars_max` characters."""
    text = _text(value, field, chars_max)
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > chars_max:
        raise InvalidInput(f"{field} must be at most {chars_max} characters", field=field)
    _refuse_hidden(text, field)
    return text


def check_display_name(value: object) -> str:
    return check_name(value, field="display_name", chars_max=DISPLAY_NAME_CHARS_MAX)


def check_org_name(value: object) -> str:
    return check_name(value, field="org_name", chars_max=ORG_NAME_CHARS_MAX)


def check_label(value: object, *, field: str) -> str:
    """A short user-chosen label (API-key name, passkey name)."""
    return check_name(value, field=field, chars_max=LABEL_CHARS_MAX)


def normalise_email(value: object, *, field: str = "email") -> str:
    """The canonical form of an e-mail address (see the module docstring for the rules)."""
    text = _text(value, field, EMAIL_CHARS_MAX)
    if not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > EMAIL_CHARS_MAX:
        raise InvalidInput(f"{field} must be at most {EMAIL_CHARS_MAX} characters", field=field)
    parts = text.split("@")
    if len(parts) != 2:
        raise InvalidInput(f"{field} must have the form name@domain", field=field)
    local, domain = parts
    _check_local_part(local, field)
    _check_domain(domain, field)
    return f"{local.lower()}@{domain.lower()}"


def _allowed_in_local(char: str) -> bool:
    if char in _ATEXT:
        return True
    # Internationalised addresses (RFC 6531): any visible non-ASCII character.
    return ord(char) > 0x7F and unicodedata.category(char)[0] not in "CZ"


def _check_local_part(local: str, field: str) -> None:
    if not local or len(local) > EMAIL_LOCAL_CHARS_MAX:
        message = f"{field}: the part before @ must be 1 to {EMAIL_LOCAL_CHARS_MAX} characters"
        raise InvalidInput(message, field=field)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidInput(f"{field}: dots must separate words before the @", field=field)
    for char in local:
        if char != "." and not _allowed_in_local(char):
            raise InvalidInput(f"{field}: character {char!r} is not allowed before the @", field=field)


def _check_domain(domain: str, field: str) -> None:
    if not domain:
        raise InvalidInput(f"{field}: the domain after @ is missing", field=field)
    for label in domain.split("."):
        if not label or len(label) > EMAIL_LABEL_CHARS_MAX:
            message = f"{field}: each domain label must be 1 to {EMAIL_LABEL_CHARS_MAX} characters"
            raise InvalidInput(message, field=field)
        if label.startswith("-") or label.endswith("-"):
            raise InvalidInput(f"{field}: a domain label must not start or end with '-'", field=field)
        if not all(char == "-" or char.isalnum() for char in label):
            raise InvalidInput(f"{field}: the domain may hold only letters, digits, '-' and '.'", field=field)


def _printable_ascii(text: str) -> bool:
    return all(0x21 <= ord(char) <= 0x7E for char in text)


def check_password_hash(value: object) -> str:
    """An argon2id encoded hash. Refusing anything else catches a plaintext password passed by mistake."""
    if not isinstance(value, str) or len(value) > PASSWORD_HASH_CHARS_MAX or not _printable_ascii(value):
        raise InvalidInput("password_hash must be an argon2id hash string", field="password_hash")
    if not value.startswith(_PASSWORD_HASH_PREFIX):
        raise InvalidInput("password_hash must be an argon2id hash string", field="password_hash")
    return value


def check_secret_hash(value: object, *, field: str) -> str:
    """The stored hash of a one-time secret (invite token, API key, reset token): opaque ASCII."""
    if (
        not isinstance(value, str)
        or not SECRET_HASH_CHARS_MIN <= len(value) <= SECRET_HASH_CHARS_MAX
        or not _printable_ascii(value)
    ):
        message = f"{field} must be {SECRET_HASH_CHARS_MIN}-{SECRET_HASH_CHARS_MAX} printable ASCII characters"
        raise InvalidInput(message, field=field)
    return value


def check_provider(value: object) -> str:
    """An external identity provider's configured name (`github`, `keycloak-corp`)."""
    if not isinstance(value, str) or not 0 < len(value) <= PROVIDER_CHARS_MAX or not _PROVIDER.match(value):
        message = f"provider must be 1-{PROVIDER_CHARS_MAX} of lower-case letters, digits, '-' and '_'"
        raise InvalidInput(message, field="provider")
    return value


def check_external_subject(value: object) -> str:
    """The provider's stable subject identifier (OIDC `sub`: at most 255 ASCII characters)."""
    length_ok = isinstance(value, str) and 0 < len(value) <= EXTERNAL_SUBJECT_CHARS_MAX
    if not length_ok or not isinstance(value, str) or not _printable_ascii(value):
        message = f"subject must be 1-{EXTERNAL_SUBJECT_CHARS_MAX} printable ASCII characters"
        raise InvalidInput(message, field="subject")
    return value


def check_bytes(value: object, *, field: str, bytes_max: int) -> bytes:
    if not isinstance(value, bytes) or not 0 < len(value) <= bytes_max:
        raise InvalidInput(f"{field} must be 1 to {bytes_max} bytes", field=field)
    return value


def check_sign_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SIGN_COUNT_MAX:
        raise InvalidInput(f"sign_count must be an integer from 0 to {SIGN_COUNT_MAX}", field="sign_count")
    return value


def check_seconds(value: object, *, field: str, seconds_min: int, seconds_max: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not seconds_min <= value <= seconds_max:
        raise InvalidInput(f"{field} must be from {seconds_min} to {seconds_max} seconds", field=field)
    return value


def check_aware(value: object, *, field: str) -> datetime:
    """A timezone-aware moment; a naive one would be read in whatever zone the reader assumes."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be a date-time with a timezone", field=field)
    return value
