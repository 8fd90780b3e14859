"""HTTP surface of organisations: `/api/v1/orgs` (list, create), `/api/v1/orgs/{org_id}` (read,
rename, delete) and `/api/v1/orgs/join` (a signed-in user redeems an invite token).

Handlers are three steps — guard (`api.auth.org_access`), workflow, read-your-writes — and return
the DTOs of `projections.orgs_query`. Creating an organisation creates its event stream
(`ORG_<id>`); its creator becomes its Owner.

This module must never decide a rule or map an error to a status.
"""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from appliance.api.auth import Principal, org_access, require_user
from appliance.api.services import Services
from appliance.identity.domain.rbac import Permission
from appliance.identity.http.orgs_common import (
    ORG_READ_PROBLEMS,
    ORG_WRITE_PROBLEMS,
    correlation,
    parse_id,
    ports_of,
    problem_responses,
    settled,
)
from appliance.identity.projections.orgs_query import OrgView, live_org, orgs_of_user
from appliance.identity.workflows.invites import accept_invite
from appliance.identity.workflows.orgs import OrgChange, create_org, delete_org, present_org, rename_org
from appliance.kernel.errors import NotFound
from appliance.kernel.ids import OrgId
from appliance.kernel.structs import Struct


class OrgList(Struct, frozen=True):
    orgs: list[OrgView]


class OrgNameBody(Struct, frozen=True):
    name: str


class JoinBody(Struct, frozen=True):
    invite_token: str


def _org_after(services: Services, change: OrgChange, role: str | None) -> OrgView:
    view = live_org(services.db, change.org_id, role)
    if view is None:
        raise NotFound("organisation not found")
    return view


class OrgsController(Controller):
    path = "/api/v1/orgs"
    tags = ("organisations",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(
        operation_id="listOrgs",
        summary="The caller's organisations (an API key sees its own)",
        responses=problem_responses(401, 429),
        sync_to_thread=False,
    )
    def list_orgs(self, services: NamedDependency[Services], principal: NamedDependency[Principal]) -> OrgList:
        if principal.kind == "api_key" and principal.api_key_org_id is not None:
            role = principal.api_key_role.value if principal.api_key_role else None
            own = live_org(services.db, principal.api_key_org_id, role)
            return OrgList(orgs=[own] if own else [])
        return OrgList(orgs=orgs_of_user(services.db, require_user(principal)))

    @post(
        operation_id="createOrg",
        summary="Create an organisation; the caller becomes its Owner",
        responses=problem_responses(400, 401, 403, 409, 429, 503),
    )
    async def create(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], data: JSONBody[OrgNameBody]
    ) -> OrgView:
        require_user(principal)
        change = await create_org(
            ports_of(services), services.db, principal.acting_as(), data.name, correlation_id=correlation()
        )
        await settled(services, change)
        return _org_after(services, change, "owner")

    @post(
        "/join",
        status_code=200,
        operation_id="joinOrg",
        summary="Redeem an invite token as the signed-in user (their e-mail must be the invited one)",
        responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
    )
    async def join(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], data: JSONBody[JoinBody]
    ) -> OrgView:
        require_user(principal)
        change = await accept_invite(
            ports_of(services), principal.acting_as(), data.invite_token, correlation_id=correlation()
        )
        await settled(services, change)
        member = present_org(change).members.get(principal.user_id) if principal.user_id else None
        return _org_after(services, change, member.role.value if member else None)

    @get(
        "/{org_id:str}",
        operation_id="getOrg",
        summary="One organisation the caller belongs to",
        responses=ORG_READ_PROBLEMS,
    )
    async def get_org(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], org_id: FromPath[str]
    ) -> OrgView:
        target = parse_id(OrgId, org_id)
        role = await org_access(services, principal, target, Permission.READ_ORG)
        view = live_org(services.db, target, role.value)
        if view is None:
            raise NotFound("organisation not found")
        return view

    @patch(
        "/{org_id:str}",
        operation_id="renameOrg",
        summary="Rename an organisation (Admin and up)",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def rename(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        data: JSONBody[OrgNameBody],
    ) -> OrgView:
        target = parse_id(OrgId, org_id)
        role = await org_access(services, principal, target, Permission.RENAME_ORG)
        change = await rename_org(
            ports_of(services), target, principal.acting_as(), data.name, correlation_id=correlation()
        )
        await settled(services, change)
        return _org_after(services, change, role.value)

    @delete(
        "/{org_id:str}",
        operation_id="deleteOrg",
        summary="Delete an organisation (Owner only); its history stays for the audit",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def remove(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], org_id: FromPath[str]
    ) -> None:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.DELETE_ORG)
        change = await delete_org(ports_of(services), target, principal.acting_as(), correlation_id=correlation())
        await settled(services, change)
