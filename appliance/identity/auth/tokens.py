"""Access tokens: short-lived EdDSA-signed JWTs (PyJWT), issued and verified against the keyring.

Owns the access-token format and every check made on it:
- header exactly `{"alg": "EdDSA", "typ": "at+jwt", "kid": <kid>}` (RFC 9068's `typ`, so an ID
  token or any other JWT can never pass as an access token); the algorithm allowlist is
  `["EdDSA"]` only, so `none`, HS* (including an HMAC "signed" with our public key) and RS*/ES*
  are refused before any key is used;
- claims exactly `iss`, `aud`, `sub` (the user id), `sid` (the session id), `iat`, `exp`; unknown
  header fields (`jku`, `jwk`, `x5u`, `crit`…) or claims are refused, as are a wrong issuer or
  audience, a lifetime longer than the configured TTL, and an `iat` in the future;
- time comes from the injected `Clock` only (PyJWT's own wall-clock checks are switched off and
  done here), with `leeway_s` of tolerance for clocks of several appliances behind one balancer.

Every refusal is `TokenInvalid` (code `token_invalid`) with the public message "access token is
not valid" and an internal `reason` for logs, or `TokenExpired` (code `token_expired`) so a client
knows to refresh; both are `Unauthenticated`. No message says which check failed.

Verification of a token already seen is a dictionary hit (a bounded LRU of verified tokens keyed by
the whole token text, re-checked for expiry and for its key on every hit), because an Ed25519
signature check alone costs about 85 µs on the reference machine and a client sends the same
token for its whole life. A token's validity never depends on the cache.

Whether the session behind a token is still live (not revoked, user not disabled) is the caller's
check against the session store: a token proves who signed in, not that they still may.

Public API: `AccessTokenConfig`, `AccessTokens(keyring, clock, config)` with `issue(user_id,
session_id) -> IssuedAccessToken` and `verify(token) -> AccessClaims`, `TokenInvalid`,
`TokenExpired`.

This module must never accept an algorithm other than EdDSA, log a token, or read the wall clock.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import jwt
import msgspec

from appliance.identity.auth.keys import Keyring, is_valid_kid
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, InvalidInput, Unauthenticated, invariant
from appliance.kernel.ids import SessionId, UserId
from appliance.kernel.structs import Struct

ALGORITHMS = ("EdDSA",)
TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
TOKEN_CHARS_MAX = 4096
TTL_S_DEFAULT = 15 * 60
TTL_S_MAX = 24 * 60 * 60
LEEWAY_S_MAX = 5 * 60
VERIFIED_CACHE_ENTRIES_MAX = 4096


class TokenInvalid(Unauthenticated):
    """The token is not one of ours, or was altered. `reason` is for logs, never for the client."""

    code = "token_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__("access token is not valid")
        self.reason = reason


class TokenExpired(Unauthenticated):
    """A genuine token past its `exp` (plus leeway): the client should use its refresh token."""

    code = "token_expired"

    def __init__(self) -> None:
        super().__init__("access token has expired")
        self.reason = "expired"


class AccessTokenConfig(Struct, frozen=True):
    """Issuer, audience and lifetimes. `key_retain_s` is how long a retired signing key must verify."""

    issuer: str
    audience: str
    ttl_s: int = TTL_S_DEFAULT
    leeway_s: int = 5
    key_slack_s: int = 60

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigError("access tokens need a non-empty issuer and audience")
        if not 1 <= self.ttl_s <= TTL_S_MAX:
            raise ConfigError(f"access token TTL must be 1 to {TTL_S_MAX} seconds, not {self.ttl_s}")
        if not 0 <= self.leeway_s <= LEEWAY_S_MAX or self.key_slack_s < 0:
            raise ConfigError(f"token leeway must be 0 to {LEEWAY_S_MAX} s and key slack at least 0 s")

    @property
    def key_retain_s(self) -> int:
        return self.ttl_s + self.leeway_s + self.key_slack_s


class AccessClaims(Struct, frozen=True):
    """What a verified access token says."""

    user_id: UserId
    session_id: SessionId
    issued_at: datetime
    expires_at: datetime
    key_id: str


class IssuedAccessToken(Struct, frozen=True):
    token: str
    expires_at: datetime
    expires_in_s: int


class _Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alg: str
    typ: str
    kid: str


class _Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    iss: str
    aud: str
    sub: str
    sid: str
    iat: int
    exp: int


_HEADER_DECODER = msgspec.json.Decoder(_Header)
_PAYLOAD_DECODER = msgspec.json.Decoder(_Payload)


def _decode_header(token: str) -> _Header:
    encoded = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return _HEADER_DECODER.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise TokenInvalid("malformed header") from None


class AccessTokens:
    """Issues and verifies access tokens with the keyring's keys."""

    def __init__(
        self,
        keyring: Keyring,
        clock: Clock,
        config: AccessTokenConfig,
        *,
        cache_entries_max: int = VERIFIED_CACHE_ENTRIES_MAX,
    ) -> None:
        invariant(cache_entries_max >= 0, "the verified-token cache size is not negative")
        self._keyring = keyring
        self._clock = clock
        self._config = config
        self._jws = jwt.PyJWS(algorithms=list(ALGORITHMS))
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_entries_max = cache_entries_max

    def issue(self, user_id: UserId, session_id: SessionId) -> IssuedAccessToken:
        """Sign a token for the session with the active key."""
        if not isinstance(user_id, UserId) or not isinstance(session_id, SessionId):
            raise InvalidInput("an access token needs a UserId and a SessionId")
        key = self._keyring.active()
        issued_at = int(self._clock.now().timestamp())
        expires_at = issued_at + self._config.ttl_s
        payload = _Payload(
            iss=self._config.issuer,
            aud=self._config.audience,
            sub=str(user_id),
            sid=str(session_id),
            iat=issued_at,
            exp=expires_at,
        )
        token = self._jws.encode(
            msgspec.json.encode(payload),
            key.private_key,
            algorithm=ALGORITHMS[0],
            headers={"typ": TOKEN_TYPE, "kid": key.kid},
        )
        return IssuedAccessToken(
            token=token,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            expires_in_s=self._config.ttl_s,
        )

    def verify(self, token: object) -> AccessClaims:
        """Return the claims of a valid token; otherwise raise `TokenInvalid` or `TokenExpired`."""
        if not isinstance(token, str) or not 0 < len(token) <= TOKEN_CHARS_MAX or not token.isascii():
            raise TokenInvalid("not a token of sane size")
        cached = self._verified.get(token)
        if cached is not None:
            return self._recheck_cached(token, cached)
        claims = self._verify_uncached(token)
        self._remember(token, claims)
        return claims

    def _recheck_cached(self, token: str, claims: AccessClaims) -> AccessClaims:
        if self._keyring.verification_key(claims.key_id) is None:
            self._verified.pop(token, None)
            raise TokenInvalid("signing key no longer on file")
        try:
            self._check_not_expired(claims.expires_at)
        except TokenExpired:
            del self._verified[token]  # it can never verify again: free the entry now
            raise
        self._verified.move_to_end(token)
        return claims

    def _remember(self, token: str, claims: AccessClaims) -> None:
        if self._cache_entries_max == 0:
            return
        self._verified[token] = claims
        while len(self._verified) > self._cache_entries_max:
            self._verified.popitem(last=False)

    def _check_not_expired(self, expires_at: datetime) -> None:
        if self._clock.now() >= expires_at + timedelta(seconds=self._config.leeway_s):
            raise TokenExpired

    def _verify_uncached(self, token: str) -> AccessClaims:
        header = _decode_header(token)
        if header.alg not in ALGORITHMS:
            raise TokenInvalid(f"algorithm {header.alg!r} is not allowed")
        if header.typ != TOKEN_TYPE:
            raise TokenInvalid("not an access token (typ)")
        public_key = self._keyring.verification_key(header.kid) if is_valid_kid(header.kid) else None
        if public_key is None:
            raise TokenInvalid("unknown signing key")
        try:
            decoded = self._jws.decode_complete(token, public_key, algorithms=list(ALGORITHMS))
            payload = _PAYLOAD_DECODER.decode(decoded["payload"])
        except jwt.InvalidTokenError as error:
            raise TokenInvalid(type(error).__name__) from None
        except msgspec.DecodeError:
            raise TokenInvalid("claims are not the access-token claims") from None
        return self._check_claims(payload, header.kid)

    def _check_claims(self, payload: _Payload, kid: str) -> AccessClaims:
        config = self._config
        if payload.iss != config.issuer:
            raise TokenInvalid("wrong issuer")
        if payload.aud != config.audience:
            raise TokenInvalid("wrong audience")
        if not 0 < payload.exp - payload.iat <= config.ttl_s:
            raise TokenInvalid("lifetime is not within the configured TTL")
        now_s = self._clock.now().timestamp()
        if payload.iat > now_s + config.leeway_s:
            raise TokenInvalid("issued in the future")
        try:
            user_id, session_id = UserId.parse(payload.sub), SessionId.parse(payload.sid)
        except InvalidInput:
            raise TokenInvalid("subject or session is not an id") from None
        try:
            expires_at = datetime.fromtimestamp(payload.exp, UTC)
            issued_at = datetime.fromtimestamp(payload.iat, UTC)
        except (OverflowError, OSError, ValueError):
            raise TokenInvalid("times out of range") from None
        self._check_not_expired(expires_at)
        return AccessClaims(
            user_id=user_id, session_id=session_id, issued_at=issued_at, expires_at=expires_at, key_id=kid
        )
