"""Password reset over real HTTP (an in-process appliance with real NATS and SQLite): a token
issued as `craton admin reset-password` does, redeemed at `POST /api/v1/auth/password-reset` —
once, before it expires, for an enabled account, after the rate limits and the password policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.identity.auth.ratelimit import RateLimit
from appliance.identity.domain.principals import Operator
from appliance.identity.http.auth_common import ports_of
from appliance.identity.workflows.password_reset import (
    RESET_TOKEN_CHARS,
    RESET_TOKEN_PREFIX,
    issue_password_reset,
    make_reset_token,
    parse_reset_token,
)
from appliance.identity.workflows.users import set_user_status
from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import UserId
from tests.identity.core.harness import (
    PASSWORD,
    Account,
    Running,
    Starter,
    assert_problem,
    bearer,
    bootstrap,
    log_in,
    make_starter,
)

NEW_PASSWORD = "a brand new passphrase 2026"
PATH = "/api/v1/auth/password-reset"
OPERATOR = Operator(name="tester")


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Starter]:
    async with make_starter(tmp_path) as starter:
        yield starter


@pytest.fixture
async def running(start: Starter) -> Running:
    result: Running = await start()
    return result


def services_of(running: Running) -> Any:
    services = running.appliance.services
    assert services is not None
    return services


async def issue(running: Running, account: Account, ttl_s: int = 3600) -> str:
    """A reset token made exactly as `craton admin reset-password` makes it."""
    issued = await issue_password_reset(
        ports_of(services_of(running)), OPERATOR, UserId.parse(account.user_id), ttl_s=ttl_s
    )
    return issued.token


async def redeem(running: Running, token: object, password: object = NEW_PASSWORD) -> Any:
    return await running.http.post(PATH, json={"token": token, "new_password": password})


async def test_a_token_sets_the_password_once_and_ends_every_session(running: Running) -> None:
    """204; the old password and every earlier session stop working; the token cannot be used twice."""
    owner = await bootstrap(running)
    other = await log_in(running, owner.email)
    token = await issue(running, owner)
    assert (await redeem(running, token)).status_code == 204
    for session in (owner, other):
        assert_problem(await running.http.get("/api/v1/users/me", headers=session.auth), 401)
    login = await running.http.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert_problem(login, 401)
    assert (await log_in(running, owner.email, NEW_PASSWORD)).access_token
    assert_problem(await redeem(running, token, "yet another passphrase 77"), 401)


async def test_an_expired_token_is_refused_and_the_password_kept(running: Running) -> None:
    """A token past its ttl is 401 like a wrong one; the account still opens with its old password."""
    owner = await bootstrap(running)
    token = await issue(running, owner, ttl_s=300)
    running.clock.advance(301)
    body = assert_problem(await redeem(running, token), 401)
    assert body["detail"] == "the password-reset token is invalid or has expired"
    assert (await log_in(running, owner.email)).access_token


async def test_only_the_newest_token_works_and_a_forged_one_never(running: Running) -> None:
    """Issuing again replaces the earlier token; a well-formed token with another secret is 401."""
    owner = await bootstrap(running)
    first = await issue(running, owner)
    second = await issue(running, owner)
    assert_problem(await redeem(running, first), 401)
    forged = make_reset_token(UserId.parse(owner.user_id))
    assert_problem(await redeem(running, forged), 401)
    unknown = make_reset_token(UserId.parse("0190f3a4-7b1c-7def-8123-456789abcdef"))
    assert_problem(await redeem(running, unknown), 401)
    assert (await redeem(running, second)).status_code == 204


async def test_a_refused_new_password_loses_nothing(running: Running) -> None:
    """A too short, too common or control-character password is 400, and the same token still works after."""
    owner = await bootstrap(running)
    token = await issue(running, owner)
    for weak in ("short", "password1234", "correct horse\x00battery", owner.email):
        assert_problem(await redeem(running, token, weak), 400)
    assert (await redeem(running, token)).status_code == 204


async def test_a_disabled_account_cannot_be_reset_back_into_use(running: Running) -> None:
    """A valid token for a disabled account is 403; enabling comes first."""
    owner = await bootstrap(running)
    token = await issue(running, owner)
    await set_user_status(ports_of(services_of(running)), OPERATOR, UserId.parse(owner.user_id), enabled=False)
    assert_problem(await redeem(running, token), 403)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": "crp_x"},
        {"token": 7, "new_password": NEW_PASSWORD},
        {"token": "crk_" + "a" * (RESET_TOKEN_CHARS - 4), "new_password": NEW_PASSWORD},
        {"token": RESET_TOKEN_PREFIX + "a" * 10, "new_password": NEW_PASSWORD},
        {"token": RESET_TOKEN_PREFIX + "!" * (RESET_TOKEN_CHARS - 4), "new_password": NEW_PASSWORD},
        {"token": "x" * 10_000, "new_password": NEW_PASSWORD},
        {"token": RESET_TOKEN_PREFIX + "a" * (RESET_TOKEN_CHARS - 4), "new_password": "p" * 100_000},
        {"token": RESET_TOKEN_PREFIX + "a" * (RESET_TOKEN_CHARS - 4), "new_password": None},
    ],
)
async def test_malformed_bodies_are_400_problems_and_spend_no_hash(running: Running, body: dict[str, Any]) -> None:
    """Missing fields, wrong types, foreign or broken tokens and oversized values: 400, no argon2 work."""
    hashing = services_of(running).identity.hashing
    before = hashing.operations_total
    reply = await running.http.post(PATH, json=body)
    assert_problem(reply, 400)
    assert hashing.operations_total == before


async def test_attempts_beyond_the_limit_are_429_before_any_hashing(start: Starter) -> None:
    """With two attempts allowed per account, the third is 429 with Retry-After and costs no argon2 work."""
    running: Running = await start(login_per_account=RateLimit(burst=2, per_s=0.001))
    owner = await bootstrap(running)
    token = await issue(running, owner)
    hashing = services_of(running).identity.hashing
    for _ in range(2):
        assert_problem(await redeem(running, token, "short"), 400)
    before = hashing.operations_total
    refused = await redeem(running, token)
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert hashing.operations_total == before


async def test_the_reset_is_in_the_audit_trail_without_the_token(running: Running) -> None:
    """The instance audit shows the operator issuing and the reset being used, never a token or hash."""
    owner = await bootstrap(running)
    token = await issue(running, owner)
    assert (await redeem(running, token)).status_code == 204
    fresh = await log_in(running, owner.email, NEW_PASSWORD)
    page = await running.http.get("/api/v1/audit", headers=bearer(fresh.access_token))
    assert page.status_code == 200, page.text
    entries = page.json()["entries"]
    kinds = [(entry["type"], entry["actor"]) for entry in entries]
    assert ("PasswordResetIssued", "operator:tester") in kinds
    changed = [entry for entry in entries if entry["type"] == "PasswordChanged"]
    assert changed[0]["detail"]["via"] == "reset_token"
    assert token not in page.text
    assert parse_reset_token(token).token_hash not in page.text


def test_token_shape_round_trips_and_anything_else_is_invalid_input() -> None:
    """A made token parses back to its user; prefix, length and alphabet are all checked."""
    user_id = UserId.parse("0190f3a4-7b1c-7def-8123-456789abcdef")
    token = make_reset_token(user_id, random_bytes=lambda n: b"\x01" * n)
    assert len(token) == RESET_TOKEN_CHARS
    assert parse_reset_token(token).user_id == user_id
    for bad in (None, "", token[:-1], token + "A", "crk_" + token[4:], token[:-1] + "=", token[:-1] + "é"):
        with pytest.raises(InvalidInput):
            parse_reset_token(bad)
