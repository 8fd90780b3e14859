"""Serve an ASGI app with uvicorn on 127.0.0.1 at a port chosen by the OS, in a background thread.

Also a tiny ASGI toolkit (request parsing, JSON and redirect replies) for the stand-in identity
providers, so they speak real HTTP over a real socket without pulling in a web framework.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
REQUEST_BYTES_MAX = 64 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def json(status: int, value: object) -> Reply:
        return Reply(status, json.dumps(value).encode(), (("content-type", "application/json"),))

    @staticmethod
    def redirect(location: str) -> Reply:
        return Reply(302, b"", (("location", location),))


async def read_request(scope: Scope, receive: Receive) -> Request:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > REQUEST_BYTES_MAX:
            raise ValueError("request body too large for the stand-in provider")
        if not message.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=dict(parse_qsl(scope["query_string"].decode())),
        headers=headers,
        form=dict(parse_qsl(body.decode())) if is_form else {},
    )


async def send_reply(send: Send, reply: Reply) -> None:
    headers = [(k.encode(), v.encode()) for k, v in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class LoopbackServer:
    """`with LoopbackServer(app) as server:` serves `app` at `server.base_url` until the block ends."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", http="h11", ws="none", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="loopback-provider", daemon=True)
        self.base_url = ""

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback provider did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise RuntimeError("the loopback provider did not stop")
