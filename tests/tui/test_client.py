"""Tests of the HTTP client (tui.client): contract replies, every failure mapped to the TUI's
error tree, size limits, and real loopback sockets for timeouts and non-HTTP servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.tui.fake_appliance import BASE_URL, FakeAppliance, problem
from tests.tui.loopback import LoopbackAppliance, raw_server
from tui.client import ApplianceClient, normalise_base_url
from tui.errors import (
    AddressInvalid,
    ApplianceProblem,
    ApplianceUnreachable,
    InvariantViolation,
    ReplyInvalid,
)


def client_for(fake: FakeAppliance, **options: float | int) -> ApplianceClient:
    return ApplianceClient(BASE_URL, transport=fake.transport(), **options)  # type: ignore[arg-type]


async def test_status_calls_decode_contract_replies_and_send_the_right_query() -> None:
    """instance, readiness (with ?verbose) and logs (with after/limit) decode the contract's shapes."""
    fake = FakeAppliance()
    async with client_for(fake) as client:
        instance = await client.instance()
        readiness = await client.readiness()
        page = await client.logs(after=1, limit=10)
    assert instance.nats.state == "running"
    assert readiness.ready
    assert [line.seq for line in page.lines] == [2]
    assert page.next == 2
    assert [(url.path, dict(url.params)) for url in fake.requests] == [
        ("/api/v1/instance", {}),
        ("/readyz", {"verbose": ""}),
        ("/api/v1/instance/logs", {"after": "1", "limit": "10"}),
    ]


async def test_readyz_503_with_a_readiness_body_is_a_reply_not_an_error() -> None:
    """503 is how /readyz says "not ready"; the body is decoded like a 200."""
    fake = FakeAppliance()
    fake.ready = False
    async with client_for(fake) as client:
        readiness = await client.readiness()
    assert readiness.status == "not_ready"
    assert [check.ok for check in readiness.checks] == [True, False, True]


async def test_problem_json_errors_become_appliance_problem_with_every_detail() -> None:
    """A problem+json reply (even a 503 from /readyz) is an ApplianceProblem naming status, code, request."""
    fake = FakeAppliance()
    fake.overrides["/readyz"] = lambda _: problem(503, "Service Unavailable", "draining", "unavailable")
    fake.overrides["/api/v1/instance"] = lambda _: problem(500, "Internal Server Error", "boom", "internal")
    async with client_for(fake) as client:
        with pytest.raises(ApplianceProblem) as readyz:
            await client.readiness()
        with pytest.raises(ApplianceProblem) as instance:
            await client.instance()
    assert readyz.value.status == 503
    assert readyz.value.code == "unavailable"
    assert instance.value.message == (
        "GET /api/v1/instance: HTTP 500 Internal Server Error: boom [internal] "
        "(request 0190f3a4-0000-7000-8000-000000000001)"
    )


async def test_error_statuses_without_problem_bodies_still_name_the_status() -> None:
    """A 404 HTML page, a redirect or a bare 502 is an ApplianceProblem with the reason phrase."""
    fake = FakeAppliance()
    fake.overrides["/api/v1/instance"] = lambda _: httpx.Response(404, text="<html>nope</html>")
    fake.overrides["/readyz"] = lambda _: httpx.Response(302, headers={"location": "http://elsewhere/"})
    fake.overrides["/api/v1/instance/logs"] = lambda _: httpx.Response(502)
    async with client_for(fake) as client:
        with pytest.raises(ApplianceProblem, match=r"^GET /api/v1/instance: HTTP 404 Not Found$"):
            await client.instance()
        with pytest.raises(ApplianceProblem, match="HTTP 302 Found"):
            await client.readiness()
        with pytest.raises(ApplianceProblem, match="HTTP 502 Bad Gateway"):
            await client.logs(after=0, limit=1)
    assert len(fake.requests) == 3, "a redirect is reported, never followed"


