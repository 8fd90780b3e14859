"""Authentication of client requests: Ed25519 JWTs from the control plane, or hashed API keys.

This module owns turning a presented credential into an `Identity` (or a refusal with a reason)
and the tenant check every request must pass. It must never trust a tenant id that did not come
out of a verified credential, never accept an algorithm other than EdDSA, and never keep an API
key in memory in clear: only SHA-256 digests are loaded, and they are compared in constant time.

A credential containing two dots is treated as a JWT, anything else as an API key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

JWT_AUDIENCE: Final = "craton-engine"
JWT_ISSUER_DEFAULT: Final = "craton-control-plane"
JWT_ALGORITHMS: Final = ["EdDSA"]
TOKEN_BYTES_MAX: Final = 8 * 1024
API_KEYS_MAX: Final = 10_000
VERIFIED_CACHE_ENTRIES_MAX: Final = 4096
TENANT_ID_MAX: Final = 2**32 - 1
# Control plane and replica clocks may differ a little; a token is not refused for that.
CLOCK_LEEWAY_S: Final = 5.0


class AuthError(Exception):
    """The credential is absent, malformed, expired, forged or for another tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Identity(msgspec.Struct, frozen=True):
    subject: str
    tenant_id: int
    method: Literal["jwt", "api_key"]
    # Seconds since the epoch; None for an API key without expiry.
    expires_at_s: float | None


class ApiKeyEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of the API-keys file: the hex SHA-256 of the key, never the key itself."""

    key_sha256: str
    tenant_id: int
    subject: str
    expires_at_s: float | None = None


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_api_keys(path: Path) -> list[ApiKeyEntry]:
    """Read a JSON array of `ApiKeyEntry`; any malformed entry refuses the whole file."""
    try:
        entries = msgspec.json.decode(path.read_bytes(), type=list[ApiKeyEntry])
    except (OSError, msgspec.DecodeError) as error:
        raise AuthError(f"cannot load API keys from {path}: {error}") from None
    if len(entries) > API_KEYS_MAX:
        raise AuthError(f"{path} holds {len(entries)} API keys; the limit is {API_KEYS_MAX}")
    for entry in entries:
        if len(entry.key_sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.key_sha256):
            raise AuthError(f"{path}: key_sha256 of {entry.subject!r} is not 64 lowercase hex digits")
        if not 0 <= entry.tenant_id <= TENANT_ID_MAX:
            raise AuthError(f"{path}: tenant_id of {entry.subject!r} is out of range")
    return entries


class Authenticator:
    """Verifies credentials. Thread-safe for reads; the verified-JWT cache is a bounded LRU.

    The cache only saves the Ed25519 signature check for a token already seen: its expiry is
    checked again on every use, and the cache key is the whole token, so a tampered token never
    hits it.
    """

    def __init__(
        self,
        *,
        public_keys: list[Ed25519PublicKey],
        api_keys: list[ApiKeyEntry],
        issuer: str = JWT_ISSUER_DEFAULT,
        clock: Callable[[], float] = time.time,
        leeway_s: float = CLOCK_LEEWAY_S,
    ) -> None:
        self._public_keys = list(public_keys)
        self._api_keys = [(bytes.fromhex(e.key_sha256), e) for e in api_keys]
        self._issuer = issuer
        self._clock = clock
        self._leeway_s = leeway_s
        self._verified: OrderedDict[str, Identity] = OrderedDict()

    def authenticate(self, credential: str | None) -> Identity:
        if not credential:
            raise AuthError("no credential: send a token in the handshake or the request")
        if len(credential) > TOKEN_BYTES_MAX:
            raise AuthError(f"credential longer than {TOKEN_BYTES_MAX} bytes")
        identity = self._jwt(credential) if credential.count(".") == 2 else self._api_key(credential)
        self.check_fresh(identity)
        return identity

    def has_verified(self, credential: str) -> bool:
        """True when this exact JWT was verified before (its decision is already audited)."""
        return credential in self._verified

    def check_fresh(self, identity: Identity) -> None:
        """Called on every request, so a connection cannot outlive its token."""
        if identity.expires_at_s is not None and self._clock() >= identity.expires_at_s + self._leeway_s:
            raise AuthError("credential has expired")

    def _jwt(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            self._verified.move_to_end(token)
            return cached
        if not self._public_keys:
            raise AuthError("JWT authentication is not configured on this replica")
        identity = self._verify_jwt(token)
        self._verified[token] = identity
        while len(self._verified) > VERIFIED_CACHE_ENTRIES_MAX:
            self._verified.popitem(last=False)
        return identity

    def _verify_jwt(self, token: str) -> Identity:
        last_reason = "no key"
        for key in self._public_keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=JWT_ALGORITHMS,
                    audience=JWT_AUDIENCE,
                    issuer=self._issuer,
                    # Times are checked below with the injected clock, the same one `check_fresh` uses.
                    options={
                        "require": ["exp", "iss", "aud", "sub", "tenant_id"],
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                )
            except jwt.InvalidSignatureError:
                last_reason = "signature does not verify"
                continue
            except jwt.PyJWTError as error:
                raise AuthError(f"invalid token: {error}") from None
            self._check_not_before(claims)
            return _identity_from_claims(claims)
        raise AuthError(f"invalid token: {last_reason}")

    def _check_not_before(self, claims: dict[str, object]) -> None:
        now = self._clock() + self._leeway_s
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise AuthError(f"invalid token: {name} must be a number")
            if value > now:
                raise AuthError(f"invalid token: not valid yet ({name} is in the future)")

    def _api_key(self, key: str) -> Identity:
        digest = hashlib.sha256(key.encode()).digest()
        found: ApiKeyEntry | None = None
        # Compare against every entry so the time taken does not say which one (or none) matched.
        for stored, entry in self._api_keys:
            if hmac.compare_digest(stored, digest):
                found = entry
        if found is None:
            raise AuthError("unknown API key")
        return Identity(found.subject, found.tenant_id, "api_key", found.expires_at_s)


def _identity_from_claims(claims: dict[str, object]) -> Identity:
    tenant = claims.get("tenant_id")
    if not isinstance(tenant, int) or isinstance(tenant, bool) or not 0 <= tenant <= TENANT_ID_MAX:
        raise AuthError("invalid token: tenant_id claim must be an integer in 0..2^32-1")
    subject = claims.get("sub")
    expires = claims.get("exp")
    if not isinstance(subject, str) or not isinstance(expires, int | float):
        raise AuthError("invalid token: sub must be a string and exp a number")
    return Identity(subject, tenant, "jwt", float(expires))


def check_tenant(identity: Identity, requested_tenant: int) -> None:
    """The request's tenant must be the credential's tenant: a claimed tenant is never trusted."""
    if identity.tenant_id != requested_tenant:
        raise AuthError(f"credential is for tenant {identity.tenant_id}, request names tenant {requested_tenant}")


def issue_token(
    private_key: Ed25519PrivateKey,
    *,
    tenant_id: int,
    subject: str,
    ttl_s: float,
    issuer: str = JWT_ISSUER_DEFAULT,
    now_s: float | None = None,
) -> str:
    """Sign a token the way the control plane does (used by `--dev`, tests and benchmarks)."""
    issued = time.time() if now_s is None else now_s
    claims = {
        "sub": subject,
        "tenant_id": tenant_id,
        "iss": issuer,
        "aud": JWT_AUDIENCE,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
    }
    return jwt.encode(claims, private_key, algorithm="EdDSA")
