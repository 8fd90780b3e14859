"""Pilot tests of the status screen against a scripted appliance (httpx MockTransport)."""

from __future__ import annotations

import httpx
from textual.widgets import Log, Sparkline

from tests.tui.conftest import Running, start_app
from tests.tui.fake_appliance import FakeAppliance, instance_body, log_line, problem
from tui.poller import Reachability
from tui.widgets.connection import ConnectionBar, ErrorBox
from tui.widgets.overview import InstancePanel, NatsPanel, ReadinessPanel
from tui.widgets.projection import LagPanel
from tui.widgets.streams import StreamsTable


def texts(running: Running) -> dict[str, str]:
    screen = running.app.status_screen
    return {
        "connection": screen.query_one(ConnectionBar).text,
        "errors": screen.query_one(ErrorBox).text,
        "instance": screen.query_one(InstancePanel).text,
        "nats": screen.query_one(NatsPanel).text,
        "readiness": screen.query_one(ReadinessPanel).text,
        "lag": screen.query_one(LagPanel).figures.text,
    }


async def test_first_poll_shows_address_nats_streams_lag_readiness_and_logs(running: Running) -> None:
    """One poll fills every area: address, NATS state/mode/URL/pid/restarts, streams, lag, checks, logs."""
    shown = texts(running)
    screen = running.app.status_screen
    assert "online" in shown["connection"]
    assert "http://127.0.0.1:8470" in shown["connection"]
    assert "craton 0.1.0" in shown["connection"]
    assert "http    http://127.0.0.1:8470" in shown["instance"]
    assert "uptime  1h 02m 03s" in shown["instance"]
    assert "setup   pending" in shown["instance"]
    assert shown["nats"].splitlines() == [
        "running · embedded",
        "url nats://127.0.0.1:41234",
        "pid 4321 · restarts 2",
    ]
    assert screen.query_one(StreamsTable).row_texts() == [
        ("PLATFORM", "3", "3", "3"),
        ("ORG_0190f3a4", "1,499", "1,500", "1,500"),
    ]
    assert "lag 7 events (threshold 1,000)" in shown["lag"]
    assert "failed events 1" in shown["lag"]
    assert screen.query_one(Sparkline).data == [7.0]
    assert shown["readiness"].splitlines() == [
        "● ready",
        "✔ nats: connected to nats://127.0.0.1:41234",
        "✔ jetstream: writable",
        "✔ projections: lag 7 under 1000",
    ]
    assert screen.query_one(Log).lines == [
        "19:00:01 INFO     appliance.runtime: appliance starting",
        "19:00:02 INFO     appliance.runtime: nats running",
    ]
    assert not screen.query_one(ErrorBox).display


async def test_later_polls_update_figures_append_lag_samples_and_only_new_log_lines(running: Running) -> None:
    """Each poll appends one lag sample and only the log lines not yet shown, in order, no duplicates."""
    fake = running.fake
    for lag, messages in ((30, ("request served",)), (0, ("a", "b", "c")), (12, ())):
        fake.instance = instance_body(
            projection={"lag": lag, "failed_events": 0, "lag_threshold": 1000},
            nats={
                "mode": "embedded",
                "state": "restarting",
                "restarts": 3,
                "url": "nats://127.0.0.1:5",
                "pid": None,
            },
        )
        fake.add_log(*messages)
        await running.poll()
    screen = running.app.status_screen
    assert screen.query_one(Sparkline).data == [7.0, 30.0, 0.0, 12.0]
    assert "lag 12 events" in texts(running)["lag"]
    assert "peak 30 over the last 4 polls" in texts(running)["lag"]
    assert texts(running)["nats"].splitlines() == [
        "restarting · embedded",
        "url nats://127.0.0.1:5",
        "pid — · restarts 3",
    ]
    messages = [line.split(": ", 1)[1] for line in screen.query_one(Log).lines]
    assert messages == ["appliance starting", "nats running", "request served", "a", "b", "c"]
    assert [url.params["after"] for url in fake.log_requests()] == ["0", "2", "3", "6"]


async def test_streams_table_follows_added_changed_and_removed_streams(running: Running) -> None:
    """Rows are updated in place, new streams are added and vanished ones removed."""
    running.fake.instance = instance_body(
        streams=[
            {"name": "ORG_0190f3a4", "last_sequence": 2000, "messages": 2000, "events": 1999},
            {"name": "ORG_new", "last_sequence": 1, "messages": 1, "events": 1},
        ]
    )
    await running.poll()
    assert running.app.status_screen.query_one(StreamsTable).row_texts() == [
        ("ORG_0190f3a4", "1,999", "2,000", "2,000"),
        ("ORG_new", "1", "1", "1"),
    ]


async def test_not_ready_appliance_shows_the_failing_check(running: Running) -> None:
    """A 503 from /readyz is a normal reply: readiness says not_ready and marks the failing check."""
    running.fake.ready = False
    await running.poll()
    readiness = running.app.status_screen.query_one(ReadinessPanel)
    assert readiness.text.splitlines() == [
        "✘ not_ready",
        "✘ jetstream: stream PLATFORM not writable",
        "✔ nats: connected to nats://127.0.0.1:41234",
        "✔ projections: lag 7 under 1000",
    ]
    assert readiness.has_class("-bad")
    assert not running.app.status_screen.query_one(ErrorBox).display


