"""Tests of one poll round and of what the poller remembers between rounds (tui.poller)."""

from __future__ import annotations

import httpx

from tests.tui.fake_appliance import BASE_URL, FakeAppliance, instance_body, log_line, problem
from tui.client import ApplianceClient
from tui.poller import Poller, Reachability


def poller_for(fake: FakeAppliance, **options: int) -> Poller:
    return Poller(ApplianceClient(BASE_URL, transport=fake.transport()), **options)


async def test_a_round_reads_instance_readiness_and_new_log_lines() -> None:
    """One round yields an ONLINE view with the instance, readiness, a lag sample and the new lines."""
    fake = FakeAppliance()
    poller = poller_for(fake)
    view = await poller.poll()
    assert view.reachability is Reachability.ONLINE
    assert view.poll == 1
    assert view.instance is not None
    assert view.instance.nats.restarts == 2
    assert view.readiness is not None
    assert view.readiness.ready
    assert view.lag_samples == (7,)
    assert [line.message for line in view.new_log_lines] == ["appliance starting", "nats running"]
    assert view.errors == ()
    assert not view.restarted
    await poller.client.aclose()


async def test_unreachable_rounds_are_counted_keep_the_last_view_and_recover() -> None:
    """Failed rounds count up, keep the last good replies and add no lag sample; success resets."""
    fake = FakeAppliance()
    poller = poller_for(fake)
    await poller.poll()
    fake.up = False
    first = await poller.poll()
    second = await poller.poll()
    assert (first.reachability, first.unreachable_polls) == (Reachability.UNREACHABLE, 1)
    assert second.unreachable_polls == 2
    assert "Connection refused" in second.unreachable_reason
    assert second.instance is not None
    assert second.lag_samples == (7,)
    assert second.new_log_lines == ()
    fake.up = True
    back = await poller.poll()
    assert (back.reachability, back.unreachable_polls, back.unreachable_reason) == (
        Reachability.ONLINE,
        0,
        "",
    )
    assert back.lag_samples == (7, 7)
    # Only one request was tried per failed round: the first failure ends the round.
    assert len(fake.requests) == 3 + 2 + 3
    await poller.client.aclose()


async def test_an_appliance_lost_mid_round_keeps_what_arrived() -> None:
    """Readiness refused after the instance arrived: the view is UNREACHABLE and keeps that instance."""
    fake = FakeAppliance()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    fake.overrides["/readyz"] = refuse
    fake.instance = instance_body(name="first-light")
    poller = poller_for(fake)
    view = await poller.poll()
    assert view.reachability is Reachability.UNREACHABLE
    assert view.instance is not None
    assert view.instance.name == "first-light"
    assert view.readiness is None
    await poller.client.aclose()


async def test_bad_replies_are_errors_of_the_round_and_do_not_stop_the_others() -> None:
    """A broken instance reply is listed as an error while readiness and logs still update."""
    fake = FakeAppliance()
    fake.overrides["/api/v1/instance"] = lambda _: httpx.Response(200, json={"name": 3})
    poller = poller_for(fake)
    view = await poller.poll()
    assert view.reachability is Reachability.ONLINE
    assert len(view.errors) == 1
    assert view.errors[0].startswith("GET /api/v1/instance: unexpected reply shape")
    assert view.instance is None
    assert view.lag_samples == ()
    assert view.readiness is not None
    assert len(view.new_log_lines) == 2
    await poller.client.aclose()


async def test_log_catch_up_reads_a_bounded_number_of_pages_per_round() -> None:
    """A backlog is read page by page, at most five pages per round, and finished next round."""
    fake = FakeAppliance()
    fake.add_log(*(f"m{n}" for n in range(3, 31)))
    poller = poller_for(fake, log_page_lines=4)
    first = await poller.poll()
    second = await poller.poll()
    assert [line.seq for line in first.new_log_lines] == list(range(1, 21))
    assert [line.seq for line in second.new_log_lines] == list(range(21, 31))
    await poller.client.aclose()


async def test_a_server_ignoring_the_cursor_causes_no_duplicates_and_no_request_storm() -> None:
    """When every page repeats from the start, nothing is shown twice and each round stops after one page."""
    fake = FakeAppliance()
    fake.ignore_log_cursor = True
    fake.add_log("m3", "m4")
    poller = poller_for(fake, log_page_lines=4)
    first = await poller.poll()
    fake.add_log("m5")
    second = await poller.poll()
    third = await poller.poll()
    assert [line.seq for line in first.new_log_lines] == [1, 2, 3, 4]
    assert [line.seq for line in second.new_log_lines] == []
    assert third.new_log_lines == ()
    # Round one read a full page then an identical one (cursor did not move); later rounds one page each.
    assert len(fake.log_requests()) == 2 + 1 + 1
    await poller.client.aclose()


async def test_a_restarted_appliance_is_noticed_and_its_log_followed_from_the_start() -> None:
    """A changed started_at (or instance id) marks the round as restarted and rewinds the log cursor."""
    fake = FakeAppliance()
    poller = poller_for(fake)
    await poller.poll()
    fake.instance = instance_body(started_at="2026-11-28T21:00:00Z")
    fake.log = [log_line(1, "reborn")]
    view = await poller.poll()
    assert view.restarted
    assert [line.message for line in view.new_log_lines] == ["reborn"]
    again = await poller.poll()
    assert not again.restarted
    await poller.client.aclose()


async def test_log_errors_are_reported_and_the_cursor_is_kept() -> None:
    """A failing logs endpoint is an error of the round; when it recovers nothing is skipped."""
    fake = FakeAppliance()
    fake.overrides["/api/v1/instance/logs"] = lambda _: problem(500, "Internal Server Error", "disk", "internal")
    poller = poller_for(fake)
    view = await poller.poll()
    assert view.errors == (
        "GET /api/v1/instance/logs: HTTP 500 Internal Server Error: disk [internal] "
        "(request 0190f3a4-0000-7000-8000-000000000001)",
    )
    fake.overrides.clear()
    fixed = await poller.poll()
    assert [line.seq for line in fixed.new_log_lines] == [1, 2]
    await poller.client.aclose()