async def test_replies_over_the_size_limit_are_refused_declared_or_streamed() -> None:
    """A body over `reply_bytes_max` is ReplyInvalid whether its length is declared or only streamed."""

    async def endless(_: httpx.Request) -> httpx.Response:
        async def chunks():
            for _ in range(100):
                yield b"x" * 1000

        return httpx.Response(200, content=chunks())

    fake = FakeAppliance()
    fake.overrides["/api/v1/instance"] = lambda _: httpx.Response(200, content=b"[" + b"1," * 5000 + b"1]")
    async with client_for(fake, reply_bytes_max=4096) as client:
        with pytest.raises(ReplyInvalid, match="exceeds 4096 bytes"):
            await client.instance()
    streamed = ApplianceClient(BASE_URL, transport=httpx.MockTransport(endless), reply_bytes_max=4096)
    async with streamed:
        with pytest.raises(ReplyInvalid, match="reply exceeds 4096 bytes"):
            await streamed.instance()


async def test_a_refused_connection_is_unreachable() -> None:
    """A real refused loopback connection (server gone) is ApplianceUnreachable, not an httpx error."""
    appliance = LoopbackAppliance(FakeAppliance())
    url = await appliance.start()
    await appliance.stop()
    async with ApplianceClient(url) as client:
        with pytest.raises(ApplianceUnreachable, match="GET /api/v1/instance: ConnectError"):
            await client.instance()


async def test_a_server_that_never_answers_times_out_as_unreachable() -> None:
    """A real socket that accepts and then stays silent ends in ApplianceUnreachable after the timeout."""

    async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        # Read until the client gives up and closes: nothing is ever written back.
        while await reader.read(4096):
            pass

    async with raw_server(silent) as url, ApplianceClient(url, request_timeout_s=0.2) as client:
        with pytest.raises(ApplianceUnreachable, match=r"no reply within 0\.2 s"):
            await client.readiness()


async def test_a_server_that_speaks_something_else_is_unreachable() -> None:
    """A real socket answering with non-HTTP bytes is ApplianceUnreachable with the protocol error."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    async with raw_server(garbage) as url, ApplianceClient(url) as client:
        with pytest.raises(ApplianceUnreachable, match="RemoteProtocolError"):
            await client.logs(after=0, limit=5)


async def test_real_loopback_http_serves_the_contract() -> None:
    """Over a real socket, the client decodes what the loopback appliance serves."""
    appliance = LoopbackAppliance(FakeAppliance())
    url = await appliance.start()
    try:
        async with ApplianceClient(url) as client:
            assert (await client.instance()).name == "craton"
            assert (await client.logs(after=0, limit=500)).next == 2
    finally:
        await appliance.stop()


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8470", "http://127.0.0.1:8470"),
        ("http://127.0.0.1:8470/", "http://127.0.0.1:8470"),
        ("  https://craton.example:443/prefix/  ", "https://craton.example:443/prefix"),
        ("http://[::1]:8470", "http://[::1]:8470"),
    ],
)
def test_normalise_base_url_accepts_http_base_urls(url: str, base: str) -> None:
    """http(s) URLs with a host are accepted, trimmed and stripped of a trailing slash."""
    assert normalise_base_url(url) == base


@pytest.mark.parametrize(
    "url",
    [
        "",
        "127.0.0.1:8470",
        "ftp://host",
        "http://",
        "http://h:99999",
        "http://h/?q=1",
        "http://h/#x",
        "http://user:pw@h",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ],
)
def test_normalise_base_url_refuses_anything_else(url: str) -> None:
    """Missing scheme or host, other schemes, bad ports, queries, fragments and credentials are refused."""
    with pytest.raises(AddressInvalid):
        normalise_base_url(url)


async def test_client_limits_are_checked() -> None:
    """A log page outside 1..500 lines, a negative cursor or a non-positive timeout is a bug."""
    with pytest.raises(InvariantViolation):
        ApplianceClient(BASE_URL, request_timeout_s=0)
    async with client_for(FakeAppliance()) as client:
        for after, limit in ((0, 0), (0, 501), (-1, 5)):
            with pytest.raises(InvariantViolation):
                await client.logs(after=after, limit=limit)
