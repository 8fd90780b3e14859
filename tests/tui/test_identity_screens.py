"""Pilot tests of the login screen and the identity screens (Users, Organisations, Members,
Sessions, Audit) against the scripted identity routes: sign-in, actions, paging, problems, expired
sessions and hostile text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from tests.tui.fake_appliance import problem
from tests.tui.fake_identity import ADMIN_EMAIL, HOSTILE, MEMBER_ID, ORG_ID, PASSWORD, SESSION_IDS, USER_ID
from tests.tui.identity_app import IdentityRun, start_identity_app
from tui.screens.audit import AuditScreen
from tui.screens.dialogs import ConfirmDialog, RoleDialog
from tui.screens.login import LoginScreen
from tui.screens.orgs import MembersScreen, OrgsScreen
from tui.screens.sessions import SessionsScreen
from tui.screens.status import StatusScreen
from tui.screens.users import UsersScreen
from tui.widgets.identity import Heading, NoticeBar, RowsTable


@pytest.fixture
async def run() -> AsyncIterator[IdentityRun]:
    async for value in start_identity_app():
        yield value


def rows(run: IdentityRun) -> list[tuple[str, ...]]:
    return run.identity_screen().query_one(RowsTable).row_texts()


def notice(run: IdentityRun) -> str:
    bar = run.identity_screen().query_one(NoticeBar)
    return bar.text if bar.display else ""


async def test_status_needs_no_sign_in_and_identity_screens_ask_for_one(run: IdentityRun) -> None:
    """The status screen polls without a session; `u` brings the login screen, escape goes back."""
    assert isinstance(run.app.screen, StatusScreen)
    assert not run.identity.calls, "nothing identity-related is asked before someone signs in"
    await run.pilot.press("u")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")
    assert run.login.query_one("#login-email", Input).has_focus
    await run.pilot.press("escape")
    await run.wait(lambda: isinstance(run.app.screen, StatusScreen), "the status screen again")
    assert not run.app.session.signed_in


async def test_signing_in_opens_the_screen_asked_for_and_names_the_user(run: IdentityRun) -> None:
    """After e-mail + password, the Users screen shows every account and the heading says who is signed in."""
    screen = await run.open_signed_in("u", UsersScreen)
    assert rows(run) == [
        (ADMIN_EMAIL, "Ada", "active", "yes", USER_ID),
        ("bob@example.org", "Bob", "active", "", MEMBER_ID),
    ]
    assert f"signed in as {ADMIN_EMAIL}" in screen.query_one(Heading).text
    assert ADMIN_EMAIL in run.app.sub_title
    assert run.identity.bearers("/api/v1/admin/users") == ["acc-1"]


async def test_a_wrong_password_is_said_and_the_password_field_emptied(run: IdentityRun) -> None:
    """A refused login stays on the login screen with the appliance's reason; the password is not kept."""
    await run.pilot.press("g")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")
    await run.type_credentials(ADMIN_EMAIL, "not it")
    await run.wait(lambda: run.login.attempts_shown == 1, "the attempt's outcome")
    assert "refused (401): wrong e-mail address or password" in run.login.message_text
    assert run.login.query_one("#login-password", Input).value == ""
    assert not run.app.session.signed_in


async def test_an_empty_form_is_refused_before_anything_is_sent(run: IdentityRun) -> None:
    """Pressing enter with no password says what is missing and sends no request."""
    await run.pilot.press("g")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")
    await run.type_credentials(ADMIN_EMAIL, "")
    assert run.login.message_text == "enter an e-mail address and a password"
    assert not run.identity.calls


