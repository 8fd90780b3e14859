"""OIDC logins that must fail do fail, each with the error that names what went wrong."""

from __future__ import annotations

import socket

import msgspec
import pytest

from appliance.identity.auth.oidc import (
    OidcLogin,
    ProviderMisconfigured,
    ProviderUnavailable,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError, InvalidInput, Unauthenticated
from tests.identity.support.oidc_fixtures import browse, clock, idp, login, provider_config, served_idp
from tests.identity.support.oidc_provider import LocalOidcProvider

__all__ = ["clock", "idp", "login", "served_idp"]  # fixtures used by name below


async def complete(login: OidcLogin, **callback_changes: str) -> None:
    redirect = await login.begin()
    callback = await browse(redirect.url) | callback_changes
    await login.complete(redirect.pending, callback)


async def test_a_wrong_state_is_refused(login: OidcLogin) -> None:
    """A callback whose state is not this login's (cross-site request forgery) is refused."""
    with pytest.raises(Unauthenticated, match="state does not match"):
        await complete(login, state="A" * 43)


async def test_a_missing_state_is_invalid_input(login: OidcLogin) -> None:
    """A callback without state is malformed and says which parameter is missing."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    del callback["state"]
    with pytest.raises(InvalidInput, match="state") as caught:
        await login.complete(redirect.pending, callback)
    assert caught.value.field == "state"


async def test_an_oversized_parameter_is_invalid_input(login: OidcLogin) -> None:
    """Callback parameters have a length limit."""
    with pytest.raises(InvalidInput, match="at most 2048"):
        await complete(login, code="c" * 5000)


async def test_a_login_for_another_provider_is_refused(login: OidcLogin) -> None:
    """A pending login made for one provider cannot be completed at another."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    other = msgspec.structs.replace(redirect.pending, provider="dex")
    with pytest.raises(Unauthenticated, match="started for provider 'dex'"):
        await login.complete(other, callback)


async def test_an_expired_login_is_refused(login: OidcLogin, clock: ManualClock) -> None:
    """A callback arriving after the pending login's expiry is refused."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    clock.advance(601)
    with pytest.raises(Unauthenticated, match="expired"):
        await login.complete(redirect.pending, callback)


async def test_a_provider_error_is_reported(login: OidcLogin) -> None:
    """`error=access_denied` on the callback becomes a refusal that names it, with text sanitized."""
    with pytest.raises(Unauthenticated, match="access_denied The user said no\\?") as caught:
        await complete(login, error="access_denied", error_description="The user said no\x1b")
    assert "\x1b" not in caught.value.message


async def test_a_callback_from_another_issuer_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """An `iss` on the callback naming another issuer (RFC 9207 mix-up) is refused."""
    idp.behaviour.callback_iss = "https://other-idp.example"
    with pytest.raises(Unauthenticated, match="another issuer"):
        await complete(login)


async def test_a_wrong_nonce_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """An ID token carrying another login's nonce (a replayed token) is refused."""
    idp.behaviour.nonce = "B" * 43
    with pytest.raises(Unauthenticated, match="nonce does not match"):
        await complete(login)


async def test_a_missing_nonce_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """An ID token without the nonce we sent is refused."""
    idp.behaviour.omit_nonce = True
    with pytest.raises(Unauthenticated, match="lacks the nonce claim"):
        await complete(login)


async def test_an_incorrect_pkce_verifier_is_refused(login: OidcLogin) -> None:
    """If the verifier does not match the challenge sent at authorize, the provider refuses the code."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    forged = msgspec.structs.replace(redirect.pending, code_verifier="x" * 43)
    with pytest.raises(Unauthenticated, match="refused the code exchange: invalid_grant"):
        await login.complete(forged, callback)


async def test_a_code_is_good_once(login: OidcLogin) -> None:
    """Replaying a callback whose code was already exchanged is refused by the provider."""
    redirect = await login.begin()
    callback = await browse(redirect.url)
    await login.complete(redirect.pending, callback)
    with pytest.raises(Unauthenticated, match="invalid_grant"):
        await login.complete(redirect.pending, callback)


async def test_an_expired_id_token_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """An ID token whose exp is past (beyond the clock-skew leeway) is refused."""
    idp.behaviour.id_token_lifetime_s = -61
    with pytest.raises(Unauthenticated, match="expired"):
        await complete(login)


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("audience", "some-other-client", "another client"),
        ("token_issuer", "https://evil.example", "another issuer"),
        ("tamper_signature", True, "signature does not verify"),
        ("sign_with_unpublished_key", True, "signature does not verify"),
        ("at_hash", "wrong", "at_hash"),
    ],
)
async def test_forged_id_tokens_are_refused(
    login: OidcLogin, idp: LocalOidcProvider, knob: str, value: object, message: str
) -> None:
    """Wrong audience, wrong issuer, a tampered signature, a key we do not know, a wrong at_hash: refused."""
    setattr(idp.behaviour, knob, value)
    with pytest.raises(Unauthenticated, match=message):
        await complete(login)


async def test_forged_key_ids_refetch_keys_at_most_once_a_minute(
    login: OidcLogin, idp: LocalOidcProvider, clock: ManualClock
) -> None:
    """A flood of unknown key ids costs one JWKS fetch per interval; after it, real new keys are found."""
    await complete(login)
    idp.rotate_keys()
    await complete(login)  # the first unknown key id refetches at once
    idp.rotate_keys()
    with pytest.raises(Unauthenticated, match="does not publish"):
        await complete(login)
    assert [path for _, path in idp.requests].count("/jwks") == 2
    clock.advance(61)
    await complete(login)
    assert [path for _, path in idp.requests].count("/jwks") == 3


async def test_discovery_naming_another_issuer_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """A discovery document whose issuer is not the configured one is refused before any redirect."""
    idp.behaviour.discovery_issuer = "https://evil.example"
    with pytest.raises(ProviderMisconfigured, match=r"names issuer 'https://evil\.example'"):
        await login.begin()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"token_endpoint": "http://idp.example/token"}, "plain http to a non-loopback host"),
        ({"jwks_uri": "ftp://idp.example/jwks"}, "must be an http"),
        ({"authorization_endpoint": "https://user:pw@idp.example/auth"}, "no user"),
        ({"code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
        ({"id_token_signing_alg_values_supported": ["HS256", "none"]}, "no allowed algorithm"),
        ({"token_endpoint": 17}, "unusable"),
    ],
)
async def test_unsafe_discovery_documents_are_refused(
    login: OidcLogin, idp: LocalOidcProvider, overrides: dict[str, object], message: str
) -> None:
    """Endpoints over plain http off loopback, odd schemes, credentials in URLs, no S256, HMAC only: refused."""
    idp.behaviour.discovery_overrides = overrides
    with pytest.raises(ProviderMisconfigured, match=message):
        await login.begin()


async def test_an_oversized_discovery_document_is_refused(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """A reply above the size limit is cut off and refused, not read into memory whole."""
    idp.behaviour.discovery_overrides = {"padding": "x" * (2 * 1024 * 1024)}
    with pytest.raises(ProviderUnavailable, match="larger than"):
        await login.begin()


async def test_a_redirected_discovery_document_is_not_followed(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """Provider endpoints come from configuration and discovery, never from a 302 to somewhere else."""
    idp.behaviour.discovery_redirect = "https://evil.example/.well-known/openid-configuration"
    with pytest.raises(ProviderUnavailable, match="redirect"):
        await login.begin()
    assert [path for _, path in idp.requests] == ["/.well-known/openid-configuration"]


async def test_a_discovery_reply_that_is_not_json_is_unavailable(login: OidcLogin, idp: LocalOidcProvider) -> None:
    """An HTML error page where JSON was expected is reported, not parsed."""
    idp.behaviour.discovery_body = b"<html><body>Service Unavailable</body></html>"
    with pytest.raises(ProviderUnavailable, match="did not answer JSON"):
        await login.begin()


async def test_an_unreachable_provider_is_unavailable(clock: ManualClock, idp: LocalOidcProvider) -> None:
    """A provider nobody listens for is `ProviderUnavailable` (5xx), not a crash or a hang."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = provider_config(idp, discovery_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    client = OidcLogin(config, clock=clock)
    try:
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            await client.begin()
    finally:
        await client.aclose()


async def test_a_missing_discovery_document_is_unavailable(clock: ManualClock, idp: LocalOidcProvider) -> None:
    """A discovery URL that answers 404 is reported with its status."""
    config = provider_config(idp, discovery_url=f"{idp.issuer}/realms/x/.well-known/openid-configuration")
    client = OidcLogin(config, clock=clock)
    try:
        with pytest.raises(ProviderUnavailable, match="HTTP 404"):
            await client.begin()
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"discovery_url": "http://idp.example/.well-known/openid-configuration"}, "plain http"),
        ({"discovery_url": "https://idp.example/config"}, "must end in"),
        ({"name": "Key Cloak"}, "provider name"),
        ({"client_id": ""}, "client_id"),
        ({"scopes": ("email",)}, "openid scope"),
    ],
)
def test_provider_configuration_is_checked(idp: LocalOidcProvider, changes: dict[str, object], message: str) -> None:
    """Unsafe or unusable provider settings are a `ConfigError` when the configuration is loaded."""
    with pytest.raises(ConfigError, match=message):
        provider_config(idp, **changes)


def test_plain_http_off_loopback_needs_an_explicit_setting(idp: LocalOidcProvider) -> None:
    """`allow_insecure_http` lets an admin accept http on a trusted network, and nothing else does."""
    config = provider_config(
        idp, discovery_url="http://idp.lan/.well-known/openid-configuration", allow_insecure_http=True
    )
    assert config.expected_issuers() == ("http://idp.lan", "http://idp.lan/")
