"""HTTP surface of invites: `/api/v1/orgs/{org_id}/invites` (list, create) and
`/api/v1/orgs/{org_id}/invites/{invite_id}` (revoke).

Creating an invite returns its token ONCE (`invite_token`); only its hash is kept. The invitee
redeems it at signup (`POST /api/v1/auth/signup` with `invite_token`) or, with an account already,
at `POST /api/v1/orgs/join`. Invites expire (`ttl_s`, one hour to thirty days, seven by default)
and are single-use.

This module must never decide a rule, map an error to a status, or return a token twice.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from appliance.api.auth import Principal, org_access
from appliance.api.services import Services
from appliance.identity.domain.ids import InviteId
from appliance.identity.domain.org_commands import INVITE_TTL_S_DEFAULT
from appliance.identity.domain.rbac import Permission, Role
from appliance.identity.http.orgs_common import (
    ORG_READ_PROBLEMS,
    ORG_WRITE_PROBLEMS,
    correlation,
    parse_id,
    ports_of,
    settled,
)
from appliance.identity.projections.orgs_query import InviteView, invite_of, invites_of
from appliance.identity.workflows.invites import invite_member, revoke_invite
from appliance.kernel.errors import NotFound
from appliance.kernel.ids import OrgId
from appliance.kernel.structs import Struct


class InviteList(Struct, frozen=True):
    invites: list[InviteView]


class InviteBody(Struct, frozen=True):
    email: str
    role: Role
    ttl_s: int = INVITE_TTL_S_DEFAULT


class InviteCreated(Struct, frozen=True):
    invite: InviteView
    invite_token: str  # shown once


class InvitesController(Controller):
    path = "/api/v1/orgs/{org_id:str}/invites"
    tags = ("organisations",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(operation_id="listInvites", summary="Invites of an organisation, newest first", responses=ORG_READ_PROBLEMS)
    async def list_invites(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        pending: Annotated[bool, QueryParameter(description="only invites that can still be redeemed")] = False,
    ) -> InviteList:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.MANAGE_INVITES)
        return InviteList(invites=invites_of(services.db, target, services.clock.now(), pending_only=pending))

    @post(
        operation_id="createInvite",
        summary="Invite an e-mail address with a role; the token is returned once",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def create(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        data: JSONBody[InviteBody],
    ) -> InviteCreated:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.INVITE_MEMBERS)
        issued = await invite_member(
            ports_of(services),
            target,
            principal.acting_as(),
            data.email,
            data.role,
            ttl_s=data.ttl_s,
            correlation_id=correlation(),
        )
        await settled(services, issued.change)
        view = invite_of(services.db, target, issued.invite_id, services.clock.now())
        if view is None:
            raise NotFound("invite not found")
        return InviteCreated(invite=view, invite_token=issued.token)

    @delete(
        "/{invite_id:str}",
        operation_id="revokeInvite",
        summary="Revoke a pending invite (Admin and up)",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def revoke(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        invite_id: FromPath[str],
    ) -> None:
        target = parse_id(OrgId, org_id)
        invite = parse_id(InviteId, invite_id)
        await org_access(services, principal, target, Permission.MANAGE_INVITES)
        change = await revoke_invite(
            ports_of(services), target, principal.acting_as(), invite, correlation_id=correlation()
        )
        await settled(services, change)
