"""`decide_user`: the rules of the user aggregate.

Who may do what to an account:
  * the user themself (signed in and not disabled): display name, password, passkeys, linking and
    unlinking external identities;
  * an instance administrator (or the operator, see `principals`): disable and enable accounts,
    grant and revoke instance administration, issue password-reset tokens, remove a passkey or
    unlink an identity for a user who lost it — but never choose a user's password;
  * anyone presenting a valid, unexpired reset token: set a new password, once.

Rules that hold across commands: a disabled user cannot act; nobody disables or demotes their own
account (another administrator, or the operator, must); an account always keeps at least one way
to sign in; a passkey's signature counter only moves forward (a counter that stands still or goes
back, when it is in use at all, means a cloned authenticator); an external identity is linked only
when its provider verified the e-mail *and* the signed-in user asked for it.

A command that asks for the state the user is already in (enable an enabled user) decides no
events. This module must never hash or compare passwords: hashes arrive ready-made.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from appliance.identity.domain.principals import (
    DecisionContext,
    UserPrincipal,
    actor_of,
    is_instance_admin,
    need,
    require_active,
    require_instance_admin,
)
from appliance.identity.domain.reservation import external_value
from appliance.identity.domain.user_commands import (
    AAGUID_CHARS_MAX,
    IDENTITIES_PER_USER_MAX,
    PASSKEYS_PER_USER_MAX,
    RESET_TTL_S_MAX,
    RESET_TTL_S_MIN,
    TRANSPORT_CHARS_MAX,
    TRANSPORTS_MAX,
    ChangeDisplayName,
    ChangePassword,
    DisableUser,
    EnableUser,
    GrantInstanceAdmin,
    IssuePasswordReset,
    LinkExternalIdentity,
    RecordPasskeyUse,
    RegisterPasskey,
    RemovePasskey,
    ResetPassword,
    RevokeInstanceAdmin,
    UnlinkExternalIdentity,
    UserCommand,
)
from appliance.identity.domain.user_events import (
    DisplayNameChanged,
    ExternalIdentityLinked,
    ExternalIdentityUnlinked,
    InstanceAdminGranted,
    InstanceAdminRevoked,
    PasskeyRegistered,
    PasskeyRemoved,
    PasskeyUsed,
    PasswordChanged,
    PasswordChangeVia,
    PasswordResetIssued,
    UserDisabled,
    UserEnabled,
    UserEvent,
)
from appliance.identity.domain.user_state import (
    UserState,
    UserStatus,
    credential_count,
    identity_key,
    passkey_by_credential,
)
from appliance.identity.domain.validation import (
    CREDENTIAL_ID_BYTES_MAX,
    PUBLIC_KEY_BYTES_MAX,
    check_bytes,
    check_display_name,
    check_label,
    check_password_hash,
    check_seconds,
    check_secret_hash,
    check_sign_count,
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


def decide_user(state: UserState | None, command: UserCommand, ctx: DecisionContext) -> list[UserEvent]:  # noqa: PLR0911
    if state is None:
        raise NotFound("user not found")
    invariant(state.user_id == command.user_id, "the workflow loaded the commanded user")
    match command:
        case ChangeDisplayName():
            return _change_display_name(state, command, ctx)
        case ChangePassword():
            return _change_password(state, command, ctx)
        case IssuePasswordReset():
            return _issue_reset(state, command, ctx)
        case ResetPassword():
            return _reset_password(state, command, ctx)
        case DisableUser() | EnableUser():
            return _set_status(state, command, ctx)
        case GrantInstanceAdmin() | RevokeInstanceAdmin():
            return _set_instance_admin(state, command, ctx)
        case RegisterPasskey():
            return _register_passkey(state, command, ctx)
        case RecordPasskeyUse():
            return _record_passkey_use(state, command, ctx)
        case RemovePasskey():
            return _remove_passkey(state, command, ctx)
        case LinkExternalIdentity():
            return _link(state, command, ctx)
        case UnlinkExternalIdentity():
            return _unlink(state, command, ctx)


def _is_self(state: UserState, ctx: DecisionContext) -> bool:
    return isinstance(ctx.principal, UserPrincipal) and ctx.principal.user_id == state.user_id


def _require_self(state: UserState, ctx: DecisionContext) -> None:
    require_active(ctx.principal)
    if not _is_self(state, ctx):
        raise Forbidden("only the account's own user may do this")


def _require_self_or_admin(state: UserState, ctx: DecisionContext) -> None:
    require_active(ctx.principal)
    if not (_is_self(state, ctx) or is_instance_admin(ctx.principal)):
        raise Forbidden("only the account's own user or an instance administrator may do this")


def _change_display_name(state: UserState, command: ChangeDisplayName, ctx: DecisionContext) -> list[UserEvent]:
    _require_self_or_admin(state, ctx)
    name = check_display_name(command.display_name)
    if name == state.display_name:
        return []
    by = actor_of(ctx.principal)
    return [
        DisplayNameChanged(user_id=state.user_id, display_name=name, previous=state.display_name, at=ctx.now, by=by)
    ]


def _change_password(state: UserState, command: ChangePassword, ctx: DecisionContext) -> list[UserEvent]:
    _require_self(state, ctx)
    password_hash = check_password_hash(command.password_hash)
    by = actor_of(ctx.principal)
    return [
        PasswordChanged(
            user_id=state.user_id, password_hash=password_hash, via=PasswordChangeVia.SELF, at=ctx.now, by=by
        )
    ]


def _issue_reset(state: UserState, command: IssuePasswordReset, ctx: DecisionContext) -> list[UserEvent]:
    require_instance_admin(ctx.principal)
    ttl_s = check_seconds(command.ttl_s, field="ttl_s", seconds_min=RESET_TTL_S_MIN, seconds_max=RESET_TTL_S_MAX)
    token_hash = check_secret_hash(need(ctx.generated.secret_hash, "secret_hash"), field="token_hash")
    expires_at = ctx.now + timedelta(seconds=ttl_s)
    by = actor_of(ctx.principal)
    return [PasswordResetIssued(user_id=state.user_id, token_hash=token_hash, expires_at=expires_at, at=ctx.now, by=by)]


def _reset_password(state: UserState, command: ResetPassword, ctx: DecisionContext) -> list[UserEvent]:
    presented = check_secret_hash(command.token_hash, field="token_hash")
    reset = state.reset
    # One message for every failure, so the reply does not say which part was wrong.
    if reset is None or ctx.now >= reset.expires_at or not _same(presented, reset.token_hash):
        raise Unauthenticated("the password-reset token is invalid or has expired")
    if not state.active:
        raise Forbidden("this account is disabled")
    password_hash = check_password_hash(command.password_hash)
    by = actor_of(ctx.principal)
    return [
        PasswordChanged(
            user_id=state.user_id,
            password_hash=password_hash,
            via=PasswordChangeVia.RESET_TOKEN,
            at=ctx.now,
            by=by,
        )
    ]


def _same(presented: str, stored: str) -> bool:
    return hmac.compare_digest(presented.encode("ascii"), stored.encode("ascii"))


def _set_status(state: UserState, command: DisableUser | EnableUser, ctx: DecisionContext) -> list[UserEvent]:
    require_instance_admin(ctx.principal)
    disable = isinstance(command, DisableUser)
    if disable and _is_self(state, ctx):
        raise PreconditionFailed("you cannot disable your own account; ask another administrator")
    wanted = UserStatus.DISABLED if disable else UserStatus.ACTIVE
    if state.status is wanted:
        return []
    by = actor_of(ctx.principal)
    if disable:
        return [UserDisabled(user_id=state.user_id, at=ctx.now, by=by)]
    return [UserEnabled(user_id=state.user_id, at=ctx.now, by=by)]


def _set_instance_admin(
    state: UserState, command: GrantInstanceAdmin | RevokeInstanceAdmin, ctx: DecisionContext
) -> list[UserEvent]:
    require_instance_admin(ctx.principal)
    grant = isinstance(command, GrantInstanceAdmin)
    if not grant and _is_self(state, ctx):
        raise PreconditionFailed("you cannot revoke your own administration; ask another administrator")
    if state.instance_admin is grant:
        return []
    by = actor_of(ctx.principal)
    if grant:
        return [InstanceAdminGranted(user_id=state.user_id, at=ctx.now, by=by)]
    return [InstanceAdminRevoked(user_id=state.user_id, at=ctx.now, by=by)]


def _check_transports(transports: object) -> tuple[str, ...]:
    if not isinstance(transports, tuple) or len(transports) > TRANSPORTS_MAX:
        raise InvalidInput(f"transports must be a list of at most {TRANSPORTS_MAX} names", field="transports")
    for transport in transports:
        if not isinstance(transport, str) or not 0 < len(transport) <= TRANSPORT_CHARS_MAX or not transport.isascii():
            raise InvalidInput(f"each transport must be 1-{TRANSPORT_CHARS_MAX} ASCII characters", field="transports")
    return transports


def _check_aaguid(aaguid: object) -> str | None:
    if aaguid is None:
        return None
    if not isinstance(aaguid, str) or not 0 < len(aaguid) <= AAGUID_CHARS_MAX or not aaguid.isascii():
        raise InvalidInput(f"aaguid must be 1-{AAGUID_CHARS_MAX} ASCII characters", field="aaguid")
    return aaguid


def _register_passkey(state: UserState, command: RegisterPasskey, ctx: DecisionContext) -> list[UserEvent]:
    _require_self(state, ctx)
    credential_id = check_bytes(command.credential_id, field="credential_id", bytes_max=CREDENTIAL_ID_BYTES_MAX)
    public_key = check_bytes(command.public_key, field="public_key", bytes_max=PUBLIC_KEY_BYTES_MAX)
    event = PasskeyRegistered(
        user_id=state.user_id,
        passkey_id=need(ctx.generated.passkey_id, "passkey_id"),
        credential_id=credential_id,
        public_key=public_key,
        sign_count=check_sign_count(command.sign_count),
        name=check_label(command.name, field="name"),
        transports=_check_transports(command.transports),
        aaguid=_check_aaguid(command.aaguid),
        at=ctx.now,
        by=actor_of(ctx.principal),
    )
    if passkey_by_credential(state, credential_id) is not None:
        raise AlreadyExists("this passkey is already registered to this account")
    if len(state.passkeys) >= PASSKEYS_PER_USER_MAX:
        raise PreconditionFailed(f"an account holds at most {PASSKEYS_PER_USER_MAX} passkeys; remove one first")
    invariant(event.passkey_id not in state.passkeys, "generated passkey ids are fresh")
    return [event]


def _record_passkey_use(state: UserState, command: RecordPasskeyUse, ctx: DecisionContext) -> list[UserEvent]:
    _require_self(state, ctx)
    passkey = state.passkeys.get(command.passkey_id)
    if passkey is None:
        raise NotFound("passkey not found")
    sign_count = check_sign_count(command.sign_count)
    # Authenticators that do not count report 0 every time; any that do count must move forward.
    if (sign_count != 0 or passkey.sign_count != 0) and sign_count <= passkey.sign_count:
        raise Unauthenticated("the passkey's signature counter went backwards: it may have been cloned")
    by = actor_of(ctx.principal)
    return [PasskeyUsed(user_id=state.user_id, passkey_id=passkey.passkey_id, sign_count=sign_count, at=ctx.now, by=by)]


def _require_another_credential(state: UserState) -> None:
    if credential_count(state) <= 1:
        raise PreconditionFailed("this is the account's last way to sign in; add another first")


def _remove_passkey(state: UserState, command: RemovePasskey, ctx: DecisionContext) -> list[UserEvent]:
    _require_self_or_admin(state, ctx)
    passkey = state.passkeys.get(command.passkey_id)
    if passkey is None:
        raise NotFound("passkey not found")
    _require_another_credential(state)
    by = actor_of(ctx.principal)
    return [PasskeyRemoved(user_id=state.user_id, passkey_id=passkey.passkey_id, name=passkey.name, at=ctx.now, by=by)]


def _link(state: UserState, command: LinkExternalIdentity, ctx: DecisionContext) -> list[UserEvent]:
    _require_self(state, ctx)
    key = external_value(command.provider, command.subject)
    email = None if command.email is None else normalise_email(command.email)
    if not command.email_verified or email is None:
        raise PreconditionFailed("the provider has not verified this identity's e-mail address; it cannot be linked")
    if key in state.identities:
        return []
    if len(state.identities) >= IDENTITIES_PER_USER_MAX:
        raise PreconditionFailed(f"an account links at most {IDENTITIES_PER_USER_MAX} external identities")
    by = actor_of(ctx.principal)
    return [
        ExternalIdentityLinked(
            user_id=state.user_id,
            provider=command.provider,
            subject=command.subject,
            email=email,
            at=ctx.now,
            by=by,
        )
    ]


def _unlink(state: UserState, command: UnlinkExternalIdentity, ctx: DecisionContext) -> list[UserEvent]:
    _require_self_or_admin(state, ctx)
    key = identity_key(command.provider, command.subject)
    if key not in state.identities:
        raise NotFound("this external identity is not linked to the account")
    _require_another_credential(state)
    by = actor_of(ctx.principal)
    return [
        ExternalIdentityUnlinked(
            user_id=state.user_id, provider=command.provider, subject=command.subject, at=ctx.now, by=by
        )
    ]
