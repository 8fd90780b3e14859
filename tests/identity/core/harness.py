"""An appliance started in-process on a temp data dir (real NATS, real SQLite), reached over real
loopback HTTP, with a clock the tests can move forward and cheap (but real) argon2 parameters;
and the small steps most identity tests take (bootstrap the first owner, log in, open signups)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from appliance.identity.auth.passwords import Argon2Params
from appliance.identity.auth.ratelimit import RateLimit
from appliance.identity.services import IdentitySettings
from appliance.runtime.boot import Appliance
from appliance.runtime.config import Config

# The OWASP minimum: real argon2id, a tenth of the production cost, so tests stay quick.
FAST_ARGON2 = Argon2Params(time_cost=2, memory_kib=19 * 1024, parallelism=1, hash_bytes=32, salt_bytes=16)
GENEROUS = RateLimit(burst=1000, per_s=1000.0)
PASSWORD = "correct horse battery staple"
OWNER_EMAIL = "owner@example.org"


class OffsetClock:
    """The real clock plus an offset the test moves forward (session timeouts without waiting)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


def settings(**overrides: Any) -> IdentitySettings:
    base: dict[str, Any] = {
        "argon2": FAST_ARGON2,
        "login_per_ip": GENEROUS,
        "login_per_account": GENEROUS,
        "api_per_principal": GENEROUS,
    }
    return IdentitySettings(**{**base, **overrides})


@dataclass
class Running:
    appliance: Appliance
    http: httpx.AsyncClient
    clock: OffsetClock

    @property
    def setup_token(self) -> str:
        assert self.appliance.setup_token is not None
        return self.appliance.setup_token

    @property
    def data_dir(self) -> Path:
        return self.appliance.config.data_dir


Starter = Callable[..., Any]


@contextlib.asynccontextmanager
async def make_starter(tmp_path: Path) -> AsyncIterator[Starter]:
    started: list[Running] = []

    async def starter(clock: OffsetClock | None = None, **overrides: Any) -> Running:
        clock = clock or OffsetClock()
        config = Config(data_dir=tmp_path / f"data{len(started)}", http="127.0.0.1:0", identity=settings(**overrides))
        appliance = Appliance(config, log_to_stderr=False, clock=clock)
        await appliance.start()
        running = Running(appliance=appliance, http=httpx.AsyncClient(base_url=appliance.url, timeout=20), clock=clock)
        started.append(running)
        return running

    try:
        yield starter
    finally:
        for running in reversed(started):
            await running.http.aclose()
            await running.appliance.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    org_id: str | None
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.access_token)


async def bootstrap(running: Running, email: str = OWNER_EMAIL, password: str = PASSWORD) -> Account:
    """The first owner, made with the setup token."""
    reply = await running.http.post(
        "/api/v1/auth/signup",
        json={
            "email": email,
            "password": password,
            "display_name": "First Owner",
            "org_name": "Acme",
            "setup_token": running.setup_token,
        },
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    return Account(
        email=email,
        password=password,
        user_id=body["user_id"],
        org_id=body["org_id"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
    )


async def open_signups(running: Running, admin: Account) -> None:
    reply = await running.http.patch("/api/v1/instance", json={"signup_mode": "open"}, headers=admin.auth)
    assert reply.status_code == 200, reply.text


async def sign_up_open(running: Running, email: str, password: str = PASSWORD) -> Account:
    reply = await running.http.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "display_name": email.split("@", maxsplit=1)[0], "org_name": "Own"},
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    return Account(email, password, body["user_id"], body["org_id"], body["access_token"], body["refresh_token"])


async def log_in(running: Running, email: str, password: str = PASSWORD) -> Account:
    reply = await running.http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    me = await running.http.get("/api/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    return Account(email, password, me.json()["user_id"], None, body["access_token"], body["refresh_token"])


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def org_roles(running: Running, user_id: str) -> list[tuple[str, str]]:
    """(org id, role) of the user's memberships, as projected (the org routes belong to another suite)."""
    services = running.appliance.services
    assert services is not None
    rows = services.db.execute(
        "SELECT m.org_id, m.role FROM org_members AS m JOIN orgs AS o USING (org_id) "
        "WHERE m.user_id = ? AND o.deleted = 0 ORDER BY m.org_id",
        (user_id,),
    ).fetchall()
    return [(str(org_id), str(role)) for org_id, role in rows]


async def invite(running: Running, inviter: Account, email: str, role: str) -> str:
    """An invite token made by the organisations workflow (its HTTP route belongs to another suite)."""
    from appliance.identity.domain.principals import UserPrincipal
    from appliance.identity.domain.rbac import Role
    from appliance.identity.http.auth_common import ports_of
    from appliance.identity.workflows.invites import invite_member
    from appliance.kernel.ids import OrgId, UserId

    services = running.appliance.services
    assert services is not None
    assert inviter.org_id is not None
    principal = UserPrincipal(user_id=UserId.parse(inviter.user_id), email=inviter.email, instance_admin=True)
    issued = await invite_member(ports_of(services), OrgId.parse(inviter.org_id), principal, email, Role(role))
    assert issued.change.sequence is not None
    assert await services.projector.wait_for(issued.change.stream, issued.change.sequence)
    return issued.token
