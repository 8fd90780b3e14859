"""The GitHub preset: OAuth 2 login against github.com or a GitHub Enterprise Server.

GitHub is not an OIDC provider for user logins, so there is no ID token and no nonce: this module
owns the OAuth app flow instead (authorize with `state` and PKCE S256, exchange the code at
`/login/oauth/access_token`, read `/user` for the stable numeric id and name, and `/user/emails`
for the primary address and its `verified` flag). The subject is the numeric user id, never
the login name, which the user can change. Base URLs are configurable so an on-prem GitHub
Enterprise Server (`https://ghe.example`, API at `https://ghe.example/api/v3`) works the same.
It must never read the wall clock (it takes a `Clock`) and never treat an address GitHub has not
verified as verified.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from appliance.identity.auth.oidc_http import (
    ProviderHttp,
    ProviderMisconfigured,
    ProviderUnavailable,
    check_provider_url,
)
from appliance.identity.auth.oidc_login import (
    PROVIDER_NAME,
    ExternalIdentity,
    LoginRedirect,
    PendingLogin,
    RandomBytes,
    check_callback,
    make_identity,
    new_pending_login,
)
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, Unauthenticated
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

GITHUB_API_VERSION = "2022-11-28"


class GitHubProviderConfig(Struct, frozen=True):
    """A GitHub OAuth app; `web_url`/`api_url` point at github.com unless it is an Enterprise Server."""

    client_id: str
    client_secret: str
    redirect_uri: str
    name: str = "github"
    web_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    scopes: tuple[str, ...] = ("read:user", "user:email")
    allow_insecure_http: bool = False
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not PROVIDER_NAME.match(self.name):
            raise ConfigError(f"provider name {self.name!r} must be 1-32 of a-z, 0-9 and '-'")
        if not self.client_id or not self.client_secret:
            raise ConfigError(f"GitHub provider {self.name!r} needs a client_id and a client_secret")
        for what, url in (("GitHub web URL", self.web_url), ("GitHub API URL", self.api_url)):
            check_provider_url(url, allow_insecure_http=self.allow_insecure_http, what=what)
        check_provider_url(self.redirect_uri, allow_insecure_http=True, what="redirect URI")


class GitHubLogin:
    """Login with GitHub; implements `FederatedLogin`."""

    def __init__(
        self,
        config: GitHubProviderConfig,
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
        self._web = config.web_url.rstrip("/")
        self._api = config.api_url.rstrip("/")

    @property
    def name(self) -> str:
        return self._config.name

    async def aclose(self) -> None:
        await self._http.aclose()

    async def begin(self, *, link_user_id: UserId | None = None) -> LoginRedirect:
        pending = new_pending_login(
            self._config.name,
            self._config.redirect_uri,
            now=self._clock.now(),
            link_user_id=link_user_id,
            random_bytes=self._random_bytes,
        )
        url = prepare_grant_uri(
            f"{self._web}/login/oauth/authorize",
            self._config.client_id,
            "code",  # GitHub ignores it; sent so the request is plain RFC 6749
            redirect_uri=pending.redirect_uri,
            scope=" ".join(self._config.scopes),
            state=pending.state,
            code_challenge=create_s256_code_challenge(pending.code_verifier),
            code_challenge_method="S256",
        )
        return LoginRedirect(url=str(url), pending=pending)

    async def complete(self, pending: PendingLogin, callback: Mapping[str, str]) -> ExternalIdentity:
        code = check_callback(pending, self._config.name, callback, now=self._clock.now(), issuer=None)
        access_token = await self._exchange(pending, code)
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
        }
        user = await self._api_get("/user", headers)
        emails = await self._api_get("/user/emails", headers)
        return _identity(self._config.name, self._web, user, emails)

    async def _exchange(self, pending: PendingLogin, code: str) -> str:
        form = {
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret,
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        url = f"{self._web}/login/oauth/access_token"
        status, body = await self._http.post_form(url, form, what="GitHub token endpoint")
        # GitHub reports a refused code with HTTP 200 and an `error` field.
        error = body.get("error") if isinstance(body, dict) else None
        if status != 200 or error is not None:
            reason = error if isinstance(error, str) else f"HTTP {status}"
            if reason == "incorrect_client_credentials":
                raise ProviderMisconfigured("GitHub does not accept our client id and secret")
            raise Unauthenticated(f"GitHub refused the code exchange: {reason[:100]}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderUnavailable("GitHub's token reply lacks an access token")
        return token

    async def _api_get(self, path: str, headers: dict[str, str]) -> Any:
        status, body = await self._http.get_json(f"{self._api}{path}", what=f"GitHub API {path}", headers=headers)
        if status in (401, 403):
            raise Unauthenticated(f"GitHub refused the access token for {path} (HTTP {status})")
        if status != 200:
            raise ProviderUnavailable(f"GitHub API {path} answered HTTP {status}")
        return body


def _identity(provider: str, issuer: str, user: Any, emails: Any) -> ExternalIdentity:
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ProviderUnavailable("GitHub's /user reply lacks a numeric id")
    if not isinstance(emails, list):
        raise ProviderUnavailable("GitHub's /user/emails reply is not a list")
    primary = next((e for e in emails if isinstance(e, dict) and e.get("primary") is True), {})
    return make_identity(
        provider,
        issuer,
        subject=str(user_id),
        email=primary.get("email"),
        email_verified=primary.get("verified"),
        name=user.get("name") or user.get("login"),
    )