async def test_many_readiness_checks_show_failing_ones_first_and_count_the_rest(running: Running) -> None:
    """With more checks than lines, failing checks are listed first and the rest are counted."""
    checks = [{"name": f"ok{n}", "ok": True, "detail": ""} for n in range(6)]
    checks.append({"name": "disk", "ok": False, "detail": "95 % full"})
    reply = {"status": "not_ready", "checks": checks}
    running.fake.overrides["/readyz"] = lambda _: httpx.Response(503, json=reply)
    await running.poll()
    lines = running.app.status_screen.query_one(ReadinessPanel).text.splitlines()
    assert lines == ["✘ not_ready", "✘ disk: 95 % full", "✔ ok0: ", "✔ ok1: ", "✔ ok2: ", "… and 3 more checks"]


async def test_unreachable_appliance_is_shown_and_retried_until_it_comes_back(running: Running) -> None:
    """Going down shows UNREACHABLE with the reason and a failed-poll count; coming back clears it."""
    fake = running.fake
    fake.up = False
    await running.poll()
    await running.poll()
    bar = running.app.status_screen.query_one(ConnectionBar)
    assert bar.reachability is Reachability.UNREACHABLE
    assert bar.has_class("-unreachable")
    assert "UNREACHABLE" in bar.text
    assert "2 failed polls" in bar.text
    assert "Connection refused" in bar.text
    # The last known figures stay on screen, dimmed, rather than vanishing.
    assert "running · embedded" in texts(running)["nats"]
    assert running.app.status_screen.query_one(NatsPanel).has_class("-stale")
    fake.up = True
    fake.add_log("back again")
    await running.poll()
    assert bar.reachability is Reachability.ONLINE
    assert "online" in bar.text
    assert not running.app.status_screen.query_one(NatsPanel).has_class("-stale")
    assert running.app.status_screen.query_one(Log).lines[-1].endswith("back again")


async def test_appliance_down_from_the_start_is_shown_as_unreachable() -> None:
    """An appliance that never answered shows UNREACHABLE and placeholders, not a crash."""
    fake = FakeAppliance()
    fake.up = False
    async for running in start_app(fake):
        assert "UNREACHABLE" in texts(running)["connection"]
        assert texts(running)["instance"] == "no instance reply yet"
        assert texts(running)["readiness"] == "no readiness reply yet"
        fake.up = True
        await running.poll()
        assert "online" in texts(running)["connection"]
        assert "name    craton 0.1.0" in texts(running)["instance"]


async def test_malformed_json_wrong_shape_and_problem_replies_are_shown_as_errors(running: Running) -> None:
    """Broken replies are listed in the error box; the other areas keep working; a fix clears it."""
    fake = running.fake
    fake.overrides["/api/v1/instance"] = lambda _: httpx.Response(200, content=b"{not json")
    fake.overrides["/readyz"] = lambda _: httpx.Response(200, json={"status": 1, "checks": "many"})
    fake.overrides["/api/v1/instance/logs"] = lambda _: problem(500, "Internal Server Error", "boom", "internal")
    await running.poll()
    box = running.app.status_screen.query_one(ErrorBox)
    assert box.display
    lines = box.text.splitlines()
    assert lines[0].startswith("✘ GET /api/v1/instance: reply is not valid JSON")
    assert lines[1].startswith("✘ GET /readyz: unexpected reply shape: Expected `str`, got `int` - at `$.status`")
    assert lines[2] == (
        "✘ GET /api/v1/instance/logs: HTTP 500 Internal Server Error: boom [internal] "
        "(request 0190f3a4-0000-7000-8000-000000000001)"
    )
    assert "online" in texts(running)["connection"]
    # The last good replies are still what the panels show.
    assert "name    craton 0.1.0" in texts(running)["instance"]
    fake.overrides.clear()
    await running.poll()
    assert not box.display


async def test_hostile_log_text_is_shown_literally_without_control_characters(running: Running) -> None:
    """Escape sequences are neutralised and markup-looking text is shown as typed, not interpreted."""
    running.fake.log.append(log_line(3, "\x1b[2J[bold]owned[/bold]\u202eevil\r\nnext", level="\x07WARN"))
    await running.poll()
    last = running.app.status_screen.query_one(Log).lines[-1]
    assert "\x1b" not in last
    assert "\x07" not in last
    assert "\u202e" not in last
    assert "[bold]owned[/bold]" in last
    assert "\ufffd[2J" in last


async def test_log_panel_keeps_only_the_newest_lines_up_to_its_bound() -> None:
    """The log area is bounded: after many lines only the newest `log_lines_max` remain, in order."""
    fake = FakeAppliance()
    async for running in start_app(fake, log_lines_max=5, log_page_lines=4):
        fake.add_log(*(f"line {n}" for n in range(3, 15)))
        await running.poll()
        lines = running.app.status_screen.query_one(Log).lines
        assert [line.rsplit(": ", 1)[1] for line in lines] == [f"line {n}" for n in range(10, 15)]
        assert [line.seq for line in running.app.poller.log.lines] == list(range(10, 15))


async def test_restarted_appliance_is_marked_and_its_log_is_followed_from_the_start(running: Running) -> None:
    """A new instance start restarts the log cursor, so lines numbered from 1 again are shown."""
    fake = running.fake
    fake.instance = instance_body(started_at="2026-11-28T20:00:00Z", uptime_s=1.0)
    fake.log = [log_line(1, "second life starting")]
    await running.poll()
    lines = running.app.status_screen.query_one(Log).lines
    assert lines[-2] == "──── the appliance restarted ────"
    assert lines[-1].endswith("second life starting")
