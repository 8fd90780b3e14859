"""Password hashing and policy: explicit argon2id parameters, rehash detection, boundaries, common list."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.identity.auth import passwords
from appliance.identity.auth.passwords import (
    ARGON2_PARAMS,
    PASSWORD_CHARS_MAX,
    PASSWORD_CHARS_MIN,
    Argon2Params,
    check_password_policy,
    hash_password,
    load_common_passwords,
    verify_password,
    verify_password_absent,
)
from appliance.kernel.errors import ConfigError, InvalidInput, InvariantViolation

# OWASP's floor: the cheapest parameters the module accepts, for tests where cost does not matter.
FAST = Argon2Params(time_cost=2, memory_kib=19 * 1024, parallelism=1, hash_bytes=32, salt_bytes=16)
UNCOMMON = "kv9#Tq2!Lm4@Zx7$"


def _of_length(n: int) -> str:
    return (UNCOMMON * (n // len(UNCOMMON) + 1))[:n]


def test_default_parameters_are_written_explicitly_into_the_hash() -> None:
    """A default hash carries argon2id, m=64 MiB, t=3, p=1, 32-byte hash and 16-byte salt."""
    stored = hash_password("a long enough secret")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    read_back = argon2.extract_parameters(stored)
    assert read_back.type is argon2.Type.ID
    assert (read_back.memory_cost, read_back.time_cost, read_back.parallelism) == (65536, 3, 1)
    assert (read_back.hash_len, read_back.salt_len) == (32, 16)
    assert (ARGON2_PARAMS.memory_kib, ARGON2_PARAMS.time_cost) == (65536, 3)


def test_verify_accepts_the_right_password_and_refuses_others() -> None:
    """The right password verifies without a rehash; a different one, or a case change, does not."""
    stored = hash_password("correct horse battery", params=FAST)
    assert verify_password(stored, "correct horse battery", params=FAST) == passwords.PasswordCheck(
        ok=True, needs_rehash=False
    )
    assert not verify_password(stored, "Correct horse battery", params=FAST).ok
    assert not verify_password(stored, "correct horse battery ", params=FAST).ok


def test_a_hash_made_with_older_parameters_verifies_and_asks_for_a_rehash() -> None:
    """A hash from weaker parameters still verifies, with needs_rehash set; a wrong password never sets it."""
    old = hash_password("correct horse battery", params=FAST)
    check = verify_password(old, "correct horse battery", params=ARGON2_PARAMS)
    assert check.ok
    assert check.needs_rehash
    refused = verify_password(old, "wrong horse battery")
    assert refused == passwords.PasswordCheck(ok=False, needs_rehash=False)


def test_salts_come_from_the_injected_source() -> None:
    """Two hashes differ by default; with a fixed injected salt source they are identical."""
    assert hash_password("same password!", params=FAST) != hash_password("same password!", params=FAST)

    def fixed(n: int) -> bytes:
        return b"\x01" * n

    one = hash_password("same password!", params=FAST, random_bytes=fixed)
    two = hash_password("same password!", params=FAST, random_bytes=fixed)
    assert one == two
    with pytest.raises(InvariantViolation):
        hash_password("same password!", params=FAST, random_bytes=lambda n: b"\x01" * (n - 1))


def test_parameters_below_the_owasp_minimum_are_refused() -> None:
    """m < 19 MiB, t < 2, p < 1 or short salts are configuration errors, not silently accepted."""
    with pytest.raises(ConfigError, match="below the minimum"):
        Argon2Params(time_cost=2, memory_kib=19 * 1024 - 1, parallelism=1, hash_bytes=32, salt_bytes=16)
    with pytest.raises(ConfigError, match="below the minimum"):
        Argon2Params(time_cost=1, memory_kib=64 * 1024, parallelism=1, hash_bytes=32, salt_bytes=16)
    with pytest.raises(ConfigError):
        Argon2Params(time_cost=2, memory_kib=64 * 1024, parallelism=0, hash_bytes=32, salt_bytes=16)
    with pytest.raises(ConfigError):
        Argon2Params(time_cost=2, memory_kib=64 * 1024, parallelism=1, hash_bytes=32, salt_bytes=8)


def test_unicode_passwords_verify_whatever_their_normal_form() -> None:
    """A password hashed in composed form verifies when typed decomposed (NFKC on both sides)."""
    composed = unicodedata.normalize("NFC", "mot de passe très sûr")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    stored = hash_password(composed, params=FAST)
    assert verify_password(stored, decomposed, params=FAST).ok
    assert verify_password(hash_password("пароль🔑секрет", params=FAST), "пароль🔑секрет", params=FAST).ok


def test_bad_verification_input_is_a_mismatch_and_bad_stored_hashes_are_loud() -> None:
    """Empty, oversized or non-string passwords are mismatches; a corrupt stored hash fails loudly."""
    stored = hash_password("correct horse battery", params=FAST)
    assert not verify_password(stored, "", params=FAST).ok
    assert not verify_password(stored, "x" * (PASSWORD_CHARS_MAX + 1), params=FAST).ok
    assert not verify_password(stored, "x" * 1_000_000, params=FAST).ok
    assert not verify_password(stored, 12345, params=FAST).ok  # type: ignore[arg-type]
    with pytest.raises(InvariantViolation, match="malformed"):
        verify_password("$argon2id$v=19$m=65536,t=3,p=1$garbage", "correct horse battery")
    with pytest.raises(InvariantViolation):
        verify_password("$" * 10_000, "correct horse battery")
    with pytest.raises(InvalidInput):
        hash_password("", params=FAST)


def test_an_absent_account_is_always_a_mismatch() -> None:
    """verify_password_absent never succeeds, whatever it is given."""
    for candidate in ["correct horse battery", "", "x" * 5000]:
        assert verify_password_absent(candidate, params=FAST) == passwords.PasswordCheck(ok=False, needs_rehash=False)


@pytest.mark.parametrize(
    ("length", "accepted"),
    [(PASSWORD_CHARS_MIN - 1, False), (PASSWORD_CHARS_MIN, True), (128, True), (1024, True), (1025, False)],
)
def test_length_boundaries(length: int, accepted: bool) -> None:
    """Passwords of 8 to 1024 characters are accepted; 7 and 1025 are refused with a clear message."""
    candidate = _of_length(length)
    if accepted:
        assert check_password_policy(candidate) == candidate
    else:
        with pytest.raises(InvalidInput, match=r"at (least 8|most 1024) characters") as refused:
            check_password_policy(candidate)
        assert refused.value.field == "password"


def test_length_counts_characters_after_normalisation() -> None:
    """Seven decomposed accented letters (14 code points) count as 7; eight emoji count as 8."""
    seven = unicodedata.normalize("NFD", "éàüöîçñ")
    assert len(seven) == 14
    with pytest.raises(InvalidInput, match="at least 8"):
        check_password_policy(seven)
    assert check_password_policy("🔑🌊🦊🍀🎲🧭🪐🎻") == "🔑🌊🦊🍀🎲🧭🪐🎻"


@pytest.mark.parametrize(
    "common",
    [
        "password",
        "PASSWORD",
        "Password1",
        "P@ssw0rd",
        "12345678",
        "qwertyuiop",
        "01011990",
        "ｐａｓｓｗｏｒｄ",
    ],
)
def test_common_passwords_are_refused_whatever_their_case_or_width(common: str) -> None:
    """Entries of the shipped list are refused, ignoring case and Unicode compatibility forms."""
    with pytest.raises(InvalidInput, match="too common"):
        check_password_policy(common)


def test_passwords_equal_to_the_users_own_email_or_name_are_refused() -> None:
    """The e-mail, its local part and the display name are refused as passwords, ignoring case."""
    context = ["Ada.Lovelace@example.org", "Countess Ada"]
    for candidate in ["ada.lovelace@example.org", "ADA.LOVELACE", "countess ada"]:
        with pytest.raises(InvalidInput, match="e-mail address or name"):
            check_password_policy(candidate, context=context)
    assert check_password_policy("analytical engine notes", context=context)


@pytest.mark.parametrize("bad", ["abc\x00defghij", "abcdefgh\nij", "abcd\ud800efghij", "\x1b[31mredpassword"])
def test_control_characters_and_lone_surrogates_are_refused(bad: str) -> None:
    """NUL, newlines, escape sequences and lone surrogates are refused with a clear message."""
    with pytest.raises(InvalidInput, match="control characters"):
        check_password_policy(bad)


def test_non_string_passwords_are_refused() -> None:
    """A password that is not a string (a JSON number, null, bytes) is InvalidInput, not a crash."""
    for bad in [None, 12345678, b"bytes-password", ["a"]]:
        with pytest.raises(InvalidInput, match="must be a string"):
            check_password_policy(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1100))
def test_the_policy_either_accepts_or_says_why(candidate: str) -> None:
    """For any text the policy returns a normalised password of legal length or raises InvalidInput."""
    outcome: str | InvalidInput
    try:
        outcome = check_password_policy(candidate)
    except InvalidInput as refused:
        outcome = refused
    if isinstance(outcome, InvalidInput):
        assert outcome.field == "password"
        assert outcome.message
    else:
        assert PASSWORD_CHARS_MIN <= len(outcome) <= PASSWORD_CHARS_MAX
        assert outcome == unicodedata.normalize("NFKC", candidate)


def test_the_shipped_list_is_lower_case_sorted_unique_and_within_lengths() -> None:
    """common_passwords.txt ships in the package: 50k-100k sorted unique lower-case entries of 8-64 chars."""
    path = Path(passwords.__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith("#")]
    entries = [line for line in lines if not line.startswith("#")]
    assert any("public domain" in line for line in header)
    assert entries == sorted(set(entries))
    assert all(entry == entry.lower() and 8 <= len(entry) <= 64 for entry in entries)
    assert 50_000 <= len(entries) <= 100_000
    assert load_common_passwords() == frozenset(entries)
    assert Path(passwords.__file__).with_name("common_passwords.md").is_file()
