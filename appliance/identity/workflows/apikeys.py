"""API-key workflows: create a key for an organisation (shown once), revoke it.

The key text comes from `auth.apikeys.issue_api_key` (`crk_…`); the domain receives only its
SHA-256 and public lookup prefix, and decides the rules (Admin and up, never the Owner role,
never above the creator's own role, a cap on usable keys). Revocation is an event; the API's
authentication reads the projected `api_keys` row on every request, so a revoked key fails on the
very next request once the projection has applied the event (the HTTP layer waits for that before
answering).

This module must never keep, log or return a key except the one `create_api_key` returns once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from appliance.identity.auth.apikeys import RandomBytes, issue_api_key
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.org_commands import CreateApiKey, RevokeApiKey
from appliance.identity.domain.principals import Generated, Principal
from appliance.identity.domain.rbac import Role
from appliance.identity.workflows.orgs import OrgChange, run_org_command
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.ids import OrgId


@dataclass(frozen=True)
class IssuedKey:
    change: OrgChange
    api_key_id: ApiKeyId
    token: str  # `crk_…`, shown to its creator once; never stored


async def create_api_key(
    ports: IdentityPorts,
    org_id: OrgId,
    principal: Principal,
    name: str,
    role: Role,
    *,
    expires_at: datetime | None = None,
    correlation_id: str | None = None,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> IssuedKey:
    issued = issue_api_key(random_bytes=random_bytes)
    api_key_id = ports.ids.new(ApiKeyId)
    command = CreateApiKey(org_id=org_id, name=name, role=role, expires_at=expires_at)
    generated = Generated(api_key_id=api_key_id, secret_hash=issued.key_hash, secret_prefix=issued.prefix)
    change = await run_org_command(
        ports, org_id, command, principal, generated=generated, correlation_id=correlation_id
    )
    return IssuedKey(change=change, api_key_id=api_key_id, token=issued.token)


async def revoke_api_key(
    ports: IdentityPorts,
    org_id: OrgId,
    principal: Principal,
    api_key_id: ApiKeyId,
    *,
    correlation_id: str | None = None,
) -> OrgChange:
    command = RevokeApiKey(org_id=org_id, api_key_id=api_key_id)
    return await run_org_command(ports, org_id, command, principal, correlation_id=correlation_id)
