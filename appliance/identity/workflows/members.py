"""Member workflows: change a member's role, remove a member, leave an organisation.

Removing oneself is leaving (`LeaveOrg`, which every role may do), removing someone else is
`RemoveMember` (Admin and up, never above one's own rank); the last Owner can do neither, nor be
demoted — the domain decides all of it, this module only picks the command.

This module must never decide a rule itself, nor touch HTTP types.
"""

from __future__ import annotations

from appliance.identity.domain.org_commands import ChangeMemberRole, LeaveOrg, OrgCommand, RemoveMember
from appliance.identity.domain.principals import Principal, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.workflows.orgs import OrgChange, run_org_command
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.ids import OrgId, UserId


async def change_member_role(
    ports: IdentityPorts,
    org_id: OrgId,
    principal: Principal,
    user_id: UserId,
    role: Role,
    *,
    correlation_id: str | None = None,
) -> OrgChange:
    command = ChangeMemberRole(org_id=org_id, user_id=user_id, role=role)
    return await run_org_command(ports, org_id, command, principal, correlation_id=correlation_id)


def removal_command(org_id: OrgId, principal: Principal, user_id: UserId) -> OrgCommand:
    """Leaving when the member is the caller, removal otherwise."""
    if isinstance(principal, UserPrincipal) and principal.user_id == user_id:
        return LeaveOrg(org_id=org_id)
    return RemoveMember(org_id=org_id, user_id=user_id)


async def remove_member(
    ports: IdentityPorts, org_id: OrgId, principal: Principal, user_id: UserId, *, correlation_id: str | None = None
) -> OrgChange:
    command = removal_command(org_id, principal, user_id)
    return await run_org_command(ports, org_id, command, principal, correlation_id=correlation_id)
