"""OAuth 2 / OpenID Connect login: any OIDC provider by discovery URL, plus a GitHub preset.

This module is the one import point for federated login (it re-exports `oidc_login`,
`oidc_github` and `oidc_http`) and owns the OIDC provider client: it fetches and caches the
discovery document and JWKS, builds the authorization URL (authorization code flow, PKCE S256,
`state`, `nonce`; with authlib's request helpers), exchanges the code, and validates the ID token
(signature against the provider's JWKS with an algorithm allowlist that never includes `none` or
HMAC; `iss`, `aud`, `exp`, `iat`, `nbf`, `nonce`, `azp` and `at_hash` with authlib's
`CodeIDToken` rules) before returning an `ExternalIdentity`. It must never read the wall clock
(it takes a `Clock`), never trust a discovery document whose issuer is not the configured one,
and never decide about local accounts (that is `link_decision` and the workflows).

Usage by the HTTP layer::

    logins = {c.name: build_login(c, clock=clock) for c in configs}
    # GET /auth/oauth/{provider}/authorize
    redirect = await logins[name].begin(link_user_id=session_user_or_none)
    kv.create(redirect.pending.state, to_json(redirect.pending)); answer 302 to redirect.url
    # GET /auth/oauth/{provider}/callback?code=…&state=…
    state = check_state_param(query); pending = kv get + delete(state) (single use)
    identity = await logins[name].complete(pending, query)
    decision = link_decision(identity=identity, …)

Errors: a callback or token that does not check out is `Unauthenticated`; malformed callback
parameters are `InvalidInput`; a provider that is down or answers garbage is
`ProviderUnavailable` (5xx); a provider whose configuration or discovery is unusable or unsafe
is `ProviderMisconfigured` (5xx).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from appliance.identity.auth.oidc_github import GitHubLogin, GitHubProviderConfig
from appliance.identity.auth.oidc_http import (
    ProviderHttp,
    ProviderMisconfigured,
    ProviderUnavailable,
    check_provider_url,
)
from appliance.identity.auth.oidc_id_token import ID_TOKEN_ALGORITHMS, IdTokenValidator
from appliance.identity.auth.oidc_login import (
    PROVIDER_NAME,
    ExternalIdentity,
    FederatedLogin,
    LinkDecision,
    LinkOutcome,
    LoginRedirect,
    PendingLogin,
    RandomBytes,
    check_callback,
    check_state_param,
    link_decision,
    make_identity,
    new_pending_login,
)
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, Unauthenticated
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

__all__ = [
    "ExternalIdentity",
    "FederatedLogin",
    "GitHubLogin",
    "GitHubProviderConfig",
    "LinkDecision",
    "LinkOutcome",
    "LoginRedirect",
    "OidcLogin",
    "OidcProviderConfig",
    "PendingLogin",
    "ProviderMisconfigured",
    "ProviderUnavailable",
    "build_login",
    "check_callback",
    "check_state_param",
    "link_decision",
    "make_identity",
    "new_pending_login",
]

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
METADATA_TTL_S = 3_600
# RFC 6749 §5.2: these mean our client_id/secret are wrong, which no user can fix.
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class OidcProviderConfig(Struct, frozen=True):
    """An OIDC provider found by discovery (Keycloak, Dex, Authentik, …); checked when built."""

    name: str  # appears in /auth/oauth/{name}/…
    discovery_url: str
    client_id: str
    client_secret: str  # empty for a public client (PKCE only)
    redirect_uri: str  # our callback URL, as registered at the provider
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    issuer: str | None = None  # only when the issuer is not the discovery URL minus its suffix
    allow_insecure_http: bool = False
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not PROVIDER_NAME.match(self.name):
            raise ConfigError(f"provider name {self.name!r} must be 1-32 of a-z, 0-9 and '-'")
        if not self.client_id:
            raise ConfigError(f"provider {self.name!r} needs a client_id")
        if "openid" not in self.scopes:
            raise ConfigError(f"provider {self.name!r} must request the openid scope")
        check_provider_url(self.discovery_url, allow_insecure_http=self.allow_insecure_http, what="discovery URL")
        check_provider_url(self.redirect_uri, allow_insecure_http=True, what="redirect URI")
        if self.issuer is None and not self.discovery_url.endswith(DISCOVERY_SUFFIX):
            raise ConfigError(f"discovery URL of {self.name!r} must end in {DISCOVERY_SUFFIX}, or set issuer")

    def expected_issuers(self) -> tuple[str, ...]:
        """OIDC Discovery §4.3: the issuer is the discovery URL's prefix (a trailing slash tolerated)."""
        if self.issuer is not None:
            return (self.issuer,)
        prefix = self.discovery_url.removesuffix(DISCOVERY_SUFFIX)
        return (prefix, prefix + "/")


