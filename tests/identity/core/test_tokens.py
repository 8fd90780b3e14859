"""Forged and stale access tokens are refused end to end (401 problem+json), and API-key-shaped
or malformed bearer credentials never reach a handler."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .harness import Running, Starter, assert_problem, bearer, bootstrap


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _header(token: str) -> dict[str, object]:
    head = token.split(".", maxsplit=1)[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def _sign(running: Running, claims: dict[str, object], *, key: Ed25519PrivateKey | None = None) -> str:
    services = running.appliance.services
    assert services is not None
    active = services.identity.keyring.active()
    return jwt.encode(
        claims, key or active.private_key, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": active.kid}
    )


async def test_a_genuine_token_passes(running: Running) -> None:
    """The baseline: the token signup issued is accepted (so each refusal below is about its one change)."""
    owner = await bootstrap(running)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200
    resigned = _sign(running, _claims(owner.access_token))
    assert (await running.http.get("/api/v1/users/me", headers=bearer(resigned))).status_code == 200


@pytest.mark.parametrize("forgery", ["tampered", "alg_none", "wrong_key", "wrong_audience", "wrong_issuer", "hs256"])
async def test_forged_tokens_are_refused(running: Running, forgery: str) -> None:
    """Tampered payload, `alg: none`, another key, wrong `aud`/`iss`, HMAC with the public key: all 401."""
    owner = await bootstrap(running)
    token = owner.access_token
    claims = _claims(token)
    head, payload, signature = token.split(".")
    if forgery == "tampered":
        forged_claims = {**claims, "sub": "01900000-0000-7000-8000-000000000001"}
        forged = f"{head}.{_b64(json.dumps(forged_claims).encode())}.{signature}"
    elif forgery == "alg_none":
        none_head = {**_header(token), "alg": "none"}
        forged = f"{_b64(json.dumps(none_head).encode())}.{payload}."
    elif forgery == "wrong_key":
        forged = _sign(running, claims, key=Ed25519PrivateKey.generate())
    elif forgery == "wrong_audience":
        forged = _sign(running, {**claims, "aud": "some-other-service"})
    elif forgery == "wrong_issuer":
        forged = _sign(running, {**claims, "iss": "craton:another-instance"})
    else:
        services = running.appliance.services
        assert services is not None
        public = services.identity.keyring.active().public_key.public_bytes_raw()
        hs_head = {**_header(token), "alg": "HS256"}
        signing_input = f"{_b64(json.dumps(hs_head).encode())}.{payload}"
        mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{_b64(mac)}"
    body = assert_problem(await running.http.get("/api/v1/users/me", headers=bearer(forged)), 401, "token_invalid")
    assert body["detail"] == "access token is not valid"


async def test_expired_tokens_are_refused_with_their_own_code(start: Starter) -> None:
    """Past `exp` (and the leeway) a genuine token is `token_expired`, so a client knows to refresh."""
    running = await start(access_token_ttl_s=120)
    owner = await bootstrap(running)
    running.clock.advance(130)
    assert_problem(await running.http.get("/api/v1/users/me", headers=owner.auth), 401, "token_expired")
    refreshed = await running.http.post("/api/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert (
        await running.http.get("/api/v1/users/me", headers=bearer(refreshed.json()["access_token"]))
    ).status_code == 200


async def test_a_token_of_another_appliance_is_refused(start: Starter) -> None:
    """Two appliances have different keys and issuers: one's token means nothing to the other."""
    first = await start()
    second = await start()
    owner = await bootstrap(first)
    assert_problem(await second.http.get("/api/v1/users/me", headers=owner.auth), 401, "token_invalid")


@pytest.mark.parametrize(
    "header",
    [
        "Basic b3duZXI6cGFzcw==",
        "Bearer",
        "Bearer    x",
        "bearer not.a.jwt",
        "Bearer " + "a" * 5000,
        "Bearer crk_short",
        "Bearer crk_" + "a" * 52,
        "Bearer eyJhbGciOiJFZERTQSJ9.e30.",
        "Bearer \u00e9\u00e9\u00e9",
    ],
)
async def test_malformed_bearer_credentials_are_401(running: Running, header: str) -> None:
    """Whatever the Authorization header holds, a bad credential is a 401 problem, never a 500."""
    await bootstrap(running)
    reply = await running.http.get("/api/v1/users/me", headers={"Authorization": header.encode("utf-8")})
    assert_problem(reply, 401)


async def test_routes_of_a_signed_in_user_refuse_api_keys_and_anonymous_callers(running: Running) -> None:
    """Without credentials every account route is 401."""
    await bootstrap(running)
    for method, path in [
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("POST", "/api/v1/users/me/password"),
        ("GET", "/api/v1/users/me/passkeys"),
        ("GET", "/api/v1/auth/sessions"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/admin/users"),
    ]:
        reply = await running.http.request(method, path, json={} if method in {"PATCH", "POST"} else None)
        assert reply.status_code in {400, 401}, (method, path, reply.text)
        assert_problem(reply, reply.status_code)
