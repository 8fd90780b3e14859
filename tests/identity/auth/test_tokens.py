"""Access tokens: issued with the active key, and every forged, altered, stale or foreign token refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.identity.auth.keys import Keyring
from appliance.identity.auth.tokens import (
    AccessClaims,
    AccessTokenConfig,
    AccessTokens,
    TokenExpired,
    TokenInvalid,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError, InvalidInput, Unauthenticated
from appliance.kernel.ids import SequentialIds, SessionId, UserId

CONFIG = AccessTokenConfig(issuer="https://craton.test", audience="craton-api", ttl_s=900, leeway_s=5)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_b64(value: object) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock()
        self.keys_dir = tmp_path / "jwt"
        self.ring = Keyring.open(self.keys_dir, self.clock, retain_s=CONFIG.key_retain_s)
        self.tokens = AccessTokens(self.ring, self.clock, CONFIG)
        ids = SequentialIds(seed=7)
        self.user_id = ids.new(UserId)
        self.session_id = ids.new(SessionId)

    def issue(self) -> str:
        return self.tokens.issue(self.user_id, self.session_id).token

    def claims(self, **overrides: object) -> dict[str, object]:
        now = int(self.clock.now().timestamp())
        base: dict[str, object] = {
            "iss": CONFIG.issuer,
            "aud": CONFIG.audience,
            "sub": str(self.user_id),
            "sid": str(self.session_id),
            "iat": now,
            "exp": now + CONFIG.ttl_s,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, claims: dict[str, object], **header: object) -> str:
        """Sign arbitrary claims and header fields with the ring's real active key."""
        key = self.ring.active()
        fields: dict[str, object] = {"typ": "at+jwt", "kid": key.kid}
        fields.update(header)
        return jwt.PyJWS().encode(json.dumps(claims).encode(), key.private_key, algorithm="EdDSA", headers=fields)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def _refused(setup: Setup, token: object, reason_part: str | None = None) -> TokenInvalid:
    with pytest.raises(TokenInvalid) as refused:
        setup.tokens.verify(token)
    assert refused.value.message == "access token is not valid"  # never says which check failed
    if reason_part is not None:
        assert reason_part in refused.value.reason
    return refused.value


def test_an_issued_token_verifies_to_its_claims(setup: Setup) -> None:
    """A fresh token names its user, session and kid, lives 15 minutes, has only the documented fields."""
    issued = setup.tokens.issue(setup.user_id, setup.session_id)
    assert issued.expires_in_s == 900
    claims = setup.tokens.verify(issued.token)
    assert claims == AccessClaims(
        user_id=setup.user_id,
        session_id=setup.session_id,
        issued_at=setup.clock.now(),
        expires_at=issued.expires_at,
        key_id=setup.ring.active().kid,
    )
    assert (issued.expires_at - setup.clock.now()).total_seconds() == 900
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": setup.ring.active().kid}
    payload = json.loads(base64.urlsafe_b64decode(issued.token.split(".")[1] + "=="))
    assert set(payload) == {"iss", "aud", "sub", "sid", "iat", "exp"}


def test_issue_needs_typed_ids(setup: Setup) -> None:
    """A session id passed where a user id belongs is refused, not signed."""
    with pytest.raises(InvalidInput):
        setup.tokens.issue(setup.session_id, setup.session_id)  # type: ignore[arg-type]


def test_tampered_tokens_are_refused(setup: Setup) -> None:
    """Changing the subject, flipping a signature byte or cutting the token off makes it invalid."""
    token = setup.issue()
    header, payload, signature = token.split(".")
    other = setup.claims(sub="01900000-0000-7000-8000-0000000000ff")
    _refused(setup, f"{header}.{_json_b64(other)}.{signature}", "Signature")
    raw_signature = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw_signature[10] ^= 0x01
    _refused(setup, f"{header}.{payload}.{_b64(bytes(raw_signature))}", "Signature")
    _refused(setup, f"{header}.{payload}")
    _refused(setup, f"{header}.{payload}.")
    _refused(setup, token[:-10])


def test_expiry_is_exp_plus_leeway_on_the_injected_clock(setup: Setup) -> None:
    """A token verifies until one second before exp + leeway, then is TokenExpired, cached or not."""
    token = setup.issue()
    setup.tokens.verify(token)  # now cached
    setup.clock.advance(CONFIG.ttl_s + CONFIG.leeway_s - 1)
    setup.tokens.verify(token)
    setup.clock.advance(1)
    with pytest.raises(TokenExpired) as expired:
        setup.tokens.verify(token)
    assert expired.value.code == "token_expired"
    assert isinstance(expired.value, Unauthenticated)
    uncached = AccessTokens(setup.ring, setup.clock, CONFIG, cache_entries_max=0)
    with pytest.raises(TokenExpired):
        uncached.verify(token)


