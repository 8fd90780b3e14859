"""Rate limits: auth routes per IP and per account BEFORE any password hashing (429 + Retry-After),
and the general per-principal limit of the API. Hashes are counted, never timed."""

from __future__ import annotations

from appliance.identity.auth.ratelimit import RateLimit

from .harness import GENEROUS, OWNER_EMAIL, PASSWORD, Running, Starter, assert_problem, bootstrap


def hashes(running: Running) -> int:
    services = running.appliance.services
    assert services is not None
    return services.identity.hashing.operations_total


async def test_login_is_limited_per_account_before_hashing(start: Starter) -> None:
    """After the account's burst, further attempts are 429 with Retry-After and cost no hash at all."""
    running = await start(login_per_account=RateLimit(burst=3, per_s=1 / 60), login_per_ip=GENEROUS)
    await bootstrap(running)
    for _ in range(3):
        wrong = await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": "wrong pass 1"})
        assert_problem(wrong, 401)
    before = hashes(running)
    for _ in range(5):
        limited = await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": PASSWORD})
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
    assert hashes(running) == before
    other = await running.http.post("/api/v1/auth/login", json={"email": "else@example.org", "password": PASSWORD})
    assert_problem(other, 401)  # another account still gets an answer (its own bucket)
    assert hashes(running) == before + 1
    running.clock.advance(61)
    assert (
        await running.http.post("/api/v1/auth/login", json={"email": OWNER_EMAIL, "password": PASSWORD})
    ).status_code == 200


async def test_login_is_limited_per_ip_across_accounts(start: Starter) -> None:
    """One client spraying many accounts hits the per-IP limit; the refused attempts hash nothing."""
    running = await start(login_per_ip=RateLimit(burst=4, per_s=1 / 60), login_per_account=GENEROUS)
    for number in range(4):
        reply = await running.http.post(
            "/api/v1/auth/login", json={"email": f"spray{number}@example.org", "password": PASSWORD}
        )
        assert_problem(reply, 401)
    before = hashes(running)
    limited = await running.http.post("/api/v1/auth/login", json={"email": "spray9@example.org", "password": PASSWORD})
    assert_problem(limited, 429)
    assert "Retry-After" in limited.headers
    assert hashes(running) == before


async def test_signup_is_limited_before_hashing(start: Starter) -> None:
    """Signup attempts from one client are limited per IP before their password is hashed."""
    running = await start(login_per_ip=RateLimit(burst=1, per_s=1 / 60), login_per_account=GENEROUS)
    await bootstrap(running)  # the one allowed attempt
    before = hashes(running)
    body = {"email": "late@example.org", "password": PASSWORD, "display_name": "Late", "org_name": "L"}
    assert_problem(await running.http.post("/api/v1/auth/signup", json=body), 429)
    assert hashes(running) == before


async def test_refused_signups_never_hash(running: Running) -> None:
    """A signup that cannot succeed (invite-only, no token) is refused by a dry run before any hash."""
    await bootstrap(running)
    before = hashes(running)
    body = {"email": "walk@example.org", "password": PASSWORD, "display_name": "W", "org_name": "W"}
    assert_problem(await running.http.post("/api/v1/auth/signup", json=body), 403)
    assert hashes(running) == before


async def test_the_api_limits_each_principal(start: Starter) -> None:
    """A principal that spends its allowance gets 429 with Retry-After; another principal is unaffected."""
    running = await start(api_per_principal=RateLimit(burst=5, per_s=0.01))
    owner = await bootstrap(running)
    statuses = [(await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]
    limited = await running.http.get("/api/v1/users/me", headers=owner.auth)
    assert int(limited.headers["Retry-After"]) >= 1
    running.clock.advance(200)
    assert (await running.http.get("/api/v1/users/me", headers=owner.auth)).status_code == 200
