"""`decide_org`: the rules of an organisation — membership, roles, invites and API keys.

The acting role is read from the state being decided on (`acting_role`), never trusted from the
caller: a user's role is their membership; an API key's role is the key's, while it is unrevoked
and unexpired; the operator acts as an Owner. Someone who is not a member — and any principal at
all once the organisation is deleted — is told the organisation was not found, never that it is
forbidden, so that other tenants' organisations cannot be discovered.

Rules (beyond the permission table in `rbac`):
  * the last Owner cannot leave, be removed or be demoted;
  * only Owners grant or take away the Owner role, act on Owners, or delete the organisation;
    Admins manage members, invites and API keys below that;
  * an invite is for one e-mail address, expires, is accepted once, only by a signed-in user with
    that address, and is refused for an address that is already a member or already invited;
  * API keys never hold the Owner role (an Owner's powers stay with people) and never more than
    the role of whoever creates them.

A command asking for what already holds (same name, same role, revoking a revoked key) decides no
events; accepting an invite again by the user who accepted it also decides none, so a retried
signup is harmless. This module must never see a plaintext token or key.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from appliance.identity.domain.org_commands import (
    API_KEY_LIFETIME_S_MAX,
    API_KEY_PREFIX_CHARS_MAX,
    INVITE_TTL_S_MAX,
    INVITE_TTL_S_MIN,
    MEMBERS_PER_ORG_MAX,
    PENDING_INVITES_PER_ORG_MAX,
    USABLE_API_KEYS_PER_ORG_MAX,
    AcceptInvite,
    ChangeMemberRole,
    CreateApiKey,
    CreateOrg,
    DeleteOrg,
    InviteMember,
    LeaveOrg,
    OrgCommand,
    RemoveMember,
    RenameOrg,
    RevokeApiKey,
    RevokeInvite,
)
from appliance.identity.domain.org_events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    InviteAccepted,
    InviteRevoked,
    MemberInvited,
    MemberLeft,
    MemberRemoved,
    MemberRoleChanged,
    OrgCreated,
    OrgDeleted,
    OrgEvent,
    OrgRenamed,
)
from appliance.identity.domain.org_state import (
    InviteStatus,
    Member,
    OrgState,
    invite_view,
    key_usable,
    member_by_email,
    owners,
    pending_invites,
    usable_keys,
)
from appliance.identity.domain.principals import (
    ApiKeyPrincipal,
    DecisionContext,
    Operator,
    Principal,
    UserPrincipal,
    actor_of,
    need,
    require_active,
)
from appliance.identity.domain.rbac import Permission, Role, parse_role, require, require_assign, require_manage
from appliance.identity.domain.validation import (
    check_aware,
    check_label,
    check_org_name,
    check_seconds,
    check_secret_hash,
    normalise_email,
)
from appliance.kernel.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    invariant,
)
from appliance.kernel.ids import UserId

_ORG_NOT_FOUND = "organisation not found"


def acting_role(state: OrgState, principal: Principal, now: datetime) -> Role:
    """The role `principal` holds in the (live) organisation, or `NotFound` if it holds none."""
    require_active(principal)
    match principal:
        case UserPrincipal(user_id=user_id):
            member = state.members.get(user_id)
            if member is None:
                raise NotFound(_ORG_NOT_FOUND)
            return member.role
        case ApiKeyPrincipal(org_id=org_id, api_key_id=api_key_id):
            if org_id != state.org_id:
                raise NotFound(_ORG_NOT_FOUND)
            key = state.api_keys.get(api_key_id)
            if key is None or not key_usable(key, now):
                raise Unauthenticated("this API key is revoked or expired")
            return key.role
        case Operator():
            return Role.OWNER
    raise NotFound(_ORG_NOT_FOUND)


def decide_org(state: OrgState | None, command: OrgCommand, ctx: DecisionContext) -> list[OrgEvent]:  # noqa: PLR0911
    if isinstance(command, CreateOrg):
        return _create(state, command, ctx)
    if state is None or state.deleted:
        raise NotFound(_ORG_NOT_FOUND)
    invariant(state.org_id == command.org_id, "the workflow loaded the commanded organisation")
    if isinstance(command, AcceptInvite):
        return _accept(state, command, ctx)
    role = acting_role(state, ctx.principal, ctx.now)
    match command:
        case RenameOrg():
            return _rename(state, command, role, ctx)
        case DeleteOrg():
            require(role, Permission.DELETE_ORG)
            return [OrgDeleted(org_id=state.org_id, name=state.name, at=ctx.now, by=actor_of(ctx.principal))]
        case InviteMember():
            return _invite(state, command, role, ctx)
        case RevokeInvite():
            return _revoke_invite(state, command, role, ctx)
        case ChangeMemberRole():
            return _change_role(state, command, role, ctx)
        case RemoveMember():
            return _remove(state, command, role, ctx)
        case LeaveOrg():
            return _leave(state, role, ctx)
        case CreateApiKey():
            return _create_key(state, command, role, ctx)
        case RevokeApiKey():
            return _revoke_key(state, command, role, ctx)


def _create(state: OrgState | None, command: CreateOrg, ctx: DecisionContext) -> list[OrgEvent]:
    require_active(ctx.principal)
    if not isinstance(ctx.principal, UserPrincipal):
        raise Forbidden("only a signed-in user can create an organisation (they become its owner)")
    name = check_org_name(command.name)
    if state is not None:
        raise AlreadyExists("this organisation already exists")
    return [
        OrgCreated(
            org_id=need(ctx.generated.org_id, "org_id"),
            name=name,
            owner_id=ctx.principal.user_id,
            owner_email=normalise_email(ctx.principal.email),
            at=ctx.now,
            by=actor_of(ctx.principal),
        )
    ]


def _rename(state: OrgState, command: RenameOrg, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.RENAME_ORG)
    name = check_org_name(command.name)
    if name == state.name:
        return []
    return [OrgRenamed(org_id=state.org_id, name=name, previous=state.name, at=ctx.now, by=actor_of(ctx.principal))]


def _invite(state: OrgState, command: InviteMember, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.INVITE_MEMBERS)
    invited_role = parse_role(command.role)
    require_assign(role, invited_role)
    email = normalise_email(command.email)
    ttl_s = check_seconds(command.ttl_s, field="ttl_s", seconds_min=INVITE_TTL_S_MIN, seconds_max=INVITE_TTL_S_MAX)
    if member_by_email(state, email) is not None:
        raise AlreadyExists("someone with this e-mail address is already a member")
    pending = pending_invites(state, ctx.now)
    if any(invite.email == email for invite in pending):
        raise AlreadyExists("a pending invite for this e-mail address exists; revoke it first")
    if len(pending) >= PENDING_INVITES_PER_ORG_MAX:
        raise PreconditionFailed(f"at most {PENDING_INVITES_PER_ORG_MAX} invites may be pending")
    invite_id = need(ctx.generated.invite_id, "invite_id")
    invariant(invite_id not in state.invites, "generated invite ids are fresh")
    event = MemberInvited(
        org_id=state.org_id,
        invite_id=invite_id,
        email=email,
        role=invited_role,
        token_hash=check_secret_hash(need(ctx.generated.secret_hash, "secret_hash"), field="token_hash"),
        expires_at=ctx.now + timedelta(seconds=ttl_s),
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    return [event]


def _revoke_invite(state: OrgState, command: RevokeInvite, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.MANAGE_INVITES)
    invite = state.invites.get(command.invite_id)
    if invite is None:
        raise NotFound("invite not found")
    require_manage(role, invite.role)
    if invite.status is InviteStatus.ACCEPTED:
        raise PreconditionFailed("this invite has already been accepted; remove the member instead")
    if invite.status is InviteStatus.REVOKED:
        return []
    by = actor_of(ctx.principal)
    return [InviteRevoked(org_id=state.org_id, invite_id=invite.invite_id, email=invite.email, at=ctx.now, by=by)]


def _accept(state: OrgState, command: AcceptInvite, ctx: DecisionContext) -> list[OrgEvent]:
    principal = ctx.principal
    require_active(principal)
    if not isinstance(principal, UserPrincipal):
        raise Forbidden("sign in (or sign up) to accept an invite")
    presented = check_secret_hash(command.token_hash, field="token_hash")
    invite = state.invites.get(command.invite_id)
    # A wrong token looks exactly like a missing invite: the reply must not confirm that it exists.
    if invite is None or not hmac.compare_digest(presented.encode("ascii"), invite.token_hash.encode("ascii")):
        raise NotFound("invite not found")
    status = invite_view(invite, ctx.now)
    if (
        status is InviteStatus.ACCEPTED
        and invite.accepted_by == principal.user_id
        and principal.user_id in state.members
    ):
        return []  # the same acceptance again (a retried signup): already done
    if status is not InviteStatus.PENDING:
        raise PreconditionFailed(f"this invite can no longer be used: it is {status.value}")
    if normalise_email(principal.email) != invite.email:
        raise Forbidden("this invite was sent to another e-mail address")
    if principal.user_id in state.members:
        raise AlreadyExists("you are already a member of this organisation")
    if len(state.members) >= MEMBERS_PER_ORG_MAX:
        raise PreconditionFailed(f"an organisation has at most {MEMBERS_PER_ORG_MAX} members")
    event = InviteAccepted(
        org_id=state.org_id,
        invite_id=invite.invite_id,
        user_id=principal.user_id,
        email=invite.email,
        role=invite.role,
        at=ctx.now,
        by=actor_of(principal),
    )
    return [event]


def _target(state: OrgState, user_id: UserId) -> Member:
    member = state.members.get(user_id)
    if member is None:
        raise NotFound("member not found")
    return member


def _is_last_owner(state: OrgState, member: Member) -> bool:
    return member.role is Role.OWNER and len(owners(state)) == 1


def _change_role(state: OrgState, command: ChangeMemberRole, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.CHANGE_ROLES)
    new_role = parse_role(command.role)
    target = _target(state, command.user_id)
    require_manage(role, target.role)
    require_assign(role, new_role)
    if new_role is target.role:
        return []
    if _is_last_owner(state, target):
        raise PreconditionFailed("the last owner cannot be demoted; make someone else an owner first")
    return [
        MemberRoleChanged(
            org_id=state.org_id,
            user_id=target.user_id,
            email=target.email,
            role=new_role,
            previous=target.role,
            at=ctx.now,
            by=actor_of(ctx.principal),
        )
    ]


def _remove(state: OrgState, command: RemoveMember, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.REMOVE_MEMBERS)
    target = _target(state, command.user_id)
    require_manage(role, target.role)
    if _is_last_owner(state, target):
        raise PreconditionFailed("the last owner cannot be removed; make someone else an owner first")
    by = actor_of(ctx.principal)
    return [
        MemberRemoved(
            org_id=state.org_id, user_id=target.user_id, email=target.email, role=target.role, at=ctx.now, by=by
        )
    ]


def _leave(state: OrgState, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.LEAVE_ORG)
    if not isinstance(ctx.principal, UserPrincipal):
        raise Forbidden("only a member can leave an organisation")
    member = _target(state, ctx.principal.user_id)
    if _is_last_owner(state, member):
        raise PreconditionFailed("the last owner cannot leave; make someone else an owner or delete the organisation")
    by = actor_of(ctx.principal)
    return [
        MemberLeft(org_id=state.org_id, user_id=member.user_id, email=member.email, role=member.role, at=ctx.now, by=by)
    ]


def _check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    moment = check_aware(expires_at, field="expires_at")
    if moment <= now or moment > now + timedelta(seconds=API_KEY_LIFETIME_S_MAX):
        raise InvalidInput("expires_at must be in the future and at most five years away", field="expires_at")
    return moment


def _check_prefix(prefix: str) -> str:
    if not 0 < len(prefix) <= API_KEY_PREFIX_CHARS_MAX or not all(0x21 <= ord(c) <= 0x7E for c in prefix):
        raise InvalidInput(f"an API key prefix is 1-{API_KEY_PREFIX_CHARS_MAX} printable characters", field="prefix")
    return prefix


def _create_key(state: OrgState, command: CreateApiKey, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.MANAGE_API_KEYS)
    key_role = parse_role(command.role)
    if key_role is Role.OWNER:
        raise InvalidInput("API keys cannot hold the owner role", field="role")
    require_assign(role, key_role)
    name = check_label(command.name, field="name")
    expires_at = _check_expiry(command.expires_at, ctx.now)
    if len(usable_keys(state, ctx.now)) >= USABLE_API_KEYS_PER_ORG_MAX:
        raise PreconditionFailed(f"an organisation has at most {USABLE_API_KEYS_PER_ORG_MAX} usable API keys")
    api_key_id = need(ctx.generated.api_key_id, "api_key_id")
    invariant(api_key_id not in state.api_keys, "generated API key ids are fresh")
    event = ApiKeyCreated(
        org_id=state.org_id,
        api_key_id=api_key_id,
        name=name,
        role=key_role,
        key_hash=check_secret_hash(need(ctx.generated.secret_hash, "secret_hash"), field="key_hash"),
        prefix=_check_prefix(need(ctx.generated.secret_prefix, "secret_prefix")),
        expires_at=expires_at,
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    return [event]


def _revoke_key(state: OrgState, command: RevokeApiKey, role: Role, ctx: DecisionContext) -> list[OrgEvent]:
    require(role, Permission.MANAGE_API_KEYS)
    key = state.api_keys.get(command.api_key_id)
    if key is None:
        raise NotFound("API key not found")
    require_manage(role, key.role)
    if key.revoked_at is not None:
        return []
    by = actor_of(ctx.principal)
    return [ApiKeyRevoked(org_id=state.org_id, api_key_id=key.api_key_id, name=key.name, at=ctx.now, by=by)]
