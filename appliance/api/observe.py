"""The outermost ASGI layer: request ids, timing, metrics and one access-log line per request.

It wraps the whole Litestar app so that even requests no route matched (404) are counted and
carry a request id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import uuid_utils

from appliance.api.context import reset_request_id, set_request_id
from appliance.api.metrics import Metrics, route_label

log = logging.getLogger("appliance.http")

ASGIApp = Any


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid_utils.uuid7())
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            self.metrics.observe_request(scope["method"], route, status, elapsed)
            # Failures are worth a line at INFO (with the request id, to match a user's report);
            # successful requests only at DEBUG, so polling clients do not flood the log.
            log.log(
                logging.INFO if status >= 400 else logging.DEBUG,
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            reset_request_id(token)
