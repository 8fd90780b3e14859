"""Password hashing (argon2id with explicit parameters) and the password policy.

Owns:
- `Argon2Params` and `ARGON2_PARAMS`, the parameters every new hash uses. They are explicit and
  written into each hash string, so a change of parameters is detected at the next login
  (`PasswordCheck.needs_rehash`) and the caller re-hashes then.
- `hash_password`, `verify_password` and `verify_password_absent` (the last one spends the same
  work for an unknown account, so that response time does not tell which e-mails exist).
- `check_password_policy`: 8 to 1024 characters after NFKC normalisation, no control characters,
  not in the shipped list of common passwords (`common_passwords.txt`, see `common_passwords.md`),
  not the user's own e-mail or name. No composition rules (NIST SP 800-63B §5.1.1.2).

Passwords are normalised to NFKC before hashing and before checking, so the same password typed as
composed or decomposed Unicode verifies either way.

Hashing is deliberately slow (about 0.1 s and 64 MiB with the default parameters): callers on an
event loop run it in a worker thread, bound how many run at once, and rate-limit login attempts
*before* calling it.

This module must never log, keep or return a password, compare hashes with `==`, read the clock,
or download anything.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.kernel.errors import ConfigError, InvalidInput, InvariantViolation
from appliance.kernel.structs import Struct

PASSWORD_CHARS_MIN = 8
PASSWORD_CHARS_MAX = 1024
# The hard floor below which no configuration may go: OWASP's argon2id minimum (m=19 MiB, t=2, p=1).
ARGON2_MEMORY_KIB_MIN = 19 * 1024
ARGON2_TIME_COST_MIN = 2
_STORED_HASH_CHARS_MAX = 512
_RAW_CHARS_PER_CHAR_MAX = 4
_COMMON_PASSWORDS_FILE = "common_passwords.txt"

RandomBytes = Callable[[int], bytes]


class Argon2Params(Struct, frozen=True):
    """Argon2id cost parameters. Every field is written into the hash string it produces."""

    time_cost: int
    memory_kib: int
    parallelism: int
    hash_bytes: int
    salt_bytes: int

    def __post_init__(self) -> None:
        if self.memory_kib < ARGON2_MEMORY_KIB_MIN or self.time_cost < ARGON2_TIME_COST_MIN:
            raise ConfigError(
                f"argon2id parameters m={self.memory_kib} KiB, t={self.time_cost} are below the "
                f"minimum m={ARGON2_MEMORY_KIB_MIN} KiB, t={ARGON2_TIME_COST_MIN}"
            )
        if self.parallelism < 1 or self.hash_bytes < 16 or self.salt_bytes < 16:
            raise ConfigError("argon2id needs parallelism >= 1, hash and salt of at least 16 bytes")


# 64 MiB, 3 passes, one lane: RFC 9106's low-memory choice with p=1 (above OWASP's minimum); about
# 0.13 s per hash on the 2-core reference machine (bench/README.md).
ARGON2_PARAMS = Argon2Params(time_cost=3, memory_kib=64 * 1024, parallelism=1, hash_bytes=32, salt_bytes=16)


class PasswordCheck(Struct, frozen=True):
    """Outcome of a verification. `needs_rehash` is only ever true when `ok` is."""

    ok: bool
    needs_rehash: bool


@functools.cache
def _hasher(params: Argon2Params) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_bytes,
        salt_len=params.salt_bytes,
        type=argon2.Type.ID,
    )


def normalize_password(password: str) -> str:
    """NFKC, so that one password has one byte form whatever keyboard or OS produced it."""
    return unicodedata.normalize("NFKC", password)


def hash_password(
    password: str, *, params: Argon2Params = ARGON2_PARAMS, random_bytes: RandomBytes = secrets.token_bytes
) -> str:
    """Hash an already policy-checked password; returns the PHC string (`$argon2id$v=19$m=…`)."""
    if not isinstance(password, str) or not password:
        raise InvalidInput("password must be a non-empty string", field="password")
    salt = random_bytes(params.salt_bytes)
    if len(salt) != params.salt_bytes:
        raise InvariantViolation("the random source returned a salt of the wrong length")
    return _hasher(params).hash(normalize_password(password), salt=salt)


def verify_password(stored_hash: str, password: str, *, params: Argon2Params = ARGON2_PARAMS) -> PasswordCheck:
    """Check `password` against `stored_hash` in constant time (argon2's own comparison).

    A password longer than any acceptable one is a mismatch without hashing (nothing to find, and
    hashing megabytes on request is a denial-of-service lever). A stored hash that cannot be parsed
    is data corruption, not the caller's fault: `InvariantViolation` (the message names libargon2's
    reason, never the password).
    """
    if not isinstance(stored_hash, str) or len(stored_hash) > _STORED_HASH_CHARS_MAX:
        raise InvariantViolation("the stored password hash is not a string of sane length")
    # NFKC can shorten decomposed text a lot, so the cheap guard on the raw form is generous.
    raw_chars_max = _RAW_CHARS_PER_CHAR_MAX * PASSWORD_CHARS_MAX
    if not isinstance(password, str) or not password or len(password) > raw_chars_max:
        return PasswordCheck(ok=False, needs_rehash=False)
    normalized = normalize_password(password)
    if len(normalized) > PASSWORD_CHARS_MAX:
        return PasswordCheck(ok=False, needs_rehash=False)
    hasher = _hasher(params)
    try:
        hasher.verify(stored_hash, normalized)
    except VerifyMismatchError:
        return PasswordCheck(ok=False, needs_rehash=False)
    except (InvalidHashError, VerificationError) as error:
        # libargon2 reports an undecodable stored hash as a plain VerificationError ("Decoding
        # failed"); either way it is corruption of our data, never a wrong password.
        raise InvariantViolation(f"the stored password hash is malformed ({error})") from None
    return PasswordCheck(ok=True, needs_rehash=hasher.check_needs_rehash(stored_hash))


@functools.cache
def _absent_account_hash(params: Argon2Params) -> str:
    # A hash of a random password nobody knows: verifying against it costs what a real check costs.
    return _hasher(params).hash(secrets.token_urlsafe(32))


def verify_password_absent(password: str, *, params: Argon2Params = ARGON2_PARAMS) -> PasswordCheck:
    """Spend one verification's work for an account that does not exist; always a mismatch."""
    # Always hash, whatever the input looks like: an early return here would be measurable.
    candidate = password if isinstance(password, str) and password else "-"
    with contextlib.suppress(VerificationError):
        _hasher(params).verify(_absent_account_hash(params), candidate[:PASSWORD_CHARS_MAX])
    return PasswordCheck(ok=False, needs_rehash=False)


