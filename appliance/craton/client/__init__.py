"""Python clients of a Craton replica: `Client` (blocking) and `AsyncClient` (asyncio).

Both reconnect, retry retryable error codes (1, 12, 13, 14, 15) with backoff from 100 ms doubling,
follow NotLeader to the hinted leader, and never resend a write whose outcome is unknown
(`OutcomeUnknown`). This package must never import the server or the engine.

    CratonClientError
    ├── ServerError        an error reply: `code`, `message`, `leader_hint`, `retryable`
    ├── ConnectionFailed   no replica reachable within the retry budget (nothing applied)
    └── OutcomeUnknown     connection lost after a write was sent
"""

from appliance.craton.client.aio import AsyncClient
from appliance.craton.client.policy import (
    ConnectionFailed,
    CratonClientError,
    OutcomeUnknown,
    RetryPolicy,
    ServerError,
    parse_address,
)
from appliance.craton.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectionFailed",
    "CratonClientError",
    "OutcomeUnknown",
    "RetryPolicy",
    "ServerError",
    "parse_address",
]
