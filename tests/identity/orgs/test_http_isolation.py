"""The tenant-isolation matrix: every organisation route in the OpenAPI document × every caller
(Owner, Admin, Member, Viewer, an API key of each role a key may hold, a forged bearer, nobody) ×
the caller's own organisation, a foreign one, and a foreign resource named under the own one.

Expected: no or forged credentials → 401; a foreign organisation → 404 (never 403: a foreign
organisation must not be told apart from one that does not exist); a foreign resource under the
caller's own organisation → 404 when the role may act, else 403; the own organisation → the
route's success status when the role holds the route's permission (`rbac`), else 403. API keys
never hold the Owner role, so there is no Owner key to test (creating one is refused: see
`test_http_orgs`).

The routes come from `/schema/openapi.json`, so a new route under `/api/v1/orgs/{org_id}` fails
this test until it is given a row in `ROUTES`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from appliance.identity.domain.rbac import Permission, Role, has_permission

from .world import Caller, OrgWorld, api_key, invite, member, ok, unique

ORG_PREFIX = "/api/v1/orgs/{org_id}"
# Routes outside `{org_id}`: each has its own tests (test_http_orgs, test_http_audit).
ORGLESS = frozenset({"listOrgs", "createOrg", "joinOrg", "listAudit"})

Body = Callable[[int], dict[str, Any] | None]
Fresh = Callable[[OrgWorld], Awaitable[str]]


@dataclass(frozen=True)
class Route:
    permission: Permission
    body: Body = lambda _: None
    fresh: Fresh | None = None  # makes a new own-org resource for a case that would consume one


async def _fresh_member(world: OrgWorld) -> str:
    joined = await member(world.running, world.owner.auth, world.own, "viewer", prefix="doomed")
    return joined.user_id or ""


async def _fresh_invite(world: OrgWorld) -> str:
    issued = await invite(world.running, world.owner.auth, world.own, f"x{unique()}@example.org", "viewer")
    return str(issued["invite"]["invite_id"])


async def _fresh_key(world: OrgWorld) -> str:
    key_id, _ = await api_key(world.running, world.owner.auth, world.own, "viewer")
    return key_id


async def _subject(world: OrgWorld) -> str:
    return world.subject_id


ROUTES: dict[str, Route] = {
    "getOrg": Route(Permission.READ_ORG),
    "renameOrg": Route(Permission.RENAME_ORG, body=lambda n: {"name": f"Acme {n}"}),
    "deleteOrg": Route(Permission.DELETE_ORG),
    "listMembers": Route(Permission.LIST_MEMBERS),
    "changeMemberRole": Route(Permission.CHANGE_ROLES, body=lambda _: {"role": "viewer"}, fresh=_subject),
    "removeMember": Route(Permission.REMOVE_MEMBERS, fresh=_fresh_member),
    "listInvites": Route(Permission.MANAGE_INVITES),
    "createInvite": Route(Permission.INVITE_MEMBERS, body=lambda n: {"email": f"new{n}@example.org", "role": "viewer"}),
    "revokeInvite": Route(Permission.MANAGE_INVITES, fresh=_fresh_invite),
    "listApiKeys": Route(Permission.MANAGE_API_KEYS),
    "createApiKey": Route(Permission.MANAGE_API_KEYS, body=lambda n: {"name": f"k{n}", "role": "viewer"}),
    "revokeApiKey": Route(Permission.MANAGE_API_KEYS, fresh=_fresh_key),
    "listOrgAudit": Route(Permission.READ_AUDIT),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    success: int

    @property
    def sub_param(self) -> str | None:
        names = re.findall(r"{(\w+)}", self.path)
        return names[1] if len(names) > 1 else None


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            if not path.startswith(ORG_PREFIX):
                assert spec["operationId"] not in ROUTES, f"{spec['operationId']} left {ORG_PREFIX}"
                continue
            successes = [int(code) for code in spec["responses"] if code.startswith("2")]
            assert len(successes) == 1, f"{spec['operationId']} documents one success status"
            found.append(Operation(method.upper(), path, spec["operationId"], successes[0]))
    # Owner deletes last: until then the own organisation must stay alive.
    return sorted(found, key=lambda op: op.operation_id == "deleteOrg")


def expected(op: Operation, caller: Caller, scope: str) -> int:
    if caller.kind in {"anonymous", "forged"}:
        return 401
    if scope == "foreign":
        return 404
    assert caller.role is not None
    if not has_permission(caller.role, ROUTES[op.operation_id].permission):
        return 403
    return 404 if scope == "foreign resource" else op.success


async def _path(world: OrgWorld, op: Operation, scope: str, allowed: bool) -> str:
    org_id = world.foreign if scope == "foreign" else world.own
    path = op.path.replace("{org_id}", org_id)
    sub = op.sub_param
    if sub is None:
        return path
    fresh = ROUTES[op.operation_id].fresh
    if scope == "own" and allowed and fresh is not None:
        resource = await fresh(world)
    elif scope == "own" and fresh is not None:
        resource = await _subject(world) if sub == "user_id" else world.foreign_ids[sub]
    else:
        resource = world.foreign_ids[sub]
    return path.replace(f"{{{sub}}}", resource)


def _callers_in_order(world: OrgWorld, op: Operation) -> list[Caller]:
    # The Owner is the one caller whose deleteOrg succeeds: it goes last.
    if op.operation_id != "deleteOrg":
        return world.callers
    return sorted(world.callers, key=lambda caller: caller.role is Role.OWNER)


async def _case(world: OrgWorld, op: Operation, caller: Caller, scope: str, number: int) -> str | None:
    want = expected(op, caller, scope)
    path = await _path(world, op, scope, want == op.success)
    body = ROUTES[op.operation_id].body(number)
    request = world.http.build_request(op.method, path, headers=caller.headers, json=body)
    reply: httpx.Response = await world.http.send(request)
    if reply.status_code == want and (
        want < 400 or reply.headers["content-type"].startswith("application/problem+json")
    ):
        return None
    return f"{op.operation_id} {scope} as {caller.name}: expected {want}, got {reply.status_code} {reply.text[:160]}"


async def test_every_org_route_for_every_caller_and_scope(world: OrgWorld) -> None:
    """Foreign orgs answer 404, lacking roles 403, no credentials 401, allowed roles succeed — for every route."""
    document = ok(await world.http.get("/schema/openapi.json"), 200)
    ops = operations(document)
    assert {op.operation_id for op in ops} == set(ROUTES), "every org route needs a row in ROUTES"
    tagged = {
        spec["operationId"]
        for methods in document["paths"].values()
        for spec in methods.values()
        if {"organisations", "audit"} & set(spec.get("tags", []))
    }
    assert tagged == set(ROUTES) | ORGLESS, "an organisations/audit route is neither in the matrix nor tested elsewhere"
    mismatches: list[str] = []
    cases = 0
    for op in ops:
        scopes = ["foreign", "own"] if op.sub_param is None else ["foreign", "foreign resource", "own"]
        for caller in _callers_in_order(world, op):
            for scope in scopes:
                cases += 1
                mismatch = await _case(world, op, caller, scope, cases)
                if mismatch:
                    mismatches.append(mismatch)
    assert not mismatches, "\n".join(mismatches)
    assert cases == sum((2 if op.sub_param is None else 3) * len(world.callers) for op in ops)
    # The owner's deletion came last and took effect: the own organisation is now gone for everyone.
    gone = await world.http.get(f"/api/v1/orgs/{world.own}", headers=world.owner.auth)
    assert gone.status_code == 404
