"""The bounded contexts that make up the appliance: their projections and HTTP routes.

This is the one list to extend when a context is added.
"""

from __future__ import annotations

from typing import Any

from appliance.identity.http.audit import InstanceAuditController, OrgAuditController
from appliance.identity.http.auth import AuthController
from appliance.identity.http.auth_oauth import OAuthController
from appliance.identity.http.auth_passkeys import PasskeysController
from appliance.identity.http.orgs import OrgsController
from appliance.identity.http.orgs_apikeys import ApiKeysController
from appliance.identity.http.orgs_invites import InvitesController
from appliance.identity.http.orgs_members import MembersController
from appliance.identity.http.password_reset import PasswordResetController
from appliance.identity.http.users import AdminUsersController, UsersController
from appliance.identity.projections.audit import AuditProjection
from appliance.identity.projections.orgs import OrgsProjection
from appliance.identity.projections.users import UsersProjection
from appliance.instance.http import InstanceController
from appliance.instance.projection import InstanceProjection
from appliance.readmodel.projector import Projection


def projections() -> list[Projection]:
    return [InstanceProjection(), UsersProjection(), OrgsProjection(), AuditProjection()]


def route_handlers() -> list[Any]:
    return [
        InstanceController,
        AuthController,
        PasskeysController,
        OAuthController,
        PasswordResetController,
        UsersController,
        AdminUsersController,
        OrgsController,
        MembersController,
        InvitesController,
        ApiKeysController,
        OrgAuditController,
        InstanceAuditController,
    ]
