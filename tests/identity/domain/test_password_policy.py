"""Tests of the password policy."""

from __future__ import annotations

import pytest

from appliance.identity.domain.password_policy import PASSWORD_CHARS_MAX, check_password
from appliance.kernel.errors import InvalidInput

COMMON = frozenset({"password1", "correcthorse", "qwertyuiop"})


@pytest.mark.parametrize("length", [8, 9, 128, 129, 1024])
def test_lengths_from_8_to_1024_are_accepted(length: int) -> None:
    """Every length from the floor of 8 to the ceiling of 1024 characters is accepted."""
    check_password("x" * (length - 1) + "!", COMMON)


@pytest.mark.parametrize("length", [0, 1, 7])
def test_shorter_than_8_is_refused(length: int) -> None:
    """Fewer than 8 characters is refused with a message that gives the minimum."""
    with pytest.raises(InvalidInput, match="at least 8") as caught:
        check_password("y" * length, COMMON)
    assert caught.value.field == "password"


@pytest.mark.parametrize("length", [1025, 5000, 1_000_000])
def test_longer_than_1024_is_refused(length: int) -> None:
    """More than 1024 characters is refused with a message that gives the maximum."""
    with pytest.raises(InvalidInput, match=f"at most {PASSWORD_CHARS_MAX}"):
        check_password("z" * length, COMMON)


def test_no_composition_rules() -> None:
    """Lower-case letters only, digits only, or spaces in a pass-phrase are all fine."""
    for password in ("abcdefghij", "8675309142", "tiny horses eat green apples"):
        check_password(password, COMMON)


@pytest.mark.parametrize("password", ["password1", "PASSWORD1", "PassWord1", "CorrectHorse"])
def test_common_passwords_are_refused_whatever_their_case(password: str) -> None:
    """An entry of the common list is refused in any mix of upper and lower case."""
    with pytest.raises(InvalidInput, match="too common"):
        check_password(password, COMMON)


def test_the_users_own_email_is_refused() -> None:
    """The user's e-mail address, or its part before the @, is refused as a password, in any case."""
    with pytest.raises(InvalidInput, match="e-mail"):
        check_password("Alice.Liddell@Example.org", COMMON, email="alice.liddell@example.org")
    with pytest.raises(InvalidInput, match="e-mail"):
        check_password("ALICE.LIDDELL", COMMON, email="alice.liddell@example.org")
    check_password("alice.liddell-rabbit", COMMON, email="alice.liddell@example.org")


def test_unicode_counts_code_points() -> None:
    """Eight non-ASCII characters make an acceptable password; seven do not."""
    check_password("пароль日本語", COMMON)
    with pytest.raises(InvalidInput):
        check_password("日本語日本語日", COMMON)


def test_the_nfkc_form_is_what_counts() -> None:
    """A full-width spelling of a common password is refused, and length is that of the NFKC form."""
    with pytest.raises(InvalidInput, match="too common"):
        check_password("ｐａｓｓｗｏｒｄ１", COMMON)
    check_password("ﬁﬁﬁﬁ", COMMON)  # four ligatures typed, eight letters once normalised
    with pytest.raises(InvalidInput, match="at least 8"):
        check_password("e\u0301" * 4, COMMON)  # eight code points typed, four letters once normalised


@pytest.mark.parametrize("password", ["has\ttab12", "new\nline12", "nul\x00byte12", "lone\ud800surrogate"])
def test_control_characters_are_refused(password: str) -> None:
    """Control characters, which cannot be typed back reliably, are refused."""
    with pytest.raises(InvalidInput, match="control"):
        check_password(password, COMMON)


@pytest.mark.parametrize("password", [None, 12345678, b"bytes-password"])
def test_non_strings_are_refused(password: object) -> None:
    """Anything but a string is `InvalidInput`, not a crash."""
    with pytest.raises(InvalidInput, match="string"):
        check_password(password, COMMON)


def test_errors_never_echo_the_password() -> None:
    """No refusal message contains the password it refused."""
    for password in ("short1", "password1", "x" * 2000, "me@example.org", "ctrl\x01char99"):
        with pytest.raises(InvalidInput) as caught:
            check_password(password, COMMON, email="me@example.org")
        assert password not in caught.value.message