async def test_a_rate_limited_login_says_how_long_to_wait(run: IdentityRun) -> None:
    """429 with Retry-After is shown as "too many requests (429); retry after N s"."""

    def limited(_: httpx.Request) -> httpx.Response:
        reply = problem(429, "Too Many Requests", "too many sign-in attempts", "rate_limited")
        reply.headers["retry-after"] = "30"
        return reply

    run.fake.overrides["/api/v1/auth/login"] = limited
    await run.pilot.press("g")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")
    await run.type_credentials(ADMIN_EMAIL, PASSWORD)
    await run.wait(lambda: run.login.attempts_shown == 1, "the attempt's outcome")
    assert "too many requests (429); retry after 30 s: too many sign-in attempts" in run.login.message_text


async def test_disabling_a_user_asks_first_then_reloads(run: IdentityRun) -> None:
    """`t` asks "Disable bob…? ends all of their sessions"; `n` sends nothing, `y` disables and reloads."""
    screen = await run.open_signed_in("u", UsersScreen)
    await run.pilot.press("down")
    await run.pilot.press("t")
    await run.wait(lambda: isinstance(run.app.screen, ConfirmDialog), "the question")
    dialog = run.app.screen
    assert isinstance(dialog, ConfirmDialog)
    assert dialog.question == "Disable bob@example.org? This ends all of their sessions."
    await run.pilot.press("n")
    await run.wait(lambda: run.app.screen is screen, "the users screen again")
    assert not run.identity.bearers(f"/api/v1/admin/users/{MEMBER_ID}/disable")
    await run.act(screen, "t", "y")
    assert run.identity.bearers(f"/api/v1/admin/users/{MEMBER_ID}/disable") == ["acc-1"]
    assert rows(run)[1][2] == "disabled"
    assert notice(run) == "✔ bob@example.org disabled"
    assert screen.query_one(RowsTable).selected_key() == MEMBER_ID, "the cursor stays on the same user"


async def test_a_user_who_is_not_an_instance_admin_sees_the_403_clearly(run: IdentityRun) -> None:
    """The appliance's 403 on the users list becomes "not allowed (403): …" in the notice bar."""
    run.identity.route(
        "GET",
        "/api/v1/admin/users",
        lambda _: problem(403, "Forbidden", "only an instance administrator may do this", "forbidden"),
    )
    await run.open_signed_in("u", UsersScreen)
    assert notice(run) == "✘ not allowed (403): only an instance administrator may do this"
    assert rows(run) == []


async def test_organisations_lead_to_members_whose_role_is_changed_and_who_are_removed(run: IdentityRun) -> None:
    """Orgs → enter → Members; `c` picks a role (PATCH {"role"}), `x` + `y` removes (DELETE)."""
    await run.open_signed_in("g", OrgsScreen)
    assert rows(run) == [("Plant 7", "owner", ORG_ID)]
    await run.pilot.press("enter")
    members = await run.shown(MembersScreen)
    assert rows(run) == [
        (ADMIN_EMAIL, "", "owner", "2026-11-28 19:00:00Z"),
        ("bob@example.org", "", "member", "2026-11-28 19:05:00Z"),
    ]
    await run.pilot.press("down", "c")
    await run.wait(lambda: isinstance(run.app.screen, RoleDialog), "the role picker")
    await run.act(members, "up", "enter")  # the picker starts on "member"; one up is "admin"
    assert run.directory.members[1]["role"] == "admin"
    assert rows(run)[1][2] == "admin"
    assert notice(run) == "✔ bob@example.org is now admin"
    await run.act(members, "x", "y")
    assert rows(run) == [(ADMIN_EMAIL, "", "owner", "2026-11-28 19:00:00Z")]
    assert [call[0] for call in run.identity.calls if call[1].endswith(MEMBER_ID)] == ["PATCH", "DELETE"]
    await run.pilot.press("escape")
    await run.wait(lambda: isinstance(run.app.screen, OrgsScreen), "back on the organisations")


