"""The GitHub preset against a local stand-in that speaks GitHub's OAuth and API endpoint shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import msgspec
import pytest

from appliance.identity.auth.oidc import (
    ExternalIdentity,
    GitHubLogin,
    GitHubProviderConfig,
    LinkOutcome,
    ProviderMisconfigured,
    build_login,
    link_decision,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError, Unauthenticated
from appliance.kernel.ids import SequentialIds, UserId
from tests.identity.support.github_standin import (
    GITHUB_CLIENT_ID,
    GITHUB_CLIENT_SECRET,
    GITHUB_REDIRECT_URI,
    LocalGitHub,
)


@pytest.fixture(scope="module")
def served_github() -> Iterator[LocalGitHub]:
    with LocalGitHub() as github:
        yield github


@pytest.fixture
def github(served_github: LocalGitHub) -> LocalGitHub:
    served_github.reset()
    return served_github


def github_config(github: LocalGitHub, **changes: Any) -> GitHubProviderConfig:
    fields: dict[str, Any] = {
        "client_id": GITHUB_CLIENT_ID,
        "client_secret": GITHUB_CLIENT_SECRET,
        "redirect_uri": GITHUB_REDIRECT_URI,
        "web_url": github.base_url,
        "api_url": github.api_url,
    }
    return GitHubProviderConfig(**(fields | changes))


@pytest.fixture
async def login(github: LocalGitHub) -> AsyncIterator[GitHubLogin]:
    client = build_login(github_config(github), clock=ManualClock())
    assert isinstance(client, GitHubLogin)
    yield client
    await client.aclose()


async def browse(url: str) -> dict[str, str]:
    async with httpx.AsyncClient(trust_env=False) as browser:
        reply = await browser.get(url)
    assert reply.status_code == 302, reply.text
    return dict(parse_qsl(urlsplit(reply.headers["location"]).query))


async def test_github_login_end_to_end(login: GitHubLogin, github: LocalGitHub) -> None:
    """Authorize, exchange, read /user and /user/emails: the primary verified address and numeric id come back."""
    redirect = await login.begin()
    query = dict(parse_qsl(urlsplit(redirect.url).query))
    assert redirect.url.startswith(f"{github.base_url}/login/oauth/authorize?")
    assert query["scope"] == "read:user user:email"
    assert query["state"] == redirect.pending.state
    assert query["code_challenge_method"] == "S256"
    identity = await login.complete(redirect.pending, await browse(redirect.url))
    assert identity == ExternalIdentity(
        provider="github",
        issuer=github.base_url,
        subject="583231",
        email="octo@example.test",
        email_verified=True,
        name="The Octocat",
    )
    api_calls = [(path, headers) for method, path, headers in github.requests if path.startswith("/api/v3")]
    assert [path for path, _ in api_calls] == ["/api/v3/user", "/api/v3/user/emails"]
    assert all(h["accept"] == "application/vnd.github+json" for _, h in api_calls)


async def test_an_unverified_primary_email_cannot_be_linked(login: GitHubLogin, github: LocalGitHub) -> None:
    """GitHub's `verified: false` on the primary address carries through, and linking is then refused."""
    github.user.emails = [{"email": "octo@example.test", "primary": True, "verified": False, "visibility": None}]
    redirect = await login.begin()
    identity = await login.complete(redirect.pending, await browse(redirect.url))
    assert (identity.email, identity.email_verified) == ("octo@example.test", False)
    user_id = SequentialIds(seed=2).new(UserId)
    decision = link_decision(
        identity=identity, linked_user_id=None, email_owner_id=user_id, logged_in_user_id=user_id, confirmed=True
    )
    assert decision.outcome is LinkOutcome.REFUSED


async def test_no_primary_address_means_no_email(login: GitHubLogin, github: LocalGitHub) -> None:
    """A verified but non-primary address is not taken as the account's e-mail."""
    github.user.emails = [{"email": "side@example.test", "primary": False, "verified": True, "visibility": None}]
    github.user.name = None
    redirect = await login.begin()
    identity = await login.complete(redirect.pending, await browse(redirect.url))
    assert (identity.email, identity.email_verified, identity.name) == (None, False, "octocat")


async def test_a_wrong_state_is_refused(login: GitHubLogin) -> None:
    """A callback with another state is refused before the code is exchanged."""
    redirect = await login.begin()
    callback = await browse(redirect.url) | {"state": "Z" * 43}
    with pytest.raises(Unauthenticated, match="state does not match"):
        await login.complete(redirect.pending, callback)


async def test_github_reports_a_bad_code_with_http_200(login: GitHubLogin) -> None:
    """GitHub's 200-with-`error` reply to a reused code is a refusal, not a success."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    await login.complete(redirect.pending, callback)
    with pytest.raises(Unauthenticated, match="bad_verification_code"):
        await login.complete(redirect.pending, callback)


async def test_an_incorrect_pkce_verifier_is_refused(login: GitHubLogin) -> None:
    """A verifier that does not match the authorize request's challenge is refused."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    forged = msgspec.structs.replace(redirect.pending, code_verifier="y" * 43)
    with pytest.raises(Unauthenticated, match="invalid_grant"):
        await login.complete(forged, callback)


async def test_a_wrong_client_secret_is_refused(github: LocalGitHub) -> None:
    """A wrong client secret is the admin's problem (`ProviderMisconfigured`), not the user's."""
    client = build_login(github_config(github, client_secret="wrong"), clock=ManualClock())
    try:
        redirect = await client.begin()
        with pytest.raises(ProviderMisconfigured, match="client id and secret"):
            await client.complete(redirect.pending, await browse(redirect.url))
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_secret": ""}, "client_secret"),
        ({"web_url": "http://github.example"}, "plain http"),
        ({"api_url": "ftp://api.github.example"}, "must be an http"),
        ({"name": "Git Hub"}, "provider name"),
    ],
)
def test_github_configuration_is_checked(github: LocalGitHub, changes: dict[str, Any], message: str) -> None:
    """A GitHub provider without a secret or with unsafe URLs is refused when configured."""
    with pytest.raises(ConfigError, match=message):
        github_config(github, **changes)


def test_the_default_preset_points_at_github_com() -> None:
    """Without overrides the preset uses github.com and api.github.com over https."""
    config = GitHubProviderConfig(client_id="id", client_secret="secret", redirect_uri=GITHUB_REDIRECT_URI)
    assert (config.web_url, config.api_url, config.name) == ("https://github.com", "https://api.github.com", "github")
