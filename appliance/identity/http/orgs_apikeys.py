"""HTTP surface of API keys: `/api/v1/orgs/{org_id}/api-keys` (list, create) and
`/api/v1/orgs/{org_id}/api-keys/{key_id}` (revoke).

A key (`crk_…`) is returned ONCE, at creation; listings show only its public prefix. A key acts
inside its organisation with its role (never Owner, never above its creator's) and is used as
`Authorization: Bearer crk_…`; revocation answers only once the read model has applied it, so
the key fails on the very next request.

This module must never decide a rule, map an error to a status, or return a key twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from appliance.api.auth import Principal, org_access
from appliance.api.services import Services
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.rbac import Permission, Role
from appliance.identity.http.orgs_common import (
    ORG_READ_PROBLEMS,
    ORG_WRITE_PROBLEMS,
    correlation,
    parse_id,
    ports_of,
    settled,
)
from appliance.identity.projections.orgs_query import ApiKeyView, api_key_of, api_keys_of
from appliance.identity.workflows.apikeys import create_api_key, revoke_api_key
from appliance.kernel.errors import NotFound
from appliance.kernel.ids import OrgId
from appliance.kernel.structs import Struct


class ApiKeyList(Struct, frozen=True):
    api_keys: list[ApiKeyView]


class ApiKeyBody(Struct, frozen=True):
    name: str
    role: Role
    expires_at: datetime | None = None


class ApiKeyCreated(Struct, frozen=True):
    api_key: ApiKeyView
    key: str  # `crk_…`, shown once


class ApiKeysController(Controller):
    path = "/api/v1/orgs/{org_id:str}/api-keys"
    tags = ("organisations",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(operation_id="listApiKeys", summary="API keys of an organisation, newest first", responses=ORG_READ_PROBLEMS)
    async def list_keys(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        include_revoked: Annotated[bool, QueryParameter(description="also revoked and expired keys")] = False,
    ) -> ApiKeyList:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.MANAGE_API_KEYS)
        now = services.clock.now()
        return ApiKeyList(api_keys=api_keys_of(services.db, target, now, include_revoked=include_revoked))

    @post(
        operation_id="createApiKey",
        summary="Create an API key with a role and an optional expiry; the key is returned once",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def create(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        data: JSONBody[ApiKeyBody],
    ) -> ApiKeyCreated:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.MANAGE_API_KEYS)
        issued = await create_api_key(
            ports_of(services),
            target,
            principal.acting_as(),
            data.name,
            data.role,
            expires_at=data.expires_at,
            correlation_id=correlation(),
        )
        await settled(services, issued.change)
        view = api_key_of(services.db, target, issued.api_key_id, services.clock.now())
        if view is None:
            raise NotFound("API key not found")
        return ApiKeyCreated(api_key=view, key=issued.token)

    @delete(
        "/{key_id:str}",
        operation_id="revokeApiKey",
        summary="Revoke an API key (Admin and up); it fails from the next request on",
        responses=ORG_WRITE_PROBLEMS,
    )
    async def revoke(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        key_id: FromPath[str],
    ) -> None:
        target = parse_id(OrgId, org_id)
        api_key_id = parse_id(ApiKeyId, key_id)
        await org_access(services, principal, target, Permission.MANAGE_API_KEYS)
        change = await revoke_api_key(
            ports_of(services), target, principal.acting_as(), api_key_id, correlation_id=correlation()
        )
        await settled(services, change)
