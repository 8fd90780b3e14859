"""Shared fixtures for the OIDC tests: one local provider per module, a login client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from appliance.identity.auth.oidc import OidcLogin, OidcProviderConfig
from appliance.kernel.clock import ManualClock
from tests.identity.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LocalOidcProvider


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def served_idp(clock: ManualClock) -> Iterator[LocalOidcProvider]:
    with LocalOidcProvider(clock) as provider:
        yield provider


@pytest.fixture
def idp(served_idp: LocalOidcProvider) -> LocalOidcProvider:
    served_idp.reset()
    return served_idp


def provider_config(idp: LocalOidcProvider, **changes: Any) -> OidcProviderConfig:
    fields: dict[str, Any] = {
        "name": "keycloak",
        "discovery_url": idp.discovery_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
    }
    return OidcProviderConfig(**(fields | changes))


@pytest.fixture
async def login(idp: LocalOidcProvider, clock: ManualClock) -> AsyncIterator[OidcLogin]:
    client = OidcLogin(provider_config(idp), clock=clock)
    yield client
    await client.aclose()


async def browse(url: str) -> dict[str, str]:
    """The browser's part: open the authorization URL, take the redirect back, return its query."""
    async with httpx.AsyncClient(trust_env=False) as browser:
        reply = await browser.get(url)
    assert reply.status_code == 302, reply.text
    location = reply.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))
