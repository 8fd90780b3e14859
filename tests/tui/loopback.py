"""Real HTTP servers on 127.0.0.1 (port chosen by the OS) for the TUI tests that need sockets.

`LoopbackAppliance` serves a `FakeAppliance`'s replies over real HTTP/1.1 (one request per
connection), and can stop listening to play an appliance that went away. `raw_server` runs any
connection handler, for servers that never answer or answer with something that is not HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from tests.tui.fake_appliance import FakeAppliance

head_bytes_max = 64 * 1024
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """Serve `handler` on 127.0.0.1:<free port>; yields the base URL; closes everything on exit."""
    writers: list[asyncio.StreamWriter] = []

    async def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(track, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


class LoopbackAppliance:
    """A `FakeAppliance` reachable over a real loopback socket."""

    def __init__(self, fake: FakeAppliance) -> None:
        self.fake = fake
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        # Reusing the port after a stop plays an appliance that restarted on the same address.
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, target, _ = head[:head_bytes_max].split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        request = httpx.Request(method, f"{self.url}{target}")
        response = self.fake.handle(request)
        writer.write(encode_response(response))
        await writer.drain()
        writer.close()


def encode_response(response: httpx.Response) -> bytes:
    body = response.content
    lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items() if name != "content-length"]
    lines += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
