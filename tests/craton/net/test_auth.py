"""Unit tests of credential verification: EdDSA JWTs and hashed API keys, good and hostile."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.server.auth import (
    JWT_AUDIENCE,
    JWT_ISSUER_DEFAULT,
    ApiKeyEntry,
    Authenticator,
    AuthError,
    Identity,
    check_tenant,
    hash_api_key,
    issue_token,
    load_api_keys,
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


NOW = 1_800_000_000.0


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def auth(key: Ed25519PrivateKey, clock: Clock) -> Authenticator:
    entry = ApiKeyEntry(hash_api_key("ck_live_secret"), 9, "ci-bot", None)
    return Authenticator(public_keys=[key.public_key()], api_keys=[entry], clock=clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "alice",
        "tenant_id": 5,
        "iss": JWT_ISSUER_DEFAULT,
        "aud": JWT_AUDIENCE,
        "iat": int(NOW),
        "exp": int(NOW + 600),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_valid_token_gives_its_tenant_and_subject(auth: Authenticator, key: Ed25519PrivateKey) -> None:
    """A token signed by the control plane's key yields the identity in its claims."""
    token = issue_token(key, tenant_id=5, subject="alice", ttl_s=600, now_s=NOW)
    assert auth.authenticate(token) == Identity("alice", 5, "jwt", NOW + 600)


def test_an_expired_token_is_refused(auth: Authenticator, key: Ed25519PrivateKey) -> None:
    """A token whose exp has passed is refused."""
    token = issue_token(key, tenant_id=5, subject="alice", ttl_s=60, now_s=NOW - 120)
    with pytest.raises(AuthError, match="expired"):
        auth.authenticate(token)


def test_a_cached_token_is_still_refused_once_it_expires(
    auth: Authenticator, key: Ed25519PrivateKey, clock: Clock
) -> None:
    """The verification cache never outlives a token: after exp, the same token is refused."""
    token = issue_token(key, tenant_id=5, subject="alice", ttl_s=60, now_s=NOW)
    identity = auth.authenticate(token)
    clock.now = NOW + 61 + 5
    with pytest.raises(AuthError, match="expired"):
        auth.authenticate(token)
    with pytest.raises(AuthError, match="expired"):
        auth.check_fresh(identity)


def test_a_token_signed_by_another_key_is_refused(auth: Authenticator) -> None:
    """A well-formed token signed by a key the replica does not trust is refused."""
    token = issue_token(Ed25519PrivateKey.generate(), tenant_id=5, subject="alice", ttl_s=600, now_s=NOW)
    with pytest.raises(AuthError, match="signature"):
        auth.authenticate(token)


def test_a_tampered_token_is_refused(auth: Authenticator, key: Ed25519PrivateKey) -> None:
    """Changing the tenant_id in a signed token's payload breaks its signature."""
    token = issue_token(key, tenant_id=5, subject="alice", ttl_s=600, now_s=NOW)
    header, _, signature = token.split(".")
    forged = _b64(json.dumps(_claims(tenant_id=6)).encode())
    with pytest.raises(AuthError):
        auth.authenticate(f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(auth: Authenticator) -> None:
    """An unsigned token (alg: none) is refused whatever it claims."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_is_refused(auth: Authenticator, key: Ed25519PrivateKey) -> None:
    """Key confusion (HMAC keyed with the public key bytes) is refused by the algorithm allowlist."""
    public_pem = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    import hashlib
    import hmac

    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"iss": "evil"}, "(?i)issuer"),
        ({"tenant_id": None}, "tenant_id"),
        ({"exp": None}, "exp"),
        ({"tenant_id": True}, "tenant_id claim"),
        ({"tenant_id": "5"}, "tenant_id claim"),
        ({"tenant_id": 2**32}, "tenant_id claim"),
        ({"sub": None}, "sub"),
    ],
)
def test_tokens_with_wrong_or_missing_claims_are_refused(
    auth: Authenticator, key: Ed25519PrivateKey, overrides: dict[str, object], fragment: str
) -> None:
    """Wrong audience or issuer, missing exp/sub/tenant_id, and a tenant_id that is not a u32 are refused."""
    token = jwt.encode(_claims(**overrides), key, algorithm="EdDSA")
    with pytest.raises(AuthError, match=fragment):
        auth.authenticate(token)


def test_no_credential_and_oversized_credentials_are_refused(auth: Authenticator) -> None:
    """An empty credential and one over the size limit are refused without verification."""
    with pytest.raises(AuthError, match="no credential"):
        auth.authenticate(None)
    with pytest.raises(AuthError, match="longer than"):
        auth.authenticate("x" * 10_000)


def test_api_keys_are_matched_by_hash(auth: Authenticator) -> None:
    """A known API key gives its tenant; an unknown one is refused."""
    assert auth.authenticate("ck_live_secret") == Identity("ci-bot", 9, "api_key", None)
    with pytest.raises(AuthError, match="unknown API key"):
        auth.authenticate("ck_live_guess")


def test_an_expired_api_key_is_refused(key: Ed25519PrivateKey, clock: Clock) -> None:
    """An API key with an expiry in the past is refused."""
    entry = ApiKeyEntry(hash_api_key("old"), 1, "old-bot", NOW - 60)
    auth = Authenticator(public_keys=[], api_keys=[entry], clock=clock)
    with pytest.raises(AuthError, match="expired"):
        auth.authenticate("old")


def test_jwt_is_refused_when_only_api_keys_are_configured(key: Ed25519PrivateKey, clock: Clock) -> None:
    """Without a public key no JWT is accepted, however it is signed."""
    auth = Authenticator(public_keys=[], api_keys=[], clock=clock)
    with pytest.raises(AuthError, match="not configured"):
        auth.authenticate(issue_token(key, tenant_id=1, subject="a", ttl_s=60, now_s=NOW))


def test_the_tenant_check_refuses_a_claimed_tenant_that_is_not_the_credentials() -> None:
    """A request naming another tenant than its credential's is refused."""
    check_tenant(Identity("a", 5, "jwt", None), 5)
    with pytest.raises(AuthError, match="tenant 5, request names tenant 6"):
        check_tenant(Identity("a", 5, "jwt", None), 6)


def test_api_key_file_loads_hashes_and_refuses_bad_entries(tmp_path: Path) -> None:
    """The keys file holds SHA-256 digests; a clear-text key or a bad tenant refuses the whole file."""
    good = tmp_path / "keys.json"
    good.write_text(json.dumps([{"key_sha256": hash_api_key("k"), "tenant_id": 3, "subject": "s"}]))
    assert load_api_keys(good)[0].tenant_id == 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"key_sha256": "ck_plaintext", "tenant_id": 3, "subject": "s"}]))
    with pytest.raises(AuthError, match="64 lowercase hex"):
        load_api_keys(bad)
    bad.write_text(json.dumps([{"key_sha256": hash_api_key("k"), "tenant_id": -1, "subject": "s"}]))
    with pytest.raises(AuthError, match="out of range"):
        load_api_keys(bad)
    bad.write_text("{not json")
    with pytest.raises(AuthError, match="cannot load"):
        load_api_keys(bad)
