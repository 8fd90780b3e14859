"""OIDC login end to end against a real provider on loopback: discovery, PKCE, code, ID token."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlsplit

import httpx
import msgspec
import pytest

from appliance.identity.auth.oidc import (
    ExternalIdentity,
    OidcLogin,
    PendingLogin,
    ProviderMisconfigured,
    check_state_param,
    make_identity,
    new_pending_login,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import InvalidInput, Unauthenticated
from appliance.kernel.ids import SequentialIds, UserId
from appliance.kernel.structs import from_json, to_json
from tests.identity.support.authenticator import b64url
from tests.identity.support.oidc_fixtures import browse, clock, idp, login, provider_config, served_idp
from tests.identity.support.oidc_provider import CLIENT_ID, REDIRECT_URI, LocalOidcProvider

__all__ = ["clock", "idp", "login", "served_idp"]  # fixtures used by name below


async def test_login_end_to_end(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """Authorize with PKCE/state/nonce, follow the redirect, exchange the code: the identity comes back typed."""
    redirect = await login.begin()
    query = dict(parse_qsl(urlsplit(redirect.url).query))
    pending = redirect.pending
    assert redirect.url.startswith(f"{idp.issuer}/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == "openid email profile"
    assert (query["state"], query["nonce"]) == (pending.state, pending.nonce)
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == b64url(hashlib.sha256(pending.code_verifier.encode()).digest())
    assert len(pending.code_verifier) == 43
    assert "code_verifier" not in query
    callback = await browse(redirect.url)
    assert check_state_param(callback) == pending.state
    identity = await login.complete(pending, callback)
    assert identity == ExternalIdentity(
        provider="keycloak",
        issuer=idp.issuer,
        subject="5f1c9a3e-user-ada",
        email="ada@example.test",
        email_verified=True,
        name="Ada Lovelace",
    )


async def test_es256_signed_id_tokens_verify(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """A provider signing with its P-256 key is accepted like one signing with RSA."""
    idp.behaviour.alg = "ES256"
    redirect = await login.begin()
    assert (await login.complete(redirect.pending, await browse(redirect.url))).subject == idp.user.subject


async def test_discovery_and_keys_are_cached(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """Two logins fetch the discovery document and the JWKS once, not per login."""
    for _ in range(2):
        redirect = await login.begin()
        await login.complete(redirect.pending, await browse(redirect.url))
    fetched = [path for method, path in idp.requests if path in ("/.well-known/openid-configuration", "/jwks")]
    assert fetched == ["/.well-known/openid-configuration", "/jwks"]


async def test_rotated_provider_keys_are_fetched_again(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """After the provider rotates its keys, a token with the new key id makes the client refetch the JWKS."""
    redirect = await login.begin()
    await login.complete(redirect.pending, await browse(redirect.url))
    idp.rotate_keys()
    redirect = await login.begin()
    identity = await login.complete(redirect.pending, await browse(redirect.url))
    assert identity.subject == idp.user.subject
    assert [path for _, path in idp.requests].count("/jwks") == 2


async def test_userinfo_fills_in_what_the_id_token_lacks(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """Without e-mail claims in the ID token, the client reads them from the userinfo endpoint."""
    idp.behaviour.email_in_id_token = False
    redirect = await login.begin()
    identity = await login.complete(redirect.pending, await browse(redirect.url))
    assert (identity.email, identity.email_verified, identity.name) == ("ada@example.test", True, "Ada Lovelace")
    assert ("GET", "/userinfo") in idp.requests


async def test_only_a_json_true_counts_as_a_verified_email(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """`email_verified: "true"` (a string) or false leaves the identity unverified."""
    for flag in ("true", False):
        idp.user.email_verified = flag
        redirect = await login.begin()
        identity = await login.complete(redirect.pending, await browse(redirect.url))
        assert identity.email == "ada@example.test"
        assert identity.email_verified is False


async def test_client_secret_post_when_basic_is_not_offered(idp: LocalOidcProvider, clock: ManualClock) -> None:
    """A provider that only supports client_secret_post gets the secret in the form."""
    idp.behaviour.discovery_overrides = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    client = OidcLogin(provider_config(idp), clock=clock)
    try:
        redirect = await client.begin()
        assert (await client.complete(redirect.pending, await browse(redirect.url))).email_verified
    finally:
        await client.aclose()


async def test_a_link_login_carries_the_user_that_started_it(login: OidcLogin) -> None:
    """`begin(link_user_id=…)` records who asked to link, for the workflow's decision at the callback."""
    user_id = SequentialIds(seed=4).new(UserId)
    redirect = await login.begin(link_user_id=user_id)
    assert redirect.pending.link_user_id == user_id


