"""HTTP surface of the audit trail: `GET /api/v1/orgs/{org_id}/audit` (Admin and up) and
`GET /api/v1/audit` (instance administrators: the platform and every organisation).

Pages come newest first, `limit` entries at a time; `next_cursor` (opaque) fetches the next page
and is refused (400) on any other listing or when tampered with. `type` (repeatable) keeps only
the named event types. An organisation's trail holds its own events and its members' sign-ins,
session ends and account changes while they were members (`projections.audit_query`).

This module must never decide a rule or map an error to a status.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from appliance.api.auth import Principal, org_access, require_instance_admin
from appliance.api.services import Services
from appliance.identity.domain.rbac import Permission
from appliance.identity.http.orgs_common import ORG_READ_PROBLEMS, parse_id, problem_responses
from appliance.identity.projections.audit_query import (
    AUDIT_PAGE_ENTRIES_DEFAULT,
    AUDIT_PAGE_ENTRIES_MAX,
    CURSOR_CHARS_MAX,
    AuditPage,
    check_event_types,
    check_limit,
    instance_audit_page,
    org_audit_page,
)
from appliance.kernel.ids import OrgId

LimitParam = Annotated[
    int,
    QueryParameter(ge=1, le=AUDIT_PAGE_ENTRIES_MAX, description=f"entries per page, at most {AUDIT_PAGE_ENTRIES_MAX}"),
]
CursorParam = Annotated[
    str | None, QueryParameter(max_length=CURSOR_CHARS_MAX, description="`next_cursor` of the previous page")
]
TypeParam = Annotated[
    list[str] | None, QueryParameter(name="type", description="keep only these event types (repeatable)")
]


class OrgAuditController(Controller):
    path = "/api/v1/orgs/{org_id:str}/audit"
    tags = ("audit",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(
        operation_id="listOrgAudit",
        summary="An organisation's audit trail, newest first (Admin and up)",
        responses=ORG_READ_PROBLEMS,
    )
    async def list_org_audit(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        org_id: FromPath[str],
        event_types: TypeParam = None,
        cursor: CursorParam = None,
        limit: LimitParam = AUDIT_PAGE_ENTRIES_DEFAULT,
    ) -> AuditPage:
        target = parse_id(OrgId, org_id)
        await org_access(services, principal, target, Permission.READ_AUDIT)
        types = check_event_types(event_types or ())
        return org_audit_page(services.db, target, types=types, cursor=cursor, limit=check_limit(limit))


class InstanceAuditController(Controller):
    path = "/api/v1/audit"
    tags = ("audit",)
    security = [{"bearer": []}]  # noqa: RUF012 - Litestar reads a list here

    @get(
        operation_id="listAudit",
        summary="The whole instance's audit trail, newest first (instance administrators)",
        responses=problem_responses(400, 401, 403, 429),
        sync_to_thread=False,
    )
    def list_audit(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        event_types: TypeParam = None,
        cursor: CursorParam = None,
        limit: LimitParam = AUDIT_PAGE_ENTRIES_DEFAULT,
    ) -> AuditPage:
        require_instance_admin(principal)
        types = check_event_types(event_types or ())
        return instance_audit_page(services.db, types=types, cursor=cursor, limit=check_limit(limit))