@functools.cache
def load_common_passwords() -> frozenset[str]:
    """The shipped list, loaded once from the package (never from the network)."""
    source = resources.files("appliance.identity.auth").joinpath(_COMMON_PASSWORDS_FILE)
    text = source.read_text(encoding="utf-8")
    entries = frozenset(line for line in text.splitlines() if line and not line.startswith("#"))
    if len(entries) < 1000:
        raise ConfigError(f"{_COMMON_PASSWORDS_FILE} is missing or truncated ({len(entries)} entries)")
    return entries


def _has_forbidden_characters(password: str) -> bool:
    # Control characters (Cc) are never typed on purpose; lone surrogates (Cs) cannot be encoded.
    return any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in password)


def _context_words(context: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for item in context:
        folded = normalize_password(item).casefold().strip()
        if folded:
            words.add(folded)
            words.add(folded.split("@", 1)[0])
    return words


def check_password_policy(password: object, *, context: Iterable[str] = ()) -> str:
    """Refuse a password a user must not choose; returns it normalised. Errors are `InvalidInput`.

    `context` holds the user's own e-mail and display name: the password may not equal either
    (nor the e-mail's local part), ignoring case.
    """
    if not isinstance(password, str):
        raise InvalidInput("password must be a string", field="password")
    if _has_forbidden_characters(password):
        raise InvalidInput("password must not contain control characters", field="password")
    normalized = normalize_password(password)
    if len(normalized) < PASSWORD_CHARS_MIN:
        raise InvalidInput(f"password must be at least {PASSWORD_CHARS_MIN} characters", field="password")
    if len(normalized) > PASSWORD_CHARS_MAX:
        raise InvalidInput(f"password must be at most {PASSWORD_CHARS_MAX} characters", field="password")
    folded = normalized.casefold()
    if folded in load_common_passwords():
        raise InvalidInput("password is too common; choose a less predictable one", field="password")
    if folded in _context_words(context):
        raise InvalidInput("password must not be your e-mail address or name", field="password")
    return normalized