async def test_the_last_owner_refusal_and_a_vanished_org_are_shown_in_words(run: IdentityRun) -> None:
    """A 409 (last Owner) and a 404 (organisation gone or foreign) are explained, not crashed on."""
    path = f"/api/v1/orgs/{ORG_ID}/members/{USER_ID}"
    run.identity.route(
        "DELETE", path, lambda _: problem(409, "Conflict", "the last Owner cannot leave", "precondition_failed")
    )
    await run.open_signed_in("g", OrgsScreen)
    await run.pilot.press("enter")
    members = await run.shown(MembersScreen)
    await run.act(members, "x", "y", reloads=False)
    assert notice(run) == "✘ refused (409): the last Owner cannot leave"
    run.identity.route(
        "GET", f"/api/v1/orgs/{ORG_ID}/members", lambda _: problem(404, "Not Found", "organisation not found", "x")
    )
    await run.reload()
    assert notice(run).startswith("✘ not found (404): organisation not found — it may have been removed")


async def test_sessions_are_listed_and_one_is_ended(run: IdentityRun) -> None:
    """The current session is marked; `x` + `y` on another one sends DELETE for exactly that id."""
    screen = await run.open_signed_in("e", SessionsScreen)
    assert rows(run) == [
        (
            "2026-11-28 19:00:00Z",
            "2026-11-28 19:30:00Z",
            "2026-12-05 19:00:00Z",
            "password",
            "127.0.0.1",
            "this one",
            SESSION_IDS[0],
        ),
        (
            "2026-11-27 08:00:00Z",
            "2026-11-27 09:00:00Z",
            "2026-12-04 08:00:00Z",
            "passkey",
            "10.0.0.7",
            "",
            SESSION_IDS[1],
        ),
    ]
    await run.pilot.press("down")
    await run.act(screen, "x", "y")
    assert run.identity.bearers(f"/api/v1/auth/sessions/{SESSION_IDS[1]}") == ["acc-1"]
    assert [row[6] for row in rows(run)] == [SESSION_IDS[0]]


async def test_the_instance_audit_pages_forward_and_back_with_the_cursor(run: IdentityRun) -> None:
    """`a` shows the newest page; `n` sends the next_cursor and shows older entries; `p` goes back."""
    screen = await run.open_signed_in("a", AuditScreen)
    first = rows(run)
    assert len(first) == 12
    assert first[0][:3] == ("2026-11-28 19:00:30Z", "MemberRoleChanged", f"user:{USER_ID}")
    assert first[0][3] == "role=admin"
    assert "page 1 · n: older" in screen.query_one(Heading).text
    loads = screen.loads_shown
    await run.pilot.press("n")
    await run.wait(lambda: screen.loads_shown > loads, "the second page")
    assert rows(run)[0][0] == "2026-11-28 19:00:18Z"
    await run.pilot.press("n")
    await run.wait(lambda: screen.loads_shown > loads + 1, "the last page")
    assert len(rows(run)) == 6
    await run.pilot.press("n")
    assert notice(run) == "✔ this is the last page"
    await run.pilot.press("p", "p")
    await run.wait(lambda: rows(run) == first, "the first page again")
    cursors = [call for call in run.fake.requests if call.path == "/api/v1/audit"]
    assert [url.params.get("cursor") for url in cursors] == [None, "c12", "c24", "c12", None]


async def test_an_organisation_audit_opens_from_the_organisations_screen(run: IdentityRun) -> None:
    """`a` on an organisation shows that organisation's trail (its own route), titled with its name."""
    await run.open_signed_in("g", OrgsScreen)
    await run.pilot.press("a")
    screen = await run.shown(AuditScreen)
    assert "Audit — Plant 7" in screen.query_one(Heading).text
    assert run.identity.bearers(f"/api/v1/orgs/{ORG_ID}/audit") == ["acc-1"]


async def test_an_expired_access_token_is_refreshed_and_the_request_retried(run: IdentityRun) -> None:
    """401 on reload → one refresh → the same request again with the new token; the screen just reloads."""
    await run.open_signed_in("e", SessionsScreen)
    run.identity.expire_access_tokens()
    await run.reload()
    assert run.identity.bearers("/api/v1/auth/sessions") == ["acc-1", "acc-1", "acc-2"]
    assert isinstance(run.app.screen, SessionsScreen)
    assert notice(run) == ""