async def test_pending_login_round_trips_through_json(login: OidcLogin) -> None:
    """The record the HTTP layer keeps in NATS KV decodes back to an equal value."""
    pending = (await login.begin()).pending
    assert from_json(to_json(pending), PendingLogin) == pending


@pytest.mark.parametrize(
    ("field", "value"),
    [("code_verifier", ""), ("code_verifier", "short"), ("code_verifier", "x" * 129), ("state", "a b" * 20)],
)
async def test_a_pending_login_with_a_broken_secret_does_not_decode(login: OidcLogin, field: str, value: str) -> None:
    """A stored record without a proper PKCE verifier or state is refused when read back, not used."""
    raw = msgspec.json.decode(to_json((await login.begin()).pending))
    raw[field] = value
    with pytest.raises(InvalidInput, match=field):
        from_json(msgspec.json.encode(raw), PendingLogin, what="pending login")
    del raw[field]
    with pytest.raises(InvalidInput, match=field):
        from_json(msgspec.json.encode(raw), PendingLogin, what="pending login")


async def test_the_stand_in_provider_refuses_a_token_request_without_a_verifier(
    login: OidcLogin, idp: LocalOidcProvider
) -> None:
    """Guard for the refusal tests: the provider really enforces PKCE, so they cannot pass vacuously."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    form = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI}
    form |= {"client_id": CLIENT_ID, "client_secret": "s3cret:with/odd+chars"}
    async with httpx.AsyncClient(trust_env=False) as raw:
        reply = await raw.post(f"{idp.issuer}/token", data=form)
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")


async def test_a_rejected_client_secret_is_a_configuration_problem(idp: LocalOidcProvider, clock: ManualClock) -> None:
    """`invalid_client` from the token endpoint means our secret is wrong: `ProviderMisconfigured`, for the admin."""
    client = OidcLogin(provider_config(idp, client_secret="not-the-secret"), clock=clock)
    try:
        redirect = await client.begin()
        with pytest.raises(ProviderMisconfigured, match="invalid_client"):
            await client.complete(redirect.pending, await browse(redirect.url))
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("email", "verified", "name", "expected"),
    [
        (" ada@example.test ", True, " Ada ", ("ada@example.test", True, "Ada")),
        ("", True, "", (None, False, None)),
        (None, True, None, (None, False, None)),
        (42, True, 42, (None, False, None)),
        ("ada@example.test", "true", "x" * 500, ("ada@example.test", False, "x" * 200)),
        ("ada@example.test", 1, None, ("ada@example.test", False, None)),
    ],
)
def test_provider_claims_are_normalised(
    email: object, verified: object, name: object, expected: tuple[object, ...]
) -> None:
    """Only a non-empty address with a JSON `true` is verified; odd types become None; names are bounded."""
    identity = make_identity("p", "https://i", subject="s", email=email, email_verified=verified, name=name)
    assert (identity.email, identity.email_verified, identity.name) == expected


def test_an_absurdly_long_email_is_refused() -> None:
    """A provider address longer than RFC 5321 allows is refused rather than stored."""
    with pytest.raises(Unauthenticated, match="longer than 320"):
        make_identity("p", "https://i", subject="s", email="a" * 400 + "@example.test", email_verified=True, name=None)


class CountingBytes:
    """A repeatable random source: each call returns the next block of a counter stream."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return bytes((self.calls * 7 + i) % 256 for i in range(size))


def test_pending_logins_draw_their_secrets_from_the_injected_source() -> None:
    """State, nonce and verifier are distinct 256-bit values from the given source, and expire in 10 minutes."""
    now = ManualClock().now()
    first = new_pending_login("keycloak", REDIRECT_URI, now=now, random_bytes=CountingBytes())
    again = new_pending_login("keycloak", REDIRECT_URI, now=now, random_bytes=CountingBytes())
    assert first == again
    assert len({first.state, first.nonce, first.code_verifier}) == 3
    assert {len(first.state), len(first.nonce), len(first.code_verifier)} == {43}
    assert (first.expires_at - first.created_at).total_seconds() == 600
