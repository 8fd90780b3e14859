"""Tests of the sign-in session (tui.session): tokens in memory, refresh on expiry and on 401,
one retry, serialised refreshes, logout, and hostile token replies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.tui.fake_appliance import BASE_URL, FakeAppliance, problem
from tests.tui.fake_identity import ADMIN_EMAIL, PASSWORD, FakeIdentity
from tui.client import ApplianceClient
from tui.errors import ApplianceProblem, InvariantViolation, ReplyInvalid, SignedOut
from tui.replies import Reply
from tui.session import Session, credentials_problem

ME = "/api/v1/users/me"


class Me(Reply, frozen=True, kw_only=True):
    email: str


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[FakeAppliance, FakeIdentity, Clock]:
    fake = FakeAppliance()
    identity = FakeIdentity()
    identity.route("GET", ME, {"email": ADMIN_EMAIL, "x_future": 1})
    fake.identity = identity
    return fake, identity, Clock()


def session_for(fake: FakeAppliance, client: ApplianceClient, clock: Clock) -> Session:
    return Session(client, clock=clock, expiry_margin_s=5)


async def test_login_keeps_tokens_in_memory_and_sends_the_access_token() -> None:
    """After login, requests carry `Bearer <access>`; the tokens appear in no repr or message."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        assert not session.signed_in
        await session.login(f"  {ADMIN_EMAIL} ", PASSWORD)
        me = await session.get(ME, Me)
    assert session.signed_in
    assert session.email == ADMIN_EMAIL
    assert me.email == ADMIN_EMAIL
    assert identity.bearers(ME) == ["acc-1"]
    assert identity.bearers("/api/v1/auth/login") == [None]
    assert "acc-1" not in repr(session.__dict__)
    assert "ref-1" not in repr(session.__dict__)


async def test_wrong_password_is_a_problem_and_leaves_no_session() -> None:
    """A 401 from login is an ApplianceProblem with the appliance's reason; nothing is kept."""
    fake, _, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        with pytest.raises(ApplianceProblem, match="wrong e-mail address or password") as caught:
            await session.login(ADMIN_EMAIL, "not the password")
        assert caught.value.status == 401
        assert not session.signed_in
        with pytest.raises(SignedOut, match="not signed in"):
            await session.get(ME, Me)


async def test_rate_limited_login_reports_retry_after() -> None:
    """A 429 with Retry-After is a problem that says how long to wait, in its message and its field."""
    fake, identity, clock = setup()

    def limited(_: httpx.Request) -> httpx.Response:
        reply = problem(429, "Too Many Requests", "too many sign-in attempts", "rate_limited")
        reply.headers["retry-after"] = "17"
        return reply

    fake.overrides["/api/v1/auth/login"] = limited
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        with pytest.raises(ApplianceProblem, match=r"retry after 17 s") as caught:
            await session.login(ADMIN_EMAIL, PASSWORD)
    assert caught.value.retry_after_s == 17
    assert not identity.calls, "the override answered; the identity fake saw nothing"


async def test_a_token_known_to_be_expired_is_refreshed_before_the_request() -> None:
    """When the clock passes expires_in minus the margin, the session refreshes first: no 401 round trip."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        clock.now += identity.expires_in - 4  # inside the 5 s margin
        identity.expire_access_tokens()
        await session.get(ME, Me)
    assert [path for _, path, _ in identity.calls] == ["/api/v1/auth/login", "/api/v1/auth/refresh", ME]
    assert identity.bearers(ME) == ["acc-2"]
    assert session.refreshes == 1


async def test_a_401_is_answered_by_one_refresh_and_one_retry() -> None:
    """An access token the appliance refuses before its expiry is refreshed once and the request retried."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        identity.expire_access_tokens()
        me = await session.get(ME, Me)
    assert me.email == ADMIN_EMAIL
    assert identity.bearers(ME) == ["acc-1", "acc-2"]
    assert session.signed_in


async def test_a_retried_request_refused_again_signs_out() -> None:
    """If the retried request is still 401, the tokens are forgotten and SignedOut is raised (no loop)."""
    fake, identity, clock = setup()
    identity.route("GET", "/api/v1/always-401", lambda _: problem(401, "Unauthorized", "no", "unauthenticated"))
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        with pytest.raises(SignedOut, match="no longer accepts this session"):
            await session.get("/api/v1/always-401", Me)
    assert not session.signed_in
    assert len(identity.bearers("/api/v1/always-401")) == 2
    assert len(identity.bearers("/api/v1/auth/refresh")) == 1


