"""The identity screens against a real appliance (in-process, real NATS and SQLite, real loopback
HTTP): the TUI's reading of the JSON contract is checked against the routes themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.identity.core.harness import PASSWORD, Account, Running, bootstrap, invite, log_in, make_starter
from tests.tui.conftest import POLL_INTERVAL_S, SIZE, pauses_max
from tui.app import CratonApp
from tui.client import ApplianceClient
from tui.poller import Poller
from tui.screens.audit import AuditScreen
from tui.screens.identity import IdentityScreen
from tui.screens.login import LoginScreen
from tui.screens.orgs import MembersScreen, OrgsScreen
from tui.screens.sessions import SessionsScreen
from tui.screens.users import UsersScreen
from tui.widgets.identity import NoticeBar, RowsTable

MEMBER_EMAIL = "bob@example.org"
# Real HTTP to a real appliance: each wait step yields to the loop for a moment so the server runs.
pause_s = 0.01
live_pauses_max = pauses_max * 4


@dataclass
class Live:
    running: Running
    app: CratonApp
    pilot: object
    owner: Account
    member: Account

    async def wait(self, condition, what: str) -> None:
        for _ in range(live_pauses_max):
            if condition():
                return
            await self.pilot.pause(pause_s)  # type: ignore[attr-defined]
        notice = ""
        if isinstance(self.app.screen, IdentityScreen):
            notice = self.app.screen.query_one(NoticeBar).text
        raise AssertionError(f"never saw: {what} (on {type(self.app.screen).__name__}; notice {notice!r})")

    async def shown(self, kind: type[IdentityScreen], loads: int = 1) -> IdentityScreen:
        await self.wait(lambda: isinstance(self.app.screen, kind), kind.__name__)
        screen = self.app.screen
        assert isinstance(screen, kind)
        await self.wait(lambda: screen.loads_shown >= loads, f"{kind.__name__} loaded")
        return screen

    def rows(self) -> list[tuple[str, ...]]:
        return self.app.screen.query_one(RowsTable).row_texts()

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)  # type: ignore[attr-defined]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with make_starter(tmp_path) as start:
        running: Running = await start()
        owner = await bootstrap(running)
        token = await invite(running, owner, MEMBER_EMAIL, "member")
        joined = await running.http.post(
            "/api/v1/auth/signup",
            json={"email": MEMBER_EMAIL, "password": PASSWORD, "display_name": "Bob", "invite_token": token},
        )
        assert joined.status_code == 201, joined.text
        member = await log_in(running, MEMBER_EMAIL)
        async with ApplianceClient(running.appliance.url, request_timeout_s=10) as client:
            app = CratonApp(Poller(client), poll_interval_s=POLL_INTERVAL_S)
            async with app.run_test(size=SIZE) as pilot:
                live = Live(running, app, pilot, owner, member)
                await live.wait(lambda: app.status_screen.polls_shown >= 1, "the first status poll")
                yield live


async def sign_in(live: Live, key: str, kind: type[IdentityScreen]) -> IdentityScreen:
    await live.press(key)
    await live.wait(lambda: isinstance(live.app.screen, LoginScreen), "the login screen")
    login = live.app.screen
    login.query_one("#login-email", Input).value = live.owner.email
    login.query_one("#login-password", Input).value = PASSWORD
    login.submit()  # type: ignore[attr-defined]
    return await live.shown(kind)


async def test_users_are_listed_and_disabled_on_the_real_appliance(live: Live) -> None:
    """The owner signs in; Users lists both accounts; disabling Bob ends his session on the appliance."""
    screen = await sign_in(live, "u", UsersScreen)
    emails = [row[0] for row in live.rows()]
    assert emails == [live.owner.email, MEMBER_EMAIL]
    assert live.rows()[0][3] == "yes"
    await live.press("down", "t")
    await live.wait(lambda: not isinstance(live.app.screen, UsersScreen), "the question")
    await live.press("y")
    await live.wait(lambda: screen.loads_shown >= 2 and live.rows()[1][2] == "disabled", "Bob disabled")
    me = await live.running.http.get("/api/v1/users/me", headers=live.member.auth)
    assert me.status_code == 401


async def test_members_roles_sessions_and_audit_read_the_real_contract(live: Live) -> None:
    """Organisations → Members (role change applied by the appliance), Sessions (this one marked), Audit."""
    await sign_in(live, "g", OrgsScreen)
    assert [row[:2] for row in live.rows()] == [("Acme", "owner")]
    await live.press("enter")
    members = await live.shown(MembersScreen)
    assert [(row[0], row[2]) for row in live.rows()] == [(live.owner.email, "owner"), (MEMBER_EMAIL, "member")]
    await live.press("down", "c")
    await live.wait(lambda: not isinstance(live.app.screen, MembersScreen), "the role picker")
    await live.press("down", "enter")  # member → viewer
    await live.wait(lambda: members.loads_shown >= 2 and live.rows()[1][2] == "viewer", "Bob is a viewer")
    await live.press("escape", "a")
    audit = await live.shown(AuditScreen)
    assert "MemberRoleChanged" in [row[1] for row in live.rows()]
    assert audit.title_text == "Audit — Acme"
    await live.press("e")
    await live.shown(SessionsScreen)
    sessions = live.rows()
    assert [row[3] for row in sessions if row[5] == "this one"] == ["password"]
    await live.press("a")
    await live.shown(AuditScreen)
    assert {"SignedIn", "UserRegistered"} <= {row[1] for row in live.rows()}


async def test_a_session_ended_by_an_administrator_brings_the_login_screen(live: Live) -> None:
    """When the appliance ends the TUI's session, the next load refreshes, is refused, and asks to sign in."""
    await sign_in(live, "e", SessionsScreen)
    ended = await live.running.http.delete(
        f"/api/v1/admin/users/{live.owner.user_id}/sessions", headers=live.owner.auth
    )
    assert ended.status_code == 200, ended.text
    await live.press("r")
    await live.wait(
        lambda: isinstance(live.app.screen, LoginScreen) and live.app.screen.message_text != "", "the login screen"
    )
    assert live.app.screen.message_text.startswith("Please sign in again")  # type: ignore[attr-defined]
    assert not live.app.session.signed_in
