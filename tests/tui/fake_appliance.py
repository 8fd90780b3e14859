"""A scripted appliance for TUI tests: replies in the HTTP contract's exact shapes, served through
an `httpx.MockTransport` (the seam httpx itself provides), with a state the test changes between
polls. Going "down" raises the same `httpx.ConnectError` a refused loopback connection raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

import httpx

INSTANCE_ID = "0190f3a4-7b1c-7def-8123-456789abcdef"
STARTED_AT = "2026-11-28T19:00:00Z"
BASE_URL = "http://127.0.0.1:8470"


def instance_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instance_id": INSTANCE_ID,
        "name": "craton",
        "version": "0.1.0",
        "started_at": STARTED_AT,
        "uptime_s": 3723.5,
        "http_address": BASE_URL,
        "setup_pending": True,
        "nats": {
            "mode": "embedded",
            "state": "running",
            "restarts": 2,
            "url": "nats://127.0.0.1:41234",
            "pid": 4321,
        },
        "streams": [
            {"name": "PLATFORM", "last_sequence": 3, "messages": 3, "events": 3},
            {"name": "ORG_0190f3a4", "last_sequence": 1500, "messages": 1500, "events": 1499},
        ],
        "projection": {
            "lag": 7,
            "lag_by_stream": {"PLATFORM": 0, "ORG_0190f3a4": 7},
            "failed_events": 1,
            "lag_threshold": 1000,
        },
    }
    body.update(overrides)
    return body


def readiness_body(ready: bool = True) -> dict[str, Any]:
    return {
        "status": "ready" if ready else "not_ready",
        "checks": [
            {"name": "nats", "ok": True, "detail": "connected to nats://127.0.0.1:41234"},
            {
                "name": "jetstream",
                "ok": ready,
                "detail": "writable" if ready else "stream PLATFORM not writable",
            },
            {"name": "projections", "ok": True, "detail": "lag 7 under 1000"},
        ],
    }


def log_line(seq: int, message: str, *, level: str = "INFO", request_id: str | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": f"2026-11-28T19:{seq // 60 % 60:02d}:{seq % 60:02d}Z",
        "level": level,
        "logger": "appliance.runtime",
        "message": message,
        "request_id": request_id,
    }


def problem(status: int, title: str, detail: str, code: str) -> httpx.Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "0190f3a4-0000-7000-8000-000000000001",
    }
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/problem+json"}
    )


Override = Callable[[httpx.Request], httpx.Response]


class IdentityRoutes(Protocol):
    def handle(self, request: httpx.Request) -> httpx.Response | None: ...


class FakeAppliance:
    """The appliance's status endpoints as plain data the test edits; `requests` records paths."""

    def __init__(self) -> None:
        self.up = True
        self.instance: dict[str, Any] = instance_body()
        self.ready = True
        self.log: list[dict[str, Any]] = [log_line(1, "appliance starting"), log_line(2, "nats running")]
        self.requests: list[httpx.URL] = []
        # path -> function answering instead of the normal reply (broken servers, problems)
        self.overrides: dict[str, Override] = {}
        self.ignore_log_cursor = False
        # The identity routes (login, refresh, screens' data); None plays an appliance without them.
        self.identity: IdentityRoutes | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        if not self.up:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        override = self.overrides.get(request.url.path)
        if override is not None:
            return override(request)
        if request.url.path == "/api/v1/instance":
            return httpx.Response(200, json=self.instance)
        if request.url.path == "/readyz":
            return httpx.Response(200 if self.ready else 503, json=readiness_body(self.ready))
        if request.url.path == "/api/v1/instance/logs":
            return self._logs(request)
        if self.identity is not None:
            reply = self.identity.handle(request)
            if reply is not None:
                return reply
        return problem(404, "Not Found", f"no route {request.url.path}", "not_found")

    def _logs(self, request: httpx.Request) -> httpx.Response:
        after = 0 if self.ignore_log_cursor else int(request.url.params["after"])
        limit = int(request.url.params["limit"])
        lines = [line for line in self.log if line["seq"] > after][:limit]
        next_seq = lines[-1]["seq"] if lines else after
        return httpx.Response(200, json={"lines": lines, "next": next_seq})

    def add_log(self, *messages: str) -> None:
        seq = self.log[-1]["seq"] if self.log else 0
        for offset, message in enumerate(messages, start=1):
            self.log.append(log_line(seq + offset, message))

    def log_requests(self) -> list[httpx.URL]:
        return [url for url in self.requests if url.path == "/api/v1/instance/logs"]
