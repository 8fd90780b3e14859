"""What the organisation routes share: path-id parsing, the ports, read-your-writes, OpenAPI errors.

Every org route follows the same three steps: `org_access` (404 for an organisation the caller
cannot see, 403 for a role too low — `api.auth`), the workflow (the domain decides again, on the
aggregate itself), then a wait until the projection has applied the new events, so the reply and
the caller's next request see the change (a revoked key fails on the very next request).

This module must never map an error to a status (`api.problems` does that) or decide a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from litestar.openapi.datastructures import ResponseSpec

from appliance.api.context import current_request_id
from appliance.api.problems import PROBLEM_JSON
from appliance.api.services import Services
from appliance.identity.workflows.orgs import OrgChange
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.errors import Unavailable
from appliance.kernel.ids import TypedId

IdT = TypeVar("IdT", bound=TypedId)

# Read-your-writes: how long a route waits for the projection before answering 503.
PROJECTION_WAIT_S = 5.0

PROBLEMS: Mapping[int, str] = MappingProxyType(
    {
        400: "Malformed input (body, path id, query parameter or cursor)",
        401: "No credential, or an invalid, expired or revoked one",
        403: "The caller's role in this organisation does not allow this",
        404: "No such organisation for this caller (never 403 for a foreign one), or no such member, invite or key",
        409: "A rule refused it (last owner, already a member, limits) or a concurrent change",
        429: "Too many requests from this principal (see Retry-After)",
        503: "The event store is unavailable, or the read model did not catch up in time",
    }
)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem+json replies a route can give."""
    return {
        status: ResponseSpec(data_container=dict[str, Any], description=PROBLEMS[status], media_type=PROBLEM_JSON)
        for status in statuses
    }


ORG_READ_PROBLEMS = problem_responses(400, 401, 403, 404, 429, 503)
ORG_WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 429, 503)


def parse_id(kind: type[IdT], text: str) -> IdT:
    """A path id, parsed once at the boundary; malformed is `InvalidInput` (400)."""
    return kind.parse(text)


def ports_of(services: Services) -> IdentityPorts:
    return IdentityPorts(store=services.store, sessions=services.sessions, clock=services.clock, ids=services.ids)


def correlation() -> str | None:
    return current_request_id()


async def settled(services: Services, change: OrgChange) -> None:
    """Wait until the read model shows `change`; `Unavailable` (503) if it does not in time."""
    if change.sequence is None:
        return
    if not await services.projector.wait_for(change.stream, change.sequence, PROJECTION_WAIT_S):
        raise Unavailable("the change was recorded but the read model has not caught up yet; retry the read")
