"""Commands of the organisation aggregate and their limits.

Every command but `CreateOrg` names the organisation it targets. Values the shell generates
arrive in `DecisionContext.generated`: a new organisation's id (`org_id`); a new invite's id and
its token's hash (`invite_id`, `secret_hash`); a new API key's id, hash and public prefix
(`api_key_id`, `secret_hash`, `secret_prefix`). The plaintext invite token and API key are shown
to the caller once by the workflow and never reach the domain.
"""

from __future__ import annotations

from datetime import datetime

from appliance.identity.domain.ids import ApiKeyId, InviteId
from appliance.identity.domain.rbac import Role
from appliance.kernel.ids import OrgId, UserId
from appliance.kernel.structs import Struct

MEMBERS_PER_ORG_MAX = 1000
PENDING_INVITES_PER_ORG_MAX = 200
USABLE_API_KEYS_PER_ORG_MAX = 100
INVITE_TTL_S_MIN = 60 * 60
INVITE_TTL_S_DEFAULT = 7 * 24 * 60 * 60
INVITE_TTL_S_MAX = 30 * 24 * 60 * 60
API_KEY_LIFETIME_S_MAX = 5 * 366 * 24 * 60 * 60
API_KEY_PREFIX_CHARS_MAX = 32


class CreateOrg(Struct, frozen=True):
    """The signed-in user creates an organisation and becomes its Owner; needs `generated.org_id`."""

    name: str


class RenameOrg(Struct, frozen=True):
    org_id: OrgId
    name: str


class DeleteOrg(Struct, frozen=True):
    org_id: OrgId


class InviteMember(Struct, frozen=True):
    """Needs `generated.invite_id` and `generated.secret_hash` (the invite token's hash)."""

    org_id: OrgId
    email: str
    role: Role
    ttl_s: int = INVITE_TTL_S_DEFAULT


class RevokeInvite(Struct, frozen=True):
    org_id: OrgId
    invite_id: InviteId


class AcceptInvite(Struct, frozen=True):
    """The signed-in user presents an invite token (as its hash) sent to their e-mail address."""

    org_id: OrgId
    invite_id: InviteId
    token_hash: str


class ChangeMemberRole(Struct, frozen=True):
    org_id: OrgId
    user_id: UserId
    role: Role


class RemoveMember(Struct, frozen=True):
    org_id: OrgId
    user_id: UserId


class LeaveOrg(Struct, frozen=True):
    org_id: OrgId


class CreateApiKey(Struct, frozen=True):
    """Needs `generated.api_key_id`, `generated.secret_hash` and `generated.secret_prefix`."""

    org_id: OrgId
    name: str
    role: Role
    expires_at: datetime | None = None


class RevokeApiKey(Struct, frozen=True):
    org_id: OrgId
    api_key_id: ApiKeyId


OrgCommand = (
    CreateOrg
    | RenameOrg
    | DeleteOrg
    | InviteMember
    | RevokeInvite
    | AcceptInvite
    | ChangeMemberRole
    | RemoveMember
    | LeaveOrg
    | CreateApiKey
    | RevokeApiKey
)
