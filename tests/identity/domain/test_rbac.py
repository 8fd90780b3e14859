"""Tests of the roles and the permission table."""

from __future__ import annotations

import itertools

import pytest

from appliance.identity.domain.rbac import (
    GRANTS,
    MINIMUM_ROLE,
    Permission,
    Role,
    has_permission,
    may_assign,
    may_manage,
    outranks,
    parse_role,
    require,
    require_assign,
    require_manage,
)
from appliance.kernel.errors import Forbidden, InvalidInput

# craton-core §7.4, copied row by row: (permission, Owner, Admin, Member, Viewer).
PLATFORM_TABLE = [
    (Permission.VIEW_DATA, True, True, True, True),
    (Permission.QUERY_DATA, True, True, True, True),
    (Permission.CREATE_STREAMS, True, True, True, False),
    (Permission.APPEND_EVENTS, True, True, True, False),
    (Permission.DELETE_STREAMS, True, True, False, False),
    (Permission.MANAGE_USERS, True, True, False, False),
    (Permission.MANAGE_ROLES, True, False, False, False),
    (Permission.MANAGE_BILLING, True, False, False, False),
    (Permission.DELETE_ORG, True, False, False, False),
]
ROLES_IN_TABLE_ORDER = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER]


@pytest.mark.parametrize("row", PLATFORM_TABLE, ids=lambda row: row[0].value)
def test_platform_rows_match_the_reference_table(row: tuple[Permission, bool, bool, bool, bool]) -> None:
    """Each §7.4 row of craton-core holds exactly as written, for every role."""
    permission, *expected = row
    assert [has_permission(role, permission) for role in ROLES_IN_TABLE_ORDER] == expected


def test_identity_permissions_follow_the_issue() -> None:
    """Reading is for everyone; managing people, invites, keys and the audit is Admin and up."""
    for permission in (Permission.READ_ORG, Permission.LIST_MEMBERS, Permission.LEAVE_ORG):
        assert MINIMUM_ROLE[permission] is Role.VIEWER
    for permission in (
        Permission.RENAME_ORG,
        Permission.INVITE_MEMBERS,
        Permission.MANAGE_INVITES,
        Permission.CHANGE_ROLES,
        Permission.REMOVE_MEMBERS,
        Permission.MANAGE_API_KEYS,
        Permission.READ_AUDIT,
    ):
        assert MINIMUM_ROLE[permission] is Role.ADMIN


def test_roles_are_strictly_nested() -> None:
    """Owner ⊃ Admin ⊃ Member ⊃ Viewer: each role holds everything the one below holds, and more."""
    for higher, lower in itertools.pairwise(ROLES_IN_TABLE_ORDER):
        assert GRANTS[lower] < GRANTS[higher]
        assert outranks(higher, lower)
        assert not outranks(lower, higher)
    assert GRANTS[Role.OWNER] == frozenset(Permission)


def test_require_raises_forbidden_naming_the_role_and_permission() -> None:
    """`require` is silent when the role holds the permission and raises `Forbidden` otherwise."""
    require(Role.OWNER, Permission.DELETE_ORG)
    with pytest.raises(Forbidden, match="admin role may not delete org"):
        require(Role.ADMIN, Permission.DELETE_ORG)


def test_only_owners_hand_out_or_act_on_the_owner_role() -> None:
    """Admins assign and manage Admin, Member and Viewer, never Owner; nobody assigns above their rank."""
    assert may_assign(Role.OWNER, Role.OWNER)
    assert not may_assign(Role.ADMIN, Role.OWNER)
    assert may_assign(Role.ADMIN, Role.ADMIN)
    assert may_assign(Role.ADMIN, Role.VIEWER)
    assert not may_assign(Role.MEMBER, Role.ADMIN)
    assert may_manage(Role.OWNER, Role.OWNER)
    assert not may_manage(Role.ADMIN, Role.OWNER)
    assert may_manage(Role.ADMIN, Role.ADMIN)
    with pytest.raises(Forbidden):
        require_assign(Role.ADMIN, Role.OWNER)
    with pytest.raises(Forbidden):
        require_manage(Role.ADMIN, Role.OWNER)


@pytest.mark.parametrize("text", ["OWNER", "superuser", "", None, 3, "owner "])
def test_parse_role_refuses_anything_outside_the_set(text: object) -> None:
    """Only the four role names parse; everything else is `InvalidInput` on the `role` field."""
    with pytest.raises(InvalidInput) as caught:
        parse_role(text)
    assert caught.value.field == "role"


def test_parse_role_accepts_the_four_names() -> None:
    """Each role's own name parses back to it."""
    assert [parse_role(role.value) for role in Role] == list(Role)
