"""Tests of e-mail normalisation and of the name, label and hash checks."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.identity.domain.validation import (
    DISPLAY_NAME_CHARS_MAX,
    EMAIL_CHARS_MAX,
    ORG_NAME_CHARS_MAX,
    check_display_name,
    check_external_subject,
    check_label,
    check_org_name,
    check_password_hash,
    check_provider,
    check_secret_hash,
    normalise_email,
)
from appliance.kernel.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("alice@example.org", "alice@example.org"),
        ("  Alice@Example.ORG \n", "alice@example.org"),
        ("Bob.Smith+Tag@Mail.Example.COM", "bob.smith+tag@mail.example.com"),
        ("ops@lab", "ops@lab"),
        ("o'hara@example.ie", "o'hara@example.ie"),
        ("JÖRG@Bücher.DE", "jörg@bücher.de"),
    ],
)
def test_email_normalisation_trims_and_lower_cases_the_whole_address(raw: str, normal: str) -> None:
    """Whitespace around the address goes, both parts are lower-cased, dots and +tags stay."""
    assert normalise_email(raw) == normal


def test_email_normalisation_unifies_unicode_forms() -> None:
    """A composed and a decomposed spelling of the same address normalise to one string."""
    composed = unicodedata.normalize("NFC", "josé@example.org")
    decomposed = unicodedata.normalize("NFD", "josé@example.org")
    assert composed != decomposed
    assert normalise_email(composed) == normalise_email(decomposed)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@example.org",
        "a@b@example.org",
        "@example.org",
        "alice@",
        ".alice@example.org",
        "alice.@example.org",
        "al..ice@example.org",
        '"quoted"@example.org',
        "alice smith@example.org",
        "alice@exa mple.org",
        "alice@[10.0.0.1]",
        "alice@-example.org",
        "alice@example-.org",
        "alice@example..org",
        "alice@example.org.",
        "ali\x00ce@example.org",
        "alice\u202e@example.org",
        "alice@exam\u200bple.org",
        "a" * 65 + "@example.org",
        "alice@" + "a" * 64 + ".org",
    ],
)
def test_malformed_emails_are_refused_with_the_field_named(raw: str) -> None:
    """Each malformed address is `InvalidInput` on the `email` field."""
    with pytest.raises(InvalidInput) as caught:
        normalise_email(raw)
    assert caught.value.field == "email"


def test_overlong_email_is_refused() -> None:
    """An address over 254 characters is refused, and a megabyte of input is refused by size first."""
    local = "a" * 64
    domain = ".".join(["b" * 60] * 4) + ".org"
    with pytest.raises(InvalidInput, match=f"at most {EMAIL_CHARS_MAX}"):
        normalise_email(f"{local}@{domain}")
    with pytest.raises(InvalidInput, match=f"at most {EMAIL_CHARS_MAX}"):
        normalise_email("a" * 1_000_000 + "@example.org")


@pytest.mark.parametrize("value", [None, 7, b"alice@example.org", ["alice@example.org"]])
def test_non_string_email_is_refused(value: object) -> None:
    """Anything but a string is `InvalidInput`, never a crash."""
    with pytest.raises(InvalidInput, match="string"):
        normalise_email(value)


@given(st.text(max_size=300))
def test_email_normalisation_never_crashes_and_is_idempotent(text: str) -> None:
    """For any text: either `InvalidInput`, or a normal form that normalises to itself."""
    try:
        normal = normalise_email(text)
    except InvalidInput:
        return
    assert normalise_email(normal) == normal
    assert normal == normal.strip()
    assert len(normal) <= EMAIL_CHARS_MAX


def test_names_are_trimmed_and_limited() -> None:
    """Names are trimmed; 1 to the limit is accepted, empty and over the limit are refused."""
    assert check_display_name("  Ada Lovelace  ") == "Ada Lovelace"
    assert check_org_name("x" * ORG_NAME_CHARS_MAX) == "x" * ORG_NAME_CHARS_MAX
    with pytest.raises(InvalidInput, match="empty"):
        check_display_name("   ")
    with pytest.raises(InvalidInput, match=f"at most {DISPLAY_NAME_CHARS_MAX}"):
        check_display_name("y" * (DISPLAY_NAME_CHARS_MAX + 1))
    with pytest.raises(InvalidInput) as caught:
        check_org_name("z" * 100_000)
    assert caught.value.field == "org_name"


@pytest.mark.parametrize(
    "name",
    [
        "line\nbreak",
        "tab\there",
        "nul\x00",
        "bell\x07",
        "rtl\u202eoverride",
        "zero\u200bwidth",
        "bom\ufeff",
        "sep\u2028arator",
    ],
)
def test_names_with_control_or_invisible_characters_are_refused(name: str) -> None:
    """Control characters, separators, bidi overrides and zero-width spaces are refused in names."""
    with pytest.raises(InvalidInput, match="control or invisible"):
        check_display_name(name)


def test_names_keep_scripts_and_emoji_sequences() -> None:
    """Non-Latin scripts and emoji joined with a zero-width joiner are accepted unchanged."""
    for name in ("Zoë Ångström", "山田太郎", "مريم", "Team 👩\u200d💻", "Rāma"):
        assert check_display_name(name) == unicodedata.normalize("NFC", name)


def test_labels_are_short_names() -> None:
    """Labels (key and passkey names) allow 64 characters and name the field in errors."""
    assert check_label("laptop key", field="name") == "laptop key"
    with pytest.raises(InvalidInput) as caught:
        check_label("k" * 65, field="name")
    assert caught.value.field == "name"


def test_password_hash_must_be_an_argon2id_string() -> None:
    """Only an argon2id encoded hash is accepted; a plaintext password is refused."""
    good = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
    assert check_password_hash(good) == good
    for bad in (
        "hunter2hunter2",
        "$argon2i$v=19$m=1,t=1,p=1$x$y",
        "$argon2id$ with space",
        "",
        None,
        "$argon2id$" + "a" * 600,
    ):
        with pytest.raises(InvalidInput):
            check_password_hash(bad)


def test_secret_hashes_are_opaque_printable_ascii_within_bounds() -> None:
    """Secret hashes of 16-256 printable ASCII characters pass; short, long or odd ones do not."""
    assert check_secret_hash("sha256:" + "ab" * 32, field="token_hash")
    for bad in ("short", "x" * 257, "has space" * 3, "ünïcode" * 4, None):
        with pytest.raises(InvalidInput) as caught:
            check_secret_hash(bad, field="token_hash")
        assert caught.value.field == "token_hash"


def test_provider_and_subject_checks() -> None:
    """Providers are lower-case slugs without ':'; subjects are 1-255 printable ASCII characters."""
    assert check_provider("keycloak-corp") == "keycloak-corp"
    assert check_external_subject("248289761001") == "248289761001"
    for bad in ("GitHub", "git:hub", "", "-x", "a" * 33):
        with pytest.raises(InvalidInput):
            check_provider(bad)
    for bad in ("", "x" * 256, "with space", "tab\t"):
        with pytest.raises(InvalidInput):
            check_external_subject(bad)
