"""HTTP surface of membership: `/api/v1/orgs/{org_id}/members` (list) and
`/api/v1/orgs/{org_id}/members/{user_id}` (change role, remove — removing oneself is leaving).

The last Owner can neither leave, be removed nor be demoted; only Owners act on Owners or grant
the Owner role. The domain decides these; `org_access` only checks the permission table first.

This module must never decide a rule or map an error to a status.
"""

from __future__ import annotations

from litestar import Controller, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from appliance.api.auth import Principal, org_access
from appliance.api.services import Services
from appliance.identity.domain.rbac import Permission, Role
from appliance.identity.http.orgs_common import (
    ORG_READ_PROBLEMS,
    ORG_WRITE_PROBLEMS,
    correlation,
    parse_id,
    ports_of,
    settled,
)
from appliance.identity.projections.orgs_query import MemberView, members_of
from appliance.identity.workflows.members import change_member_role, remove_member
from appliance.kernel.errors import NotFound
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct


class MemberList(Struct, frozen=True):
    members: list[MemberView]


class RoleBody(Struct, frozen=True):
    role: Role


def _member(services: Services, org_id: OrgId, user_id: UserId) -> MemberView:
    for member in members_of(services.db, org_id):
        if member.user_id == str(user_id):
            return member
    raise NotFound("member not found")


class MembersController(Controller):
    path = "/api/v1/orgs/{org_id:str}/members"
    tags = ("organisations",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(operation_id="listMembers", summary="Members of an organisation and their roles", responses=ORG_READ_PROBLEMS)
    async def list_members(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], org_id: FromPath[str]
    ) -> MemberList:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.LIST_MEMBERS)
        return MemberList(members=members_of(services.db, target))

    @patch(
        "/{user_id:str}",
        operation_id="changeMemberRole",
        summary="Change a member's role (Admin and up; Owner role only by Owners; never the last Owner)",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def change_role(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        user_id: FromPath[str],
        data: JSONBody[RoleBody],
    ) -> MemberView:
        target = parse_id(OrgId, org_id)
        member_id = parse_id(UserId, user_id)
        await org_access(services, principal, target, Permission.CHANGE_ROLES)
        change = await change_member_role(
            ports_of(services), target, principal.acting_as(), member_id, data.role, correlation_id=correlation()
        )
        await settled(services, change)
        return _member(services, target, member_id)

    @delete(
        "/{user_id:str}",
        operation_id="removeMember",
        summary="Remove a member (Admin and up), or leave when it is the caller (any role; never the last Owner)",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def remove(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        user_id: FromPath[str],
    ) -> None:
        target = parse_id(OrgId, org_id)
        member_id = parse_id(UserId, user_id)
        leaving = principal.kind == "user" and principal.user_id == member_id
        await org_access(services, principal, target, Permission.LEAVE_ORG if leaving else Permission.REMOVE_MEMBERS)
        change = await remove_member(
            ports_of(services), target, principal.acting_as(), member_id, correlation_id=correlation()
        )
        await settled(services, change)