def test_wrong_audience_and_wrong_issuer_are_refused(setup: Setup) -> None:
    """Tokens signed by our own key for another audience or issuer are refused."""
    _refused(setup, setup.sign(setup.claims(aud="some-other-api")), "audience")
    _refused(setup, setup.sign(setup.claims(aud=[CONFIG.audience, "x"])), "claims")
    _refused(setup, setup.sign(setup.claims(iss="https://evil.test")), "issuer")


def test_alg_none_is_refused(setup: Setup) -> None:
    """An unsigned token (alg none, empty signature) is refused, with our kid or without."""
    kid = setup.ring.active().kid
    claims = _json_b64(setup.claims())
    for header in [
        {"alg": "none", "typ": "at+jwt", "kid": kid},
        {"alg": "none"},
        {"alg": "None", "kid": kid},
    ]:
        _refused(setup, f"{_json_b64(header)}.{claims}.")
    # The same, with a real signature stapled on: the header still says none.
    signature = setup.issue().split(".")[2]
    _refused(setup, f"{_json_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{claims}.{signature}", "none")


def test_hs256_signed_with_our_public_key_is_refused(setup: Setup) -> None:
    """The algorithm-confusion attack (HMAC keyed with the public key, as PEM or raw) is refused."""
    public = setup.ring.active().public_key
    secrets_tried = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ]
    claims = _json_b64(setup.claims())
    for alg in ["HS256", "EdDSA"]:
        header = _json_b64({"alg": alg, "typ": "at+jwt", "kid": setup.ring.active().kid})
        for secret in secrets_tried:
            mac = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
            _refused(setup, f"{header}.{claims}.{_b64(mac)}")


def test_unknown_and_malformed_kids_are_refused(setup: Setup) -> None:
    """A kid not on file, a kid of the wrong shape, or no kid at all is refused."""
    claims = setup.claims()
    _refused(setup, setup.sign(claims, kid="20990101T000000000000Z-00000000"), "unknown signing key")
    _refused(setup, setup.sign(claims, kid="../../../etc/passwd"), "unknown signing key")
    no_kid = jwt.PyJWS().encode(
        json.dumps(claims).encode(),
        setup.ring.active().private_key,
        algorithm="EdDSA",
        headers={"typ": "at+jwt"},
    )
    _refused(setup, no_kid, "header")


def test_tokens_signed_by_another_key_are_refused(setup: Setup, tmp_path: Path) -> None:
    """A token from another appliance's keyring is refused, also when it claims our kid."""
    stranger = Setup(tmp_path / "elsewhere")
    foreign = stranger.tokens.issue(setup.user_id, setup.session_id).token
    _refused(setup, foreign, "unknown signing key")
    header = _json_b64({"alg": "EdDSA", "typ": "at+jwt", "kid": setup.ring.active().kid})
    claims = _json_b64(setup.claims())
    forged = stranger.ring.active().private_key.sign(f"{header}.{claims}".encode())
    _refused(setup, f"{header}.{claims}.{_b64(forged)}", "Signature")


def test_rotation_keeps_old_tokens_valid_until_expiry_then_refuses_them(setup: Setup) -> None:
    """After a rotation an old-key token verifies until it expires; once its key is pruned it is invalid."""
    old_token = setup.issue()
    old_kid = setup.ring.active().kid
    setup.clock.advance(60)
    setup.ring.rotate()
    new_token = setup.issue()
    assert jwt.get_unverified_header(new_token)["kid"] != old_kid
    setup.clock.advance(CONFIG.ttl_s - 60 - 1)
    assert setup.tokens.verify(old_token).key_id == old_kid
    assert setup.tokens.verify(new_token).key_id == setup.ring.active().kid
    setup.clock.advance(CONFIG.leeway_s + 1)
    with pytest.raises(TokenExpired):
        setup.tokens.verify(old_token)
    setup.clock.advance(CONFIG.key_retain_s)
    assert setup.ring.prune() == (old_kid,)
    _refused(setup, old_token, "unknown signing key")
    assert setup.tokens.verify(setup.issue()).key_id == setup.ring.active().kid


