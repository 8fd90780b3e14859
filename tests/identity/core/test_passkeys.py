"""Passkeys through the HTTP routes with the software authenticator (real ES256 keys, real CBOR):
register, log in with and without a user name, list, remove (which ends other sessions), and the
refusals: replayed challenges, another origin, a cloned authenticator, another account's challenge."""

from __future__ import annotations

import pytest

from tests.identity.support.authenticator import SoftwareAuthenticator

from .harness import OWNER_EMAIL, PASSWORD, Account, Running, assert_problem, bearer, bootstrap, log_in

ORIGIN = "http://localhost:8470"


async def register(running: Running, account: Account, device: SoftwareAuthenticator, name: str = "laptop") -> str:
    options = await running.http.post("/api/v1/auth/webauthn/register/options", headers=account.auth)
    assert options.status_code == 200, options.text
    body = options.json()
    credential = device.create(body["options"], origin=ORIGIN)
    verified = await running.http.post(
        "/api/v1/auth/webauthn/register/verify",
        json={"challenge_id": body["challenge_id"], "credential": credential, "name": name},
        headers=account.auth,
    )
    assert verified.status_code == 201, verified.text
    passkey_id: str = verified.json()["passkey_id"]
    return passkey_id


async def passkey_login(
    running: Running, device: SoftwareAuthenticator, email: str | None, **knobs: object
) -> tuple[int, dict[str, object]]:
    options = await running.http.post("/api/v1/auth/webauthn/login/options", json={"email": email})
    assert options.status_code == 200, options.text
    body = options.json()
    assertion = device.get(body["options"], origin=str(knobs.pop("origin", ORIGIN)), **knobs)  # type: ignore[arg-type]
    reply = await running.http.post(
        "/api/v1/auth/webauthn/login/verify", json={"challenge_id": body["challenge_id"], "credential": assertion}
    )
    return reply.status_code, reply.json()


async def test_register_list_and_log_in_with_and_without_a_user_name(running: Running) -> None:
    """A registered passkey is listed, and signs in both with the e-mail and usernameless."""
    owner = await bootstrap(running)
    device = SoftwareAuthenticator()
    passkey_id = await register(running, owner, device, "my laptop")
    listed = (await running.http.get("/api/v1/users/me/passkeys", headers=owner.auth)).json()["passkeys"]
    assert [(p["passkey_id"], p["name"], p["last_used_at"]) for p in listed] == [(passkey_id, "my laptop", None)]
    status, tokens = await passkey_login(running, device, OWNER_EMAIL)
    assert status == 200, tokens
    me = await running.http.get("/api/v1/users/me", headers=bearer(str(tokens["access_token"])))
    assert me.json()["email"] == OWNER_EMAIL
    status, tokens = await passkey_login(running, device, None)
    assert status == 200, tokens
    sessions = (await running.http.get("/api/v1/auth/sessions", headers=owner.auth)).json()["sessions"]
    assert [s["method"] for s in sessions] == ["password", "passkey", "passkey"]
    listed = (await running.http.get("/api/v1/users/me/passkeys", headers=owner.auth)).json()["passkeys"]
    assert listed[0]["last_used_at"] is not None


async def test_removing_a_passkey_ends_other_sessions_and_it_no_longer_signs_in(running: Running) -> None:
    """Removing a passkey keeps the current session, ends the others, and the passkey is refused after."""
    owner = await bootstrap(running)
    device = SoftwareAuthenticator()
    passkey_id = await register(running, owner, device)
    other = await log_in(running, OWNER_EMAIL)
    removed = await running.http.delete(f"/api/v1/users/me/passkeys/{passkey_id}", headers=owner.auth)
    assert removed.status_code == 204, removed.text
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200
    assert_problem(await running.http.get("/api/v1/users/me", headers=other.auth), 401)
    assert (await running.http.get("/api/v1/users/me/passkeys", headers=owner.auth)).json()["passkeys"] == []
    status, body = await passkey_login(running, device, None)
    assert status == 401, body
    again = await running.http.delete(f"/api/v1/users/me/passkeys/{passkey_id}", headers=owner.auth)
    assert_problem(again, 404)


