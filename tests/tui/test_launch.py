"""Tests of how the TUI is started: `attach()` against a real loopback HTTP server, and `main()`."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from textual.pilot import Pilot

from tests.tui.fake_appliance import FakeAppliance
from tests.tui.loopback import LoopbackAppliance
from tui.app import CratonApp
from tui.errors import AddressInvalid
from tui.launch import attach, main, request_timeout_for
from tui.poller import Reachability
from tui.widgets.connection import ConnectionBar
from tui.widgets.overview import NatsPanel

# Real time passes in these tests (the poll timer is real), so waits sleep a little per step;
# the bound turns a broken app into a failure instead of a hang. Nothing here asserts a duration.
pause_s = 0.02
pauses_max = 500


async def wait_until(pilot: Pilot[None], condition, what: str) -> None:
    for _ in range(pauses_max):
        if condition():
            return
        await pilot.pause(pause_s)
    raise AssertionError(f"never saw: {what}")


def bar(app: CratonApp) -> ConnectionBar:
    return app.status_screen.query_one(ConnectionBar)


async def test_attach_polls_a_real_appliance_and_returns_when_q_is_pressed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """attach() shows what a real loopback server serves, returns after `q`, and writes nothing itself."""
    appliance = LoopbackAppliance(FakeAppliance())
    url = await appliance.start()
    seen: dict[str, str] = {}

    async def user(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, CratonApp)
        await wait_until(pilot, lambda: app.status_screen.polls_shown >= 2, "two timed polls")
        seen["connection"] = bar(app).text
        seen["nats"] = app.status_screen.query_one(NatsPanel).text
        await pilot.press("q")

    try:
        await attach(url, poll_interval_s=0.05, headless=True, auto_pilot=user)
    finally:
        await appliance.stop()
    assert "online" in seen["connection"]
    assert url in seen["connection"]
    assert "pid 4321 · restarts 2" in seen["nats"]
    assert capfd.readouterr() == ("", "")


async def test_attach_survives_the_appliance_going_away_and_coming_back() -> None:
    """With the server stopped the screen says UNREACHABLE and keeps polling; a restart is picked up."""
    fake = FakeAppliance()
    appliance = LoopbackAppliance(fake)
    url = await appliance.start()
    states: list[str] = []

    async def user(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, CratonApp)
        await wait_until(pilot, lambda: bar(app).reachability is Reachability.ONLINE, "online")
        await appliance.stop()
        await wait_until(pilot, lambda: bar(app).reachability is Reachability.UNREACHABLE, "unreachable")
        states.append(bar(app).text)
        fake.instance["name"] = "craton-again"
        await appliance.start()
        await wait_until(pilot, lambda: "craton-again" in bar(app).text, "back online")
        states.append(bar(app).text)
        await pilot.press("q")

    try:
        await attach(url, poll_interval_s=0.05, headless=True, auto_pilot=user)
    finally:
        await appliance.stop()
    assert "UNREACHABLE" in states[0]
    assert "Connection refused" in states[0] or "ConnectError" in states[0]
    assert states[1].startswith("● online")


async def test_cancelling_attach_raises_cancelled_and_stops_polling() -> None:
    """A cancelled attach() ends with CancelledError, leaves no task behind and polls no more."""
    fake = FakeAppliance()
    appliance = LoopbackAppliance(fake)
    url = await appliance.start()
    try:
        task = asyncio.create_task(attach(url, poll_interval_s=0.05, headless=True))
        for _ in range(pauses_max):
            if len(fake.log_requests()) >= 2:
                break
            await asyncio.sleep(pause_s)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        requests = len(fake.requests)
        # Give a leftover poll loop several intervals to show itself; none may run.
        await asyncio.sleep(0.2)
        assert len(fake.requests) == requests
        assert [other for other in asyncio.all_tasks() if other is not asyncio.current_task()] == []
    finally:
        await appliance.stop()


async def test_attach_refuses_an_unusable_url_before_starting() -> None:
    """A URL that is not http(s) raises AddressInvalid (a ValueError for callers without tui); no app runs."""
    with pytest.raises(AddressInvalid) as caught:
        await attach("nats://127.0.0.1:4222", headless=True)
    assert isinstance(caught.value, ValueError)


def test_request_timeout_follows_the_poll_interval_within_bounds() -> None:
    """A request may take up to the poll interval, but never under 0.5 s nor over 5 s."""
    assert [request_timeout_for(s) for s in (0.05, 1.0, 2.5, 60.0)] == [0.5, 1.0, 2.5, 5.0]


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "ftp://127.0.0.1"],
        ["--interval", "0"],
        ["--interval", "nan"],
        ["--interval", "9999"],
        ["--bogus"],
    ],
)
def test_main_rejects_bad_arguments_with_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad flags end `python -m tui` with status 2 and a usage error naming the problem."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_pure_modules_never_import_textual() -> None:
    """The logic modules load without Textual, so they stay testable and reusable without a terminal."""
    pure = [
        "tui.errors",
        "tui.replies",
        "tui.client",
        "tui.history",
        "tui.logtail",
        "tui.formatting",
        "tui.poller",
    ]
    loaded = "sorted(m for m in sys.modules if m.startswith('textual'))"
    script = f"import sys; import {', '.join(pure)}; print({loaded})"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