class _Discovery(msgspec.Struct, frozen=True):
    """The discovery fields we use; providers publish many more, which are ignored."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = msgspec.field(default_factory=lambda: ["RS256"])
    code_challenge_methods_supported: list[str] | None = None
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(default_factory=lambda: ["client_secret_basic"])


class OidcLogin:
    """A configured OIDC provider: discovery and JWKS cached, login begun and completed."""

    def __init__(
        self,
        config: OidcProviderConfig,
        *,
        clock: Clock,
        random_bytes: RandomBytes = secrets.token_bytes,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._random_bytes = random_bytes
        self._http = ProviderHttp(
            allow_insecure_http=config.allow_insecure_http, ca_file=config.ca_file, transport=transport
        )
        self._discovery: tuple[_Discovery, float] | None = None
        self._discovery_lock = asyncio.Lock()
        self._id_tokens = IdTokenValidator(self._http, clock, client_id=config.client_id)

    @property
    def name(self) -> str:
        return self._config.name

    async def aclose(self) -> None:
        await self._http.aclose()

    async def begin(self, *, link_user_id: UserId | None = None) -> LoginRedirect:
        discovery = await self._metadata()
        pending = new_pending_login(
            self._config.name,
            self._config.redirect_uri,
            now=self._clock.now(),
            link_user_id=link_user_id,
            random_bytes=self._random_bytes,
        )
        url = prepare_grant_uri(
            discovery.authorization_endpoint,
            self._config.client_id,
            "code",
            redirect_uri=pending.redirect_uri,
            scope=list(self._config.scopes),
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.code_verifier),
            code_challenge_method="S256",
        )
        return LoginRedirect(url=str(url), pending=pending)

    async def complete(self, pending: PendingLogin, callback: Mapping[str, str]) -> ExternalIdentity:
        discovery = await self._metadata()
        code = check_callback(pending, self._config.name, callback, now=self._clock.now(), issuer=discovery.issuer)
        tokens = await self._exchange(discovery, pending, code)
        claims = await self._id_tokens.validate(
            tokens["id_token"],
            issuer=discovery.issuer,
            jwks_uri=discovery.jwks_uri,
            algorithms=_algorithms(discovery),
            nonce=pending.nonce,
            access_token=tokens["access_token"],
        )
        if claims.get("email") is None and discovery.userinfo_endpoint is not None:
            claims = claims | await self._userinfo(discovery.userinfo_endpoint, tokens["access_token"], claims["sub"])
        return _identity(self._config.name, discovery.issuer, claims)

    async def _metadata(self) -> _Discovery:
        async with self._discovery_lock:
            now = self._clock.monotonic()
            if self._discovery is not None and now - self._discovery[1] < METADATA_TTL_S:
                return self._discovery[0]
            discovery = await self._fetch_discovery()
            self._discovery = (discovery, now)
            return discovery

    async def _fetch_discovery(self) -> _Discovery:
        status, body = await self._http.get_json(self._config.discovery_url, what="discovery document")
        if status != 200:
            raise ProviderUnavailable(f"discovery document answered HTTP {status}")
        try:
            discovery = msgspec.convert(body, _Discovery)
        except msgspec.ValidationError as error:
            raise ProviderMisconfigured(f"discovery document of {self._config.name!r} is unusable: {error}") from None
        return self._check_discovery(discovery)

    def _check_discovery(self, discovery: _Discovery) -> _Discovery:
        if discovery.issuer not in self._config.expected_issuers():
            raise ProviderMisconfigured(
                f"discovery document of {self._config.name!r} names issuer {discovery.issuer!r}, "
                f"expected {self._config.expected_issuers()[0]!r}"
            )
        insecure = self._config.allow_insecure_http
        for what in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            value = getattr(discovery, what)
            if value is not None:
                check_provider_url(value, allow_insecure_http=insecure, what=f"discovery {what}")
        methods = discovery.code_challenge_methods_supported
        if methods is not None and "S256" not in methods:
            raise ProviderMisconfigured(f"provider {self._config.name!r} does not support PKCE with S256")
        if not _algorithms(discovery):
            raise ProviderMisconfigured(f"provider {self._config.name!r} signs ID tokens with no allowed algorithm")
        return discovery

    async def _exchange(self, discovery: _Discovery, pending: PendingLogin, code: str) -> dict[str, str]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
            "client_id": self._config.client_id,
        }
        auth = None
        if self._config.client_secret:
            if "client_secret_basic" in discovery.token_endpoint_auth_methods_supported:
                auth = (self._config.client_id, self._config.client_secret)
            else:
                form["client_secret"] = self._config.client_secret
        status, body = await self._http.post_form(discovery.token_endpoint, form, what="token endpoint", auth=auth)
        return _token_reply(status, body)

    async def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}"}
        status, body = await self._http.get_json(url, what="userinfo endpoint", headers=headers)
        if status != 200 or not isinstance(body, dict):
            raise Unauthenticated(f"the provider's userinfo endpoint refused the access token (HTTP {status})")
        if body.get("sub") != subject:
            # OIDC Core §5.3.4: a userinfo reply for another subject must not be used.
            raise Unauthenticated("the provider's userinfo is about another subject than the ID token")
        return {k: body[k] for k in ("email", "email_verified", "name", "preferred_username") if k in body}


def _token_reply(status: int, body: Any) -> dict[str, str]:
    """The token endpoint's reply: refusals are the login's failure, odd shapes the provider's."""
    if status != 200:
        error = body.get("error") if isinstance(body, dict) else None
        reason = error if isinstance(error, str) else f"HTTP {status}"
        if reason in CLIENT_ERRORS:
            raise ProviderMisconfigured(f"the provider does not accept our client credentials ({reason})")
        raise Unauthenticated(f"the provider refused the code exchange: {reason[:100]}")
    if not isinstance(body, dict):
        raise ProviderUnavailable("the token endpoint did not answer a JSON object")
    access_token, id_token = body.get("access_token"), body.get("id_token")
    if not isinstance(access_token, str) or not isinstance(id_token, str):
        raise Unauthenticated("the provider's token reply lacks an access token or an ID token")
    return {"access_token": access_token, "id_token": id_token}


def _algorithms(discovery: _Discovery) -> list[str]:
    return [alg for alg in discovery.id_token_signing_alg_values_supported if alg in ID_TOKEN_ALGORITHMS]


def _identity(provider: str, issuer: str, claims: Mapping[str, Any]) -> ExternalIdentity:
    return make_identity(
        provider,
        issuer,
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=claims.get("email_verified"),
        name=claims.get("name") or claims.get("preferred_username"),
    )


def build_login(
    config: OidcProviderConfig | GitHubProviderConfig,
    *,
    clock: Clock,
    random_bytes: RandomBytes = secrets.token_bytes,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FederatedLogin:
    """The login object for one configured provider."""
    if isinstance(config, GitHubProviderConfig):
        return GitHubLogin(config, clock=clock, random_bytes=random_bytes, transport=transport)
    return OidcLogin(config, clock=clock, random_bytes=random_bytes, transport=transport)
