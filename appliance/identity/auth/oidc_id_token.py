"""OIDC ID token validation against the provider's published keys (JWKS).

This module owns the decision whether an ID token is genuine and meant for us: the signature is
checked with joserfc against the provider's JWKS (fetched through `ProviderHttp`, cached, and
refetched when a token names an unknown key, at most once per `JWKS_REFRESH_INTERVAL_S_MIN`,
so a genuine rotation is picked up at once but forged key ids cannot make us hammer the
provider), the algorithm must be in an allowlist
that never contains `none` or HMAC, and the claims are checked by authlib's `CodeIDToken`
(`iss`, `aud`, `exp`, `iat`, `nbf`, `nonce`, `azp`, `at_hash`) at the injected clock's time with
a small leeway for clock skew. Every refusal is `Unauthenticated` with a reason that names the
failed check and nothing secret. It must never read the wall clock or accept a token it could
not verify.
"""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from appliance.identity.auth.oidc_http import ProviderHttp, ProviderMisconfigured, ProviderUnavailable
from appliance.kernel.clock import Clock
from appliance.kernel.errors import Unauthenticated

# Asymmetric only: HMAC would make the client secret a signing key, `none` signs nothing.
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ID_TOKEN_CHARS_MAX = 16_384
ID_TOKEN_LEEWAY_S = 60
SUBJECT_CHARS_MAX = 255  # OIDC Core §2: sub is at most 255 ASCII characters
JWKS_TTL_S = 3_600
JWKS_REFRESH_INTERVAL_S_MIN = 60
JWKS_KEYS_MAX = 32

_CLAIM_REASONS = {
    "iss": "the ID token was issued by another issuer",
    "aud": "the ID token was issued for another client (aud)",
    "azp": "the ID token was issued for another authorized party (azp)",
    "nonce": "the ID token's nonce does not match this login",
    "at_hash": "the ID token does not belong to its access token (at_hash)",
    "iat": "the ID token was issued in the future",
    "nbf": "the ID token is not valid yet",
}


class IdTokenValidator:
    """Validates one provider's ID tokens; holds that provider's JWKS cache."""

    def __init__(
        self,
        http: ProviderHttp,
        clock: Clock,
        *,
        client_id: str,
        leeway_s: int = ID_TOKEN_LEEWAY_S,
    ) -> None:
        self._http = http
        self._clock = clock
        self._client_id = client_id
        self._leeway_s = leeway_s
        self._keys: tuple[KeySet, float] | None = None
        self._refreshed_at: float | None = None  # last refetch forced by an unknown key id

    async def validate(
        self,
        id_token: str,
        *,
        issuer: str,
        jwks_uri: str,
        algorithms: list[str],
        nonce: str,
        access_token: str,
    ) -> dict[str, Any]:
        """The verified claims of `id_token`, or `Unauthenticated` saying which check failed."""
        if len(id_token) > ID_TOKEN_CHARS_MAX:
            raise Unauthenticated(f"the ID token is longer than {ID_TOKEN_CHARS_MAX} characters")
        allowed = [alg for alg in algorithms if alg in ID_TOKEN_ALGORITHMS]
        try:
            token = jwt.decode(id_token, await self._key_set(jwks_uri, refresh=False), algorithms=allowed)
        except InvalidKeyIdError:
            # The provider may have rotated its keys since we cached them.
            token = _decode(id_token, await self._key_set(jwks_uri, refresh=True), allowed)
        except JoseError as error:
            raise _refusal(error) from None
        except (ValueError, TypeError):
            raise Unauthenticated("the ID token is malformed") from None
        claims = CodeIDToken(
            token.claims,
            token.header,
            {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": self._client_id}},
            {"nonce": nonce, "client_id": self._client_id, "access_token": access_token},
        )
        try:
            claims.validate(now=int(self._clock.now().timestamp()), leeway=self._leeway_s)
        except JoseError as error:
            raise _refusal(error) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 1 <= len(subject) <= SUBJECT_CHARS_MAX:
            raise Unauthenticated("the ID token's subject (sub) is missing or too long")
        return dict(claims)

    async def _key_set(self, jwks_uri: str, *, refresh: bool) -> KeySet:
        """Cached keys; `refresh` (an unknown key id) refetches at most once per interval."""
        now = self._clock.monotonic()
        if refresh:
            recently = self._refreshed_at is not None and now - self._refreshed_at < JWKS_REFRESH_INTERVAL_S_MIN
            if recently and self._keys is not None:
                return self._keys[0]
            self._refreshed_at = now
        elif self._keys is not None and now - self._keys[1] < JWKS_TTL_S:
            return self._keys[0]
        keys = await self._fetch(jwks_uri)
        self._keys = (keys, now)
        return keys

    async def _fetch(self, jwks_uri: str) -> KeySet:
        status, body = await self._http.get_json(jwks_uri, what="JWKS")
        if status != 200:
            raise ProviderUnavailable(f"the provider's JWKS answered HTTP {status}")
        listed = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(listed, list) or len(listed) > JWKS_KEYS_MAX:
            raise ProviderMisconfigured(f"the provider's JWKS must be an object with at most {JWKS_KEYS_MAX} keys")
        signing = [
            key
            for key in listed
            if isinstance(key, dict) and key.get("kty") != "oct" and key.get("use", "sig") == "sig"
        ]
        try:
            return KeySet.import_key_set({"keys": signing})
        except (JoseError, ValueError, TypeError) as error:
            raise ProviderMisconfigured(f"the provider's JWKS holds an unusable key: {error}") from None


def _decode(id_token: str, keys: KeySet, allowed: list[str]) -> jwt.Token:
    try:
        return jwt.decode(id_token, keys, algorithms=allowed)
    except JoseError as error:
        raise _refusal(error) from None
    except (ValueError, TypeError):
        raise Unauthenticated("the ID token is malformed") from None


_ERROR_REASONS: tuple[tuple[type[JoseError], str], ...] = (
    (BadSignatureError, "the ID token's signature does not verify"),
    (InvalidKeyIdError, "the ID token is signed with a key the provider does not publish"),
    (UnsupportedAlgorithmError, "the ID token is signed with an algorithm that is not allowed"),
    (ExpiredTokenError, "the ID token has expired"),
)


def _refusal(error: JoseError) -> Unauthenticated:
    for kind, reason in _ERROR_REASONS:
        if isinstance(error, kind):
            return Unauthenticated(reason)
    claim = str(getattr(error, "claim", ""))
    if isinstance(error, MissingClaimError):
        return Unauthenticated(f"the ID token lacks the {claim} claim")
    if isinstance(error, InvalidClaimError):
        return Unauthenticated(_CLAIM_REASONS.get(claim, f"the ID token's {claim} claim is invalid"))
    return Unauthenticated("the ID token is malformed")
