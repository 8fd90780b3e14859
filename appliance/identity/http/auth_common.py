"""What the account routes (auth, users, passkeys, OAuth, admin users) share: ports, the client's
address, read-your-writes, and the OpenAPI description of their problem replies.

This module must never map an error to a status (`api.problems` does that) or decide a rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from litestar import Request
from litestar.openapi.datastructures import ResponseSpec

from appliance.api.problems import PROBLEM_JSON
from appliance.api.services import Services
from appliance.eventstore.port import AppendResult
from appliance.identity.workflows.sessions import ClientInfo
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.errors import Unavailable

# Read-your-writes: how long a route waits for the projection before answering 503.
PROJECTION_WAIT_S = 5.0

PROBLEMS: Mapping[int, str] = MappingProxyType(
    {
        400: "Malformed input: body, path id, query parameter, token shape or password policy",
        401: "No credential, or an invalid, expired or revoked one (token, session, refresh token, setup token)",
        403: "Not allowed: an API key where a signed-in user is needed, not an instance administrator, "
        "a disabled account, or signups by invite only",
        404: "No such session, passkey, user or provider for this caller",
        409: "A rule refused it (e-mail taken, setup token spent, last credential) or a concurrent change",
        413: "Request body too large",
        429: "Too many attempts or requests (see Retry-After); refused before any password hashing",
        502: "The identity provider answered something unusable",
        503: "The event store, session store or identity provider is unavailable, or the read model lags",
    }
)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json replies a route can give."""
    return {
        status: ResponseSpec(data_container=dict[str, Any], description=PROBLEMS[status], media_type=PROBLEM_JSON)
        for status in statuses
    }


def ports_of(services: Services) -> IdentityPorts:
    return IdentityPorts(store=services.store, sessions=services.sessions, clock=services.clock, ids=services.ids)


def client_of(request: Request[Any, Any, Any]) -> ClientInfo:
    """The peer address and user agent of a request (the appliance listens directly, no proxy)."""
    host = request.client.host if request.client is not None else "unknown"
    return ClientInfo(ip=host, user_agent=request.headers.get("user-agent", "")).clipped


async def settled(services: Services, appended: Iterable[AppendResult]) -> None:
    """Wait until the read model shows every append; `Unavailable` (503) if it does not in time."""
    for result in appended:
        if not await services.projector.wait_for(result.stream, result.sequence, PROJECTION_WAIT_S):
            raise Unavailable("the change was recorded but the read model has not caught up yet; retry the read")