async def test_removing_one_passkey_leaves_the_others(running: Running) -> None:
    """With two passkeys registered, removing the first leaves exactly the second."""
    owner = await bootstrap(running)
    device = SoftwareAuthenticator()
    first = await register(running, owner, device)
    second = await register(running, owner, SoftwareAuthenticator(), "phone")
    assert (await running.http.delete(f"/api/v1/users/me/passkeys/{first}", headers=owner.auth)).status_code == 204
    assert (await running.http.get("/api/v1/users/me/passkeys", headers=owner.auth)).json()["passkeys"][0][
        "passkey_id"
    ] == second


async def test_a_challenge_is_used_once(running: Running) -> None:
    """Replaying a verify request with the same challenge is refused (the record was taken)."""
    owner = await bootstrap(running)
    device = SoftwareAuthenticator()
    await register(running, owner, device)
    options = (await running.http.post("/api/v1/auth/webauthn/login/options", json={})).json()
    assertion = device.get(options["options"], origin=ORIGIN)
    body = {"challenge_id": options["challenge_id"], "credential": assertion}
    first = await running.http.post("/api/v1/auth/webauthn/login/verify", json=body)
    assert first.status_code == 200, first.text
    assert_problem(await running.http.post("/api/v1/auth/webauthn/login/verify", json=body), 401)


async def test_wrong_origin_and_cloned_authenticators_are_refused(running: Running) -> None:
    """An assertion made for another origin is refused; a clone whose counter lags is refused too."""
    owner = await bootstrap(running)
    device = SoftwareAuthenticator()
    await register(running, owner, device)
    status, _ = await passkey_login(running, device, OWNER_EMAIL, origin="https://evil.example")
    assert status == 401
    clone = device.clone()
    status, _ = await passkey_login(running, device, OWNER_EMAIL)
    assert status == 200
    status, body = await passkey_login(running, clone, OWNER_EMAIL)
    assert status == 401, body


async def test_a_credential_belongs_to_one_account(running: Running) -> None:
    """Another user cannot register an authenticator's existing credential, nor use another's challenge."""
    owner = await bootstrap(running)
    await running.http.patch("/api/v1/instance", json={"signup_mode": "open"}, headers=owner.auth)
    signup = await running.http.post(
        "/api/v1/auth/signup",
        json={"email": "eve@example.org", "password": PASSWORD, "display_name": "Eve", "org_name": "E"},
    )
    eve = bearer(signup.json()["access_token"])
    options = (await running.http.post("/api/v1/auth/webauthn/register/options", headers=owner.auth)).json()
    device = SoftwareAuthenticator()
    credential = device.create(options["options"], origin=ORIGIN)
    stolen = await running.http.post(
        "/api/v1/auth/webauthn/register/verify",
        json={"challenge_id": options["challenge_id"], "credential": credential},
        headers=eve,
    )
    assert_problem(stolen, 401)
    assert (await running.http.get("/api/v1/users/me/passkeys", headers=eve)).json()["passkeys"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"challenge_id": "short", "credential": {}},
        {"challenge_id": "A" * 24, "credential": {}},
        {"challenge_id": "A" * 24, "credential": {"rawId": "!!!", "response": {}}},
        {"challenge_id": "A" * 24, "credential": {"rawId": "AAAA", "response": {"userHandle": "AAAA"}}},
        {"challenge_id": "A" * 24, "credential": []},
        {"challenge_id": "A" * 24},
        {"challenge_id": "A" * 65, "credential": {}},
    ],
)
async def test_malformed_passkey_bodies_are_4xx(running: Running, body: dict[str, object]) -> None:
    """Garbage in a passkey verify request is a 4xx problem, never a 500."""
    reply = await running.http.post("/api/v1/auth/webauthn/login/verify", json=body)
    assert 400 <= reply.status_code < 500, reply.text
    assert_problem(reply, reply.status_code)