async def test_a_refused_refresh_signs_out() -> None:
    """When an administrator ended the session, the refresh is refused: SignedOut, tokens forgotten."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        identity.end_sessions()
        with pytest.raises(SignedOut, match="the session has ended"):
            await session.get(ME, Me)
    assert not session.signed_in
    assert session.email is None


async def test_concurrent_requests_with_an_expired_token_refresh_once() -> None:
    """Five requests that find the token expired share one refresh, so no spent refresh token is reused."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        identity.expire_access_tokens()
        replies = await asyncio.gather(*(session.get(ME, Me) for _ in range(5)))
    assert len(replies) == 5
    assert len(identity.bearers("/api/v1/auth/refresh")) == 1
    assert not identity.ended_sessions, "a reused refresh token would have ended the session"
    assert set(identity.bearers(ME)) == {"acc-1", "acc-2"}


async def test_other_errors_pass_through_without_refreshing() -> None:
    """403 and 404 problems reach the caller as they are; only 401 triggers a refresh."""
    fake, identity, clock = setup()
    identity.route("GET", "/api/v1/forbidden", lambda _: problem(403, "Forbidden", "admins only", "forbidden"))
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        with pytest.raises(ApplianceProblem, match="admins only") as forbidden:
            await session.get("/api/v1/forbidden", Me)
        with pytest.raises(ApplianceProblem) as missing:
            await session.get("/api/v1/nowhere", Me)
    assert (forbidden.value.status, missing.value.status) == (403, 404)
    assert not identity.bearers("/api/v1/auth/refresh")
    assert session.signed_in


async def test_logout_ends_the_session_remotely_and_forgets_it_locally() -> None:
    """Logout posts with the access token (ending that session), then nothing authenticated is sent."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        await session.logout()
        with pytest.raises(SignedOut):
            await session.get(ME, Me)
    assert identity.bearers("/api/v1/auth/logout") == ["acc-1"]
    assert "acc-1" not in identity.live_access
    assert not identity.bearers(ME)


async def test_logout_with_the_appliance_down_still_signs_out_locally() -> None:
    """An unreachable appliance cannot keep the TUI signed in: the tokens are dropped anyway."""
    fake, _, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        await session.login(ADMIN_EMAIL, PASSWORD)
        fake.up = False
        await session.logout()
    assert not session.signed_in


@pytest.mark.parametrize(
    "tokens",
    [
        {"access_token": "a\r\nX-Injected: 1", "refresh_token": "r", "token_type": "Bearer", "expires_in": 60},
        {"access_token": "a b", "refresh_token": "r", "token_type": "Bearer", "expires_in": 60},
        {"access_token": "", "refresh_token": "r", "token_type": "Bearer", "expires_in": 60},
        {"access_token": "a", "refresh_token": "r" * 9000, "token_type": "Bearer", "expires_in": 60},
        {"access_token": "a", "refresh_token": "r", "token_type": "MAC", "expires_in": 60},
        {"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 0},
        {"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 10**12},
        {"access_token": "a", "token_type": "Bearer", "expires_in": 60},
        [],
    ],
)
async def test_hostile_token_replies_are_refused_and_sign_no_one_in(tokens: object) -> None:
    """Tokens that would break a header, odd token types and absurd lifetimes are ReplyInvalid."""
    fake, _, clock = setup()
    fake.overrides["/api/v1/auth/login"] = lambda _: httpx.Response(200, json=tokens)
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        session = session_for(fake, client, clock)
        with pytest.raises(ReplyInvalid):
            await session.login(ADMIN_EMAIL, PASSWORD)
    assert not session.signed_in


def test_credentials_problem_names_what_is_missing_or_too_long() -> None:
    """The form's checks: both fields needed; over-long values refused before anything is sent."""
    assert credentials_problem("a@b.c", "pw") is None
    assert credentials_problem("  ", "pw") == "enter an e-mail address and a password"
    assert credentials_problem("a@b.c", "") == "enter an e-mail address and a password"
    assert "longer than 320" in (credentials_problem("a" * 321, "pw") or "")
    assert "longer than 1024" in (credentials_problem("a@b.c", "p" * 1025) or "")


async def test_login_with_unchecked_fields_is_a_bug() -> None:
    """Sending an empty form is refused by an always-on assertion, before any request."""
    fake, identity, clock = setup()
    async with ApplianceClient(BASE_URL, transport=fake.transport()) as client:
        with pytest.raises(InvariantViolation):
            await session_for(fake, client, clock).login("", "")
    assert not identity.calls
