"""OAuth/OIDC through the HTTP routes against a real local OIDC provider on loopback: a new account,
signing in again, a refused link when the provider has not verified the e-mail, a link only after the
signed-in user confirms, and no silent takeover of an account by its e-mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from appliance.identity.auth.oidc import OidcProviderConfig
from appliance.identity.services import ProviderSettings
from tests.identity.support.oidc_fixtures import browse
from tests.identity.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LocalOidcProvider

from .harness import (
    OWNER_EMAIL,
    Account,
    OffsetClock,
    Running,
    Starter,
    assert_problem,
    bearer,
    bootstrap,
    open_signups,
)

OAUTH = "/api/v1/auth/oauth/keycloak"


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def idp(clock: OffsetClock) -> Iterator[LocalOidcProvider]:
    with LocalOidcProvider(clock) as provider:  # type: ignore[arg-type]
        yield provider


@pytest.fixture
async def running(start: Starter, clock: OffsetClock, idp: LocalOidcProvider) -> Running:
    config = OidcProviderConfig(
        name="keycloak",
        discovery_url=idp.discovery_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        allow_insecure_http=True,
    )
    result: Running = await start(clock=clock, oidc_providers=(ProviderSettings(oidc=config),))
    return result


async def round_trip(running: Running, account: Account | None = None) -> Any:
    """Authorize (as `account` when linking), let the provider approve, and deliver its callback."""
    headers = {} if account is None else account.auth
    started = await running.http.get(f"{OAUTH}/authorize", headers=headers)
    assert started.status_code == 200, started.text
    assert started.json()["linking"] is (account is not None)
    query = await browse(started.json()["authorization_url"])
    return await running.http.get(f"{OAUTH}/callback", params=query)


async def test_a_new_account_then_signing_in_again(running: Running, idp: LocalOidcProvider) -> None:
    """With open signups, a verified identity opens a passwordless account, and later signs in to it."""
    owner = await bootstrap(running)
    await open_signups(running, owner)
    first = await round_trip(running)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "signed_up"
    me = (await running.http.get("/api/v1/users/me", headers=bearer(first.json()["access_token"]))).json()
    assert (me["email"], me["has_password"]) == (idp.user.email, False)
    assert [(i["provider"], i["subject"]) for i in me["identities"]] == [("keycloak", idp.user.subject)]
    again = await round_trip(running)
    assert again.json()["outcome"] == "signed_in"
    assert (await running.http.get("/api/v1/users/me", headers=bearer(again.json()["access_token"]))).json()[
        "user_id"
    ] == me["user_id"]


async def test_invite_only_refuses_unknown_identities(running: Running) -> None:
    """Without open signups, an identity no account uses is refused (403) and nothing is created."""
    owner = await bootstrap(running)
    assert_problem(await round_trip(running), 403)
    users = (await running.http.get("/api/v1/admin/users", headers=owner.auth)).json()["users"]
    assert len(users) == 1


async def test_linking_is_refused_when_the_provider_has_not_verified_the_email(
    running: Running, idp: LocalOidcProvider
) -> None:
    """A signed-in user cannot link an identity whose e-mail the provider did not verify."""
    owner = await bootstrap(running)
    idp.user.email_verified = False
    assert_problem(await round_trip(running, owner), 403)
    me = (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()
    assert me["identities"] == []


async def test_linking_needs_the_signed_in_users_confirmation(running: Running, idp: LocalOidcProvider) -> None:
    """The callback only asks to confirm; the link exists once the same user confirms, then it signs in."""
    owner = await bootstrap(running)
    asked = await round_trip(running, owner)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["outcome"] == "confirm"
    assert "access_token" not in body
    me = (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()
    assert me["identities"] == []
    confirmed = await running.http.post(f"{OAUTH}/callback", json={"link_id": body["link_id"]}, headers=owner.auth)
    assert confirmed.status_code == 200, confirmed.text
    me = (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()
    assert [i["subject"] for i in me["identities"]] == [idp.user.subject]
    again = await running.http.post(f"{OAUTH}/callback", json={"link_id": body["link_id"]}, headers=owner.auth)
    assert_problem(again, 404)
    signed_in = await round_trip(running)
    assert signed_in.json()["outcome"] == "signed_in"
    assert (await running.http.get("/api/v1/users/me", headers=bearer(signed_in.json()["access_token"]))).json()[
        "email"
    ] == OWNER_EMAIL


async def test_only_the_user_who_started_a_link_can_confirm_it(running: Running) -> None:
    """Another signed-in user presenting the link id gets 404, and the link id is spent."""
    owner = await bootstrap(running)
    await open_signups(running, owner)
    asked = (await round_trip(running, owner)).json()
    other = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": "mallory@example.org",
            "password": "correct horse battery staple",
            "display_name": "M",
            "org_name": "M",
        },
    )
    mallory = bearer(other.json()["access_token"])
    assert_problem(
        await running.http.post(f"{OAUTH}/callback", json={"link_id": asked["link_id"]}, headers=mallory), 404
    )


async def test_an_existing_email_is_never_taken_over_silently(running: Running, idp: LocalOidcProvider) -> None:
    """A verified identity whose e-mail belongs to an account, nobody signed in: 409, no link, no session."""
    owner = await bootstrap(running)
    idp.user.email = OWNER_EMAIL
    assert_problem(await round_trip(running), 409)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).json()["identities"] == []


async def test_callbacks_are_single_use_and_checked(running: Running) -> None:
    """Replaying a callback, an unknown state, a repeated parameter, an unknown provider: all refused."""
    owner = await bootstrap(running)
    await open_signups(running, owner)
    started = (await running.http.get(f"{OAUTH}/authorize")).json()
    query = await browse(started["authorization_url"])
    assert (await running.http.get(f"{OAUTH}/callback", params=query)).status_code == 200
    assert_problem(await running.http.get(f"{OAUTH}/callback", params=query), 401)
    assert_problem(await running.http.get(f"{OAUTH}/callback", params={"state": "x" * 43, "code": "c"}), 401)
    assert_problem(await running.http.get(f"{OAUTH}/callback", params={"code": "c"}), 400)
    assert_problem(await running.http.get(f"{OAUTH}/callback?state=a&state=b&code=c"), 400)
    assert_problem(await running.http.get("/api/v1/auth/oauth/nowhere/authorize"), 404)
    redirect = await running.http.get(f"{OAUTH}/authorize", params={"redirect": "true"})
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith("http://127.0.0.1:")
