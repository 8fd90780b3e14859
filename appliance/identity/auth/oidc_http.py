"""Bounded HTTP to OAuth/OIDC providers, and the rule for which provider URLs are acceptable.

This module owns every byte the appliance exchanges with an identity provider: it checks each
URL against the transport policy before a request (`check_provider_url`), sends it with httpx
with timeouts, no redirects and no proxy taken from the environment, and reads at most
`RESPONSE_BYTES_MAX` bytes of JSON back. A provider that is down, slow, oversized or not
speaking JSON is `ProviderUnavailable`; a URL that breaks the policy is `ProviderMisconfigured`.
It must never decide whether a login succeeds (that is `oidc.py`), never follow a redirect
(a provider's endpoints are named in configuration or discovery, not by a 302), and never read
the environment (proxies, CA paths, insecure-transport switches all come from configuration).

The transport policy: `https://` always; `http://` only to a loopback host (tests, a provider on
the same machine) unless the provider's configuration sets `allow_insecure_http`; no user
information in URLs, no fragments.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from appliance.kernel.errors import ConfigError, Unavailable

HTTP_TIMEOUT_S = 10.0
RESPONSE_BYTES_MAX = 1024 * 1024
URL_CHARS_MAX = 2048
_LOOPBACK_NAMES = frozenset({"localhost"})


class ProviderMisconfigured(ConfigError):
    """The provider's configuration or discovery document is unusable or unsafe; an admin must act."""

    code = "provider_misconfigured"


class ProviderUnavailable(Unavailable):
    """The provider could not be reached or answered something that is not a usable reply."""

    code = "provider_unavailable"


def is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_provider_url(url: object, *, allow_insecure_http: bool, what: str) -> str:
    """Return `url` if the transport policy accepts it; otherwise `ProviderMisconfigured` naming `what`."""
    if not isinstance(url, str) or not url or len(url) > URL_CHARS_MAX:
        raise ProviderMisconfigured(f"{what} must be a URL of at most {URL_CHARS_MAX} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        has_user = parts.username is not None or parts.password is not None
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ProviderMisconfigured(f"{what} {url!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host or has_user or parts.fragment:
        raise ProviderMisconfigured(f"{what} {url!r} must be an http(s) URL with a host, no user or fragment")
    if parts.scheme == "http" and not (allow_insecure_http or is_loopback_host(host)):
        raise ProviderMisconfigured(
            f"{what} {url!r} uses plain http to a non-loopback host; use https, "
            "or set allow_insecure_http for this provider if the network is trusted"
        )
    return url


class ProviderHttp:
    """One provider's HTTP client: policy-checked URLs, timeouts, bounded JSON replies."""

    def __init__(
        self,
        *,
        allow_insecure_http: bool,
        ca_file: str | None = None,
        timeout_s: float = HTTP_TIMEOUT_S,
        response_bytes_max: int = RESPONSE_BYTES_MAX,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allow_insecure_http = allow_insecure_http
        self._response_bytes_max = response_bytes_max
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            verify=_tls_context(ca_file),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "craton-appliance"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, url: str, *, what: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return await self._send("GET", url, what=what, headers=headers)

    async def post_form(
        self,
        url: str,
        form: dict[str, str],
        *,
        what: str,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, Any]:
        return await self._send("POST", url, what=what, form=form, auth=auth)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; return the status and the decoded JSON body (any status)."""
        check_provider_url(url, allow_insecure_http=self._allow_insecure_http, what=what)
        request = self._client.build_request(method, url, headers=headers, data=form)
        basic = None
        if auth is not None:
            # RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
            basic = httpx.BasicAuth(quote(auth[0], safe=""), quote(auth[1], safe=""))
        try:
            response = await self._client.send(request, stream=True, auth=basic)
            try:
                body = await self._read_bounded(response, what)
            finally:
                await response.aclose()
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{what} could not be reached: {type(error).__name__}") from None
        if 300 <= response.status_code < 400:
            raise ProviderUnavailable(f"{what} answered with a redirect (HTTP {response.status_code}), not JSON")
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{what} failed with HTTP {response.status_code}")
        try:
            return response.status_code, msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise ProviderUnavailable(f"{what} did not answer JSON (HTTP {response.status_code})") from None

    async def _read_bounded(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._response_bytes_max:
            raise ProviderUnavailable(f"{what} reply is larger than {self._response_bytes_max} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._response_bytes_max:
                raise ProviderUnavailable(f"{what} reply is larger than {self._response_bytes_max} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """System trust store, or an on-prem CA bundle from configuration (air-gapped sites have one)."""
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ProviderMisconfigured(f"cannot load the provider CA file {ca_file!r}: {error}") from None
