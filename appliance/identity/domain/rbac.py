"""Roles and the permission table: defined once, here, as data.

Roles are strictly nested, Owner ⊃ Admin ⊃ Member ⊃ Viewer, so the table records for each
permission the *least* role that holds it (`MINIMUM_ROLE`); every role above holds it too, which
makes the nesting true by construction rather than by care. The first nine rows are the platform
table of craton-core §7.4; the rest are what the identity routes need. The HTTP guards and the
domain's `decide` functions both ask `has_permission`/`require`, so there is one answer.

Two rules are about *which* role may be handed out rather than *what* a role may do, and live
here too so that guards and domain agree: `may_assign` (you never grant more than you hold; only
an Owner grants or takes away Owner — that is §7.4's "manage roles") and `may_manage` (you never
act on a member who outranks you; only an Owner acts on an Owner).

This module must never look at an organisation's state: the last-Owner rule and membership are
decided by the organisation aggregate (`org_decide`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from appliance.kernel.errors import Forbidden, InvalidInput, invariant


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    # craton-core §7.4, in its order.
    VIEW_DATA = "view_data"
    QUERY_DATA = "query_data"
    CREATE_STREAMS = "create_streams"
    APPEND_EVENTS = "append_events"
    DELETE_STREAMS = "delete_streams"
    MANAGE_USERS = "manage_users"
    MANAGE_ROLES = "manage_roles"
    MANAGE_BILLING = "manage_billing"
    DELETE_ORG = "delete_org"
    # What the identity routes need.
    READ_ORG = "read_org"
    LIST_MEMBERS = "list_members"
    LEAVE_ORG = "leave_org"
    RENAME_ORG = "rename_org"
    INVITE_MEMBERS = "invite_members"
    MANAGE_INVITES = "manage_invites"
    CHANGE_ROLES = "change_roles"
    REMOVE_MEMBERS = "remove_members"
    MANAGE_API_KEYS = "manage_api_keys"
    READ_AUDIT = "read_audit"


# Higher rank holds everything a lower rank holds.
RANK: Mapping[Role, int] = MappingProxyType({Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3})

MINIMUM_ROLE: Mapping[Permission, Role] = MappingProxyType(
    {
        Permission.VIEW_DATA: Role.VIEWER,
        Permission.QUERY_DATA: Role.VIEWER,
        Permission.CREATE_STREAMS: Role.MEMBER,
        Permission.APPEND_EVENTS: Role.MEMBER,
        Permission.DELETE_STREAMS: Role.ADMIN,
        Permission.MANAGE_USERS: Role.ADMIN,
        Permission.MANAGE_ROLES: Role.OWNER,
        Permission.MANAGE_BILLING: Role.OWNER,
        Permission.DELETE_ORG: Role.OWNER,
        Permission.READ_ORG: Role.VIEWER,
        Permission.LIST_MEMBERS: Role.VIEWER,
        Permission.LEAVE_ORG: Role.VIEWER,
        Permission.RENAME_ORG: Role.ADMIN,
        Permission.INVITE_MEMBERS: Role.ADMIN,
        Permission.MANAGE_INVITES: Role.ADMIN,
        Permission.CHANGE_ROLES: Role.ADMIN,
        Permission.REMOVE_MEMBERS: Role.ADMIN,
        Permission.MANAGE_API_KEYS: Role.ADMIN,
        Permission.READ_AUDIT: Role.ADMIN,
    }
)

invariant(set(MINIMUM_ROLE) == set(Permission), "every permission has a row in the table")
invariant(set(RANK) == set(Role), "every role has a rank")

GRANTS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {role: frozenset(p for p, least in MINIMUM_ROLE.items() if RANK[role] >= RANK[least]) for role in Role}
)


def parse_role(text: object) -> Role:
    """A role from untrusted input; anything outside the set is `InvalidInput`."""
    if isinstance(text, Role):
        return text
    if isinstance(text, str):
        try:
            return Role(text)
        except ValueError:
            pass
    allowed = ", ".join(role.value for role in Role)
    raise InvalidInput(f"role must be one of {allowed}", field="role")


def has_permission(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def require(role: Role, permission: Permission) -> None:
    """Raise `Forbidden` unless `role` holds `permission`."""
    if not has_permission(role, permission):
        raise Forbidden(f"the {role.value} role may not {permission.value.replace('_', ' ')}")


def outranks(role: Role, other: Role) -> bool:
    return RANK[role] > RANK[other]


def may_assign(actor: Role, role: Role) -> bool:
    """Whether `actor` may give someone `role` (by invite, role change or API key)."""
    if role is Role.OWNER:
        return has_permission(actor, Permission.MANAGE_ROLES)
    return RANK[role] <= RANK[actor]


def may_manage(actor: Role, target: Role) -> bool:
    """Whether `actor` may change or remove a member who holds `target`."""
    if target is Role.OWNER:
        return has_permission(actor, Permission.MANAGE_ROLES)
    return RANK[target] <= RANK[actor]


def require_assign(actor: Role, role: Role) -> None:
    if not may_assign(actor, role):
        raise Forbidden(f"the {actor.value} role may not grant the {role.value} role")


def require_manage(actor: Role, target: Role) -> None:
    if not may_manage(actor, target):
        raise Forbidden(f"the {actor.value} role may not act on a member who is {target.value}")