def test_a_removed_key_invalidates_its_cached_tokens(setup: Setup) -> None:
    """Deleting a (compromised) key file ends its tokens at the next reload, even ones already cached."""
    token = setup.issue()
    setup.tokens.verify(token)
    old_kid = setup.ring.active().kid
    setup.ring.rotate()
    (setup.keys_dir / f"{old_kid}.pem").unlink()
    setup.ring.reload()
    _refused(setup, token, "no longer on file")


def test_header_and_claim_sets_are_exact(setup: Setup) -> None:
    """Unknown header fields (jku, crit), a wrong typ, extra or missing claims and bad types are refused."""
    claims = setup.claims()
    _refused(setup, setup.sign(claims, jku="https://evil.test/keys"), "header")
    _refused(setup, setup.sign(claims, crit=["exp"]), "header")
    _refused(setup, setup.sign(claims, typ="JWT"), "typ")
    _refused(setup, setup.sign({**claims, "role": "owner"}), "claims")
    for missing in ["iss", "aud", "sub", "sid", "iat", "exp"]:
        _refused(setup, setup.sign(setup.claims(**{missing: None})), "claims")
    for field, value in [("exp", 1.5e9), ("exp", "1767226500"), ("iat", True), ("sub", 42)]:
        _refused(setup, setup.sign(setup.claims(**{field: value})), "claims")
    _refused(setup, setup.sign(setup.claims(sub="not-a-uuid")), "not an id")


def test_lifetimes_beyond_the_ttl_and_future_tokens_are_refused(setup: Setup) -> None:
    """A token living longer than the TTL, issued in the future, or with exp before iat is refused."""
    now = int(setup.clock.now().timestamp())
    _refused(setup, setup.sign(setup.claims(exp=now + CONFIG.ttl_s + 1)), "lifetime")
    _refused(setup, setup.sign(setup.claims(iat=now, exp=now)), "lifetime")
    _refused(setup, setup.sign(setup.claims(iat=now + 60, exp=now + 120)), "future")
    _refused(setup, setup.sign(setup.claims(iat=10**12, exp=10**12 + 60)), "future")
    assert setup.tokens.verify(setup.sign(setup.claims(iat=now + CONFIG.leeway_s, exp=now + 100)))


def test_hostile_shapes_are_refused_cleanly(setup: Setup) -> None:
    """Non-strings, empty, oversized, non-ASCII and non-JWT text are TokenInvalid, never another error."""
    for bad in [None, 42, b"bytes", "", "x" * 5000, "ä.b.c", "a.b.c", "....", "eyJ.eyJ.eyJ", "🙂"]:
        _refused(setup, bad)
    _refused(setup, f"{_json_b64(['not', 'an', 'object'])}.{_json_b64(setup.claims())}.sig", "header")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), replacement=st.sampled_from('AQgw-_x.9Z=\\"'))
def test_any_single_character_change_is_refused_or_harmless(setup: Setup, position: int, replacement: str) -> None:
    """Changing any one character gives TokenInvalid, or (unused base64 bits) exactly the same claims."""
    token = setup.issue()
    expected = setup.tokens.verify(token)
    index = position % len(token)
    mutated = token[:index] + replacement + token[index + 1 :]
    try:
        claims = setup.tokens.verify(mutated)
    except TokenInvalid:
        return
    assert claims == expected


def test_the_verified_cache_is_bounded(setup: Setup) -> None:
    """With room for two, verifying three tokens keeps two; each still verifies when asked again."""
    tokens = AccessTokens(setup.ring, setup.clock, CONFIG, cache_entries_max=2)
    issued = []
    for _ in range(3):
        issued.append(setup.issue())
        setup.clock.advance(1)
    for token in issued:
        tokens.verify(token)
    assert len(tokens._verified) == 2
    assert all(tokens.verify(token).user_id == setup.user_id for token in issued)


def test_configuration_is_validated() -> None:
    """Empty issuer or audience, a zero or day-plus TTL, and a huge leeway are configuration errors."""
    for bad in [
        {"issuer": "", "audience": "a"},
        {"issuer": "i", "audience": ""},
        {"issuer": "i", "audience": "a", "ttl_s": 0},
        {"issuer": "i", "audience": "a", "ttl_s": 86_401},
        {"issuer": "i", "audience": "a", "leeway_s": 301},
        {"issuer": "i", "audience": "a", "key_slack_s": -1},
    ]:
        with pytest.raises(ConfigError):
            AccessTokenConfig(**bad)  # type: ignore[arg-type]
    assert AccessTokenConfig(issuer="i", audience="a").key_retain_s == 900 + 5 + 60
