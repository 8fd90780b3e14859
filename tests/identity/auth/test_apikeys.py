"""API keys: format, entropy from the injected source, SHA-256 storage, checksum, malformed input."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.identity.auth.apikeys import (
    API_KEY_CHARS,
    ApiKeyMalformed,
    PresentedApiKey,
    api_key_matches,
    issue_api_key,
    looks_like_api_key,
    parse_api_key,
)
from appliance.kernel.errors import InvariantViolation, Unauthenticated

SHAPE = re.compile(r"\Acrk_[a-z2-7]{12}_[a-z2-7]{39}\Z")


def test_a_new_key_has_the_documented_shape_and_is_stored_as_sha256() -> None:
    """crk_ + 12-char prefix + _ + 32-char secret + 7-char checksum, 56 chars; the stored hash is SHA-256 of it."""
    issued = issue_api_key()
    assert SHAPE.match(issued.token)
    assert len(issued.token) == API_KEY_CHARS == 56
    assert issued.token[4:16] == issued.prefix
    assert issued.key_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert parse_api_key(issued.token) == PresentedApiKey(prefix=issued.prefix, key_hash=issued.key_hash)


def test_keys_carry_60_lookup_bits_and_160_secret_bits_from_the_injected_source() -> None:
    """The source is asked for 8 then 20 bytes; all-ones bytes fill every prefix and secret character."""
    asked: list[int] = []

    def ones(n: int) -> bytes:
        asked.append(n)
        return b"\xff" * n

    issued = issue_api_key(random_bytes=ones)
    assert asked == [8, 20]  # 60 bits rounded up to bytes, then exactly 160 bits
    assert issued.prefix == "7" * 12
    assert issued.token[17:49] == "7" * 32
    zeros = issue_api_key(random_bytes=lambda n: b"\x00" * n)
    assert zeros.token.startswith("crk_aaaaaaaaaaaa_" + "a" * 32)
    with pytest.raises(InvariantViolation):
        issue_api_key(random_bytes=lambda n: b"\x00" * (n - 1))


def test_keys_are_unique() -> None:
    """A thousand fresh keys have a thousand distinct prefixes and secrets."""
    issued = [issue_api_key() for _ in range(1000)]
    assert len({key.prefix for key in issued}) == 1000
    assert len({key.token[17:49] for key in issued}) == 1000


def test_matching_is_by_hash() -> None:
    """A key matches its own stored hash and no other key's."""
    one, two = issue_api_key(), issue_api_key()
    assert api_key_matches(parse_api_key(one.token), one.key_hash)
    assert not api_key_matches(parse_api_key(one.token), two.key_hash)
    assert not api_key_matches(parse_api_key(one.token), "")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: None, "must be a string"),
        (lambda t: t.replace("crk_", "crx_"), "must start with 'crk_'"),
        (lambda t: t.upper(), "must start with 'crk_'"),
        (lambda t: t[:-1], "56 characters long, not 55"),
        (lambda t: t + "a", "56 characters long, not 57"),
        (lambda t: t + "a" * 10_000, "not more than 256"),
        (lambda t: "crk_", "not 4"),
        (lambda t: t[:16] + "-" + t[17:], "must have '_' after"),
        (lambda t: t[:20] + "A" + t[21:], "only contain the characters a-z and 2-7"),
        (lambda t: t[:20] + "0" + t[21:], "only contain the characters a-z and 2-7"),
        (lambda t: t[:20] + "é" + t[21:], "only contain the characters a-z and 2-7"),
        (lambda t: t[:-1] + ("b" if t[-1] != "b" else "c"), "checksum does not match"),
        (lambda t: t[:30] + t[31] + t[30] + t[32:], "checksum does not match"),
    ],
)
def test_malformed_keys_are_refused_saying_what_is_wrong(mangle: object, message: str) -> None:
    """Wrong type, prefix, length, separator, alphabet or checksum each get their own clear message."""
    token = issue_api_key(random_bytes=lambda n: bytes(range(1, n + 1))).token
    bad = mangle(token)  # type: ignore[operator]
    if bad == token:
        bad = token[:30] + ("b" if token[30] != "b" else "c") + token[31:]
    with pytest.raises(ApiKeyMalformed, match=re.escape(message)) as refused:
        parse_api_key(bad)
    assert isinstance(refused.value, Unauthenticated)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=4, max_value=55), st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_any_single_character_typo_is_caught_by_the_checksum(position: int, replacement: str) -> None:
    """Changing any one character after crk_ (to another legal one) is refused before any lookup."""
    token = issue_api_key().token
    if token[position] == replacement or position == 16:
        replacement = "a" if token[position] != "a" else "b"
    typo = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(ApiKeyMalformed):
        parse_api_key(typo)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    """Any text either parses (only real keys do) or is ApiKeyMalformed; nothing else escapes."""
    with pytest.raises(ApiKeyMalformed):
        parse_api_key(text)


def test_routing_bearer_credentials() -> None:
    """Only values starting with crk_ are routed to API-key checks; access tokens and junk are not."""
    assert looks_like_api_key(issue_api_key().token)
    assert looks_like_api_key("crk_garbage")
    for other in ["eyJhbGciOiJFZERTQSJ9.e30.sig", "", None, "CRK_x", "crr_x"]:
        assert not looks_like_api_key(other)
