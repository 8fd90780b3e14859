"""The transport policy for provider URLs: https, or http only to loopback unless explicitly allowed."""

from __future__ import annotations

import pytest

from appliance.identity.auth.oidc_http import ProviderMisconfigured, check_provider_url, is_loopback_host


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example/realms/craton/.well-known/openid-configuration",
        "https://idp.example:8443/",
        "http://127.0.0.1:5556/dex",
        "http://127.8.9.10/",
        "http://localhost:8080/realms/x",
        "http://[::1]:9000/",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    """https anywhere and http to a loopback address need no setting."""
    assert check_provider_url(url, allow_insecure_http=False, what="url") == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://idp.example/", "plain http to a non-loopback host"),
        ("http://10.0.0.5/", "plain http to a non-loopback host"),
        ("http://localhost.evil.example/", "plain http to a non-loopback host"),
        ("http://127.0.0.1.nip.io/", "plain http to a non-loopback host"),
        ("ftp://idp.example/", "must be an http"),
        ("file:///etc/passwd", "must be an http"),
        ("javascript:alert(1)", "must be an http"),
        ("https:///no-host", "must be an http"),
        ("https://admin:pw@idp.example/", "no user"),
        ("https://idp.example/#frag", "no user or fragment"),
        ("https://idp.example:99999/", "not a valid URL"),
        ("", "at most"),
        ("https://idp.example/" + "a" * 2100, "at most"),
        (None, "at most"),
    ],
)
def test_unsafe_urls_are_refused(url: object, message: str) -> None:
    """Plain http off loopback (including look-alike names), other schemes, credentials, fragments: refused."""
    with pytest.raises(ProviderMisconfigured, match=message):
        check_provider_url(url, allow_insecure_http=False, what="url")


def test_the_explicit_setting_allows_http_but_nothing_else() -> None:
    """`allow_insecure_http` opens plain http to any host and still refuses other schemes and credentials."""
    assert check_provider_url("http://idp.lan/", allow_insecure_http=True, what="url") == "http://idp.lan/"
    with pytest.raises(ProviderMisconfigured):
        check_provider_url("ftp://idp.lan/", allow_insecure_http=True, what="url")
    with pytest.raises(ProviderMisconfigured):
        check_provider_url("http://u:p@idp.lan/", allow_insecure_http=True, what="url")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("localhost.example", False),
        ("", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    """Only names and addresses that cannot leave the machine count as loopback."""
    assert is_loopback_host(host) is loopback
