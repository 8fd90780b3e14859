"""Commands of the user aggregate (each names the user it targets) and their limits.

Users are never created by a command of their own: `signup.plan_signup` produces the
`UserRegistered` event, because who may sign up depends on the instance (signup mode, setup token), the e-mail
reservation and an invite, not on the user alone.

Secrets never appear here in plaintext: a new password arrives as its argon2id hash, a reset
token as the hash of the token the user presented, and a freshly issued reset token's hash
arrives in `DecisionContext.generated.secret_hash`.
"""

from __future__ import annotations

from appliance.identity.domain.ids import PasskeyId
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

PASSKEYS_PER_USER_MAX = 20
IDENTITIES_PER_USER_MAX = 10
TRANSPORTS_MAX = 8
TRANSPORT_CHARS_MAX = 32
AAGUID_CHARS_MAX = 64
RESET_TTL_S_MIN = 5 * 60
RESET_TTL_S_DEFAULT = 24 * 60 * 60
RESET_TTL_S_MAX = 7 * 24 * 60 * 60


class ChangeDisplayName(Struct, frozen=True):
    user_id: UserId
    display_name: str


class ChangePassword(Struct, frozen=True):
    """The user's own change; the workflow has checked the current password before hashing the new one."""

    user_id: UserId
    password_hash: str


class IssuePasswordReset(Struct, frozen=True):
    """An instance admin or operator issues a one-time token; needs `generated.secret_hash`."""

    user_id: UserId
    ttl_s: int = RESET_TTL_S_DEFAULT


class ResetPassword(Struct, frozen=True):
    """Redeem a reset token (by anyone holding it) for a new password."""

    user_id: UserId
    token_hash: str
    password_hash: str


class DisableUser(Struct, frozen=True):
    user_id: UserId


class EnableUser(Struct, frozen=True):
    user_id: UserId


class GrantInstanceAdmin(Struct, frozen=True):
    user_id: UserId


class RevokeInstanceAdmin(Struct, frozen=True):
    user_id: UserId


class RegisterPasskey(Struct, frozen=True):
    """A verified WebAuthn registration; needs `generated.passkey_id`.

    The workflow reserves `reservation.passkey_value(credential_id)` for the user first, so that
    one credential can never belong to two accounts.
    """

    user_id: UserId
    credential_id: bytes
    public_key: bytes
    sign_count: int
    name: str
    transports: tuple[str, ...] = ()
    aaguid: str | None = None


class RecordPasskeyUse(Struct, frozen=True):
    """A verified WebAuthn assertion: stores the new signature counter."""

    user_id: UserId
    passkey_id: PasskeyId
    sign_count: int


class RemovePasskey(Struct, frozen=True):
    user_id: UserId
    passkey_id: PasskeyId


class LinkExternalIdentity(Struct, frozen=True):
    """The signed-in user confirms linking an identity whose provider verified its e-mail."""

    user_id: UserId
    provider: str
    subject: str
    email: str | None
    email_verified: bool


class UnlinkExternalIdentity(Struct, frozen=True):
    user_id: UserId
    provider: str
    subject: str


UserCommand = (
    ChangeDisplayName
    | ChangePassword
    | IssuePasswordReset
    | ResetPassword
    | DisableUser
    | EnableUser
    | GrantInstanceAdmin
    | RevokeInstanceAdmin
    | RegisterPasskey
    | RecordPasskeyUse
    | RemovePasskey
    | LinkExternalIdentity
    | UnlinkExternalIdentity
)