async def test_a_session_ended_elsewhere_goes_back_to_login_then_to_the_same_screen(run: IdentityRun) -> None:
    """Refused token and refused refresh → login screen saying why; signing in again reopens Sessions."""
    await run.open_signed_in("e", SessionsScreen)
    run.identity.end_sessions()
    await run.pilot.press("r")
    await run.wait(
        lambda: isinstance(run.app.screen, LoginScreen) and run.login.message_text != "", "the login screen's reason"
    )
    assert run.login.message_text.startswith("Please sign in again: the session has ended")
    assert not run.app.session.signed_in
    await run.type_credentials(ADMIN_EMAIL, PASSWORD)
    await run.shown(SessionsScreen)
    assert run.identity.bearers("/api/v1/auth/sessions")[-1] == "acc-2"


async def test_hostile_names_are_shown_as_plain_text(run: IdentityRun) -> None:
    """Markup, terminal escapes and bidi overrides in appliance data are shown inert, never interpreted."""
    run.directory.users[1]["display_name"] = HOSTILE
    run.directory.users[1]["email"] = "[b]x@example.org"
    await run.open_signed_in("u", UsersScreen)
    email, name = rows(run)[1][:2]
    assert email == "[b]x@example.org"
    assert name == "[red]boom[/red]\ufffd[2J\ufffdevil"


async def test_a_broken_reply_is_reported_and_the_screen_keeps_working(run: IdentityRun) -> None:
    """A 200 that is not the contract (members as a string) is a notice; the next good reply shows rows."""
    path = f"/api/v1/orgs/{ORG_ID}/members"
    await run.open_signed_in("g", OrgsScreen)
    good = run.identity.routes[("GET", path)]
    run.identity.route("GET", path, lambda _: httpx.Response(200, json={"members": "nope"}))
    await run.pilot.press("enter")
    await run.shown(MembersScreen)
    assert "expected a list of members" in notice(run)
    run.identity.routes[("GET", path)] = good
    await run.reload()
    assert len(rows(run)) == 2
    assert notice(run) == ""


async def test_signing_out_ends_the_session_and_the_next_screen_asks_again(run: IdentityRun) -> None:
    """`l` when signed in posts logout and drops the tokens; `g` then brings the login screen."""
    await run.open_signed_in("g", OrgsScreen)
    await run.pilot.press("l")
    await run.wait(lambda: not run.app.session.signed_in, "signed out")
    assert isinstance(run.app.screen, StatusScreen)
    assert run.identity.bearers("/api/v1/auth/logout") == ["acc-1"]
    assert run.app.last_notice == "signed out"
    await run.pilot.press("g")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")


async def test_quitting_logs_out(run: IdentityRun) -> None:
    """`q` ends the session on the appliance before the app exits."""
    await run.open_signed_in("e", SessionsScreen)
    await run.pilot.press("q")
    await run.wait(lambda: bool(run.identity.bearers("/api/v1/auth/logout")), "the logout")
    assert run.identity.bearers("/api/v1/auth/logout") == ["acc-1"]


async def test_the_palette_opens_identity_screens_through_the_same_sign_in(run: IdentityRun) -> None:
    """ "Organisations" in the command palette asks for a sign-in, then shows the organisations."""
    await run.pilot.press("ctrl+p")
    await run.wait(lambda: isinstance(run.app.screen, CommandPalette), "the palette")
    await run.pilot.press(*"Organisations")
    palette = run.app.screen
    await run.wait(lambda: palette.query_one(CommandList).option_count > 0, "palette hits")
    await run.pilot.press("down", "enter")
    await run.wait(lambda: isinstance(run.app.screen, LoginScreen), "the login screen")
    await run.type_credentials(ADMIN_EMAIL, PASSWORD)
    await run.shown(OrgsScreen)
    assert rows(run) == [("Plant 7", "owner", ORG_ID)]
