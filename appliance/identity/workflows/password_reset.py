"""Password reset: an operator or instance administrator issues a one-time token; the user redeems it.

The token (`craton admin reset-password`; an administrator never chooses the password) is `crp_`
followed by unpadded base64url of user id (16 bytes) ‖ secret (32 random bytes): 68 characters.
It names its own user, so redeeming needs no lookup table; only its hex SHA-256 is stored (in the
`PasswordResetIssued` event), a newer token replaces an older one, and the domain checks the
presented token's hash, its expiry and the account's status (`decide_user`, `ResetPassword`).

Redeeming (`POST /api/v1/auth/password-reset {token, new_password}`), in this order:
  1. the token's shape (400 when it cannot be one of ours; nothing spent);
  2. rate limits per client IP and per account, BEFORE any hashing (429);
  3. the password policy on the new password (`auth.passwords.check_password_policy`, 400);
  4. the new password hashed off the event loop (`PasswordHashing`), then the domain decides
     (`Unauthenticated` for a wrong, spent or expired token — one message for all three);
  5. every session of the user ends (`session_sweep`: a reset is not made from a session).

This module must never log, keep or return a token except the one `issue_password_reset` returns
once, and never hash before the limits are taken.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from appliance.identity.auth.passwords import check_password_policy
from appliance.identity.auth.ratelimit import acquire_all
from appliance.identity.domain.aggregates import user_ref
from appliance.identity.domain.checks import present
from appliance.identity.domain.principals import Anonymous, Generated, Principal
from appliance.identity.domain.user_commands import RESET_TTL_S_DEFAULT, IssuePasswordReset, ResetPassword
from appliance.identity.domain.user_state import UserState
from appliance.identity.services import IdentityServices
from appliance.identity.workflows.sessions import ClientInfo
from appliance.identity.workflows.store import USER, IdentityPorts, load_ref
from appliance.identity.workflows.users import UserChange, run_user_command
from appliance.kernel.errors import InvalidInput, Unauthenticated, invariant
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

RandomBytes = Callable[[int], bytes]

RESET_TOKEN_PREFIX = "crp_"  # noqa: S105 - the public prefix of a token kind, not a secret
RESET_SECRET_BYTES = 32
_ID_BYTES = 16
_RAW_BYTES = _ID_BYTES + RESET_SECRET_BYTES
RESET_TOKEN_CHARS = len(RESET_TOKEN_PREFIX) + (4 * _RAW_BYTES + 2) // 3
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
INVALID_TOKEN = "the password-reset token is invalid or has expired"  # noqa: S105 - a message


class PresentedReset(Struct, frozen=True):
    """A well-formed reset token as presented: whose it claims to be, and its hash to compare."""

    user_id: UserId
    token_hash: str


@dataclass(frozen=True)
class IssuedReset:
    change: UserChange
    user: UserState
    token: str  # shown once to whoever issued it; never stored
    expires_at: datetime


def hash_reset_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def make_reset_token(user_id: UserId, *, random_bytes: RandomBytes = secrets.token_bytes) -> str:
    secret = random_bytes(RESET_SECRET_BYTES)
    invariant(len(secret) == RESET_SECRET_BYTES, "the random source returns the bytes asked for")
    token = RESET_TOKEN_PREFIX + base64.urlsafe_b64encode(user_id.bytes + secret).decode("ascii").rstrip("=")
    invariant(len(token) == RESET_TOKEN_CHARS, "a reset token has the documented length")
    return token


def parse_reset_token(text: object, *, field: str = "token") -> PresentedReset:
    """Check a presented token's shape; anything that cannot be one of ours is `InvalidInput`."""
    if not isinstance(text, str) or not text.startswith(RESET_TOKEN_PREFIX):
        raise InvalidInput(f"{field} must be a password-reset token starting with {RESET_TOKEN_PREFIX!r}", field=field)
    if len(text) != RESET_TOKEN_CHARS:
        raise InvalidInput(f"{field} must be {RESET_TOKEN_CHARS} characters long", field=field)
    body = text[len(RESET_TOKEN_PREFIX) :]
    if not _BASE64URL.match(body):
        raise InvalidInput(f"{field} may only contain base64url characters after the prefix", field=field)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64url", field=field) from None
    invariant(len(raw) == _RAW_BYTES, "a token of the right length decodes to the right number of bytes")
    return PresentedReset(
        user_id=UserId.from_int(int.from_bytes(raw[:_ID_BYTES], "big")), token_hash=hash_reset_token(text)
    )


async def issue_password_reset(
    ports: IdentityPorts,
    principal: Principal,
    user_id: UserId,
    *,
    ttl_s: int = RESET_TTL_S_DEFAULT,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> IssuedReset:
    """A fresh one-time token for the user (instance administrators and the operator only)."""
    token = make_reset_token(user_id, random_bytes=random_bytes)
    command = IssuePasswordReset(user_id=user_id, ttl_s=ttl_s)
    change = await run_user_command(
        ports, principal, command, user_id, generated=Generated(secret_hash=hash_reset_token(token))
    )
    user = present(change.state, "a user that was issued a reset exists")
    reset = present(user.reset, "an issued reset is on the user's state")
    return IssuedReset(change=change, user=user, token=token, expires_at=reset.expires_at)


async def redeem_password_reset(
    ports: IdentityPorts, identity: IdentityServices, token: object, new_password: object, client: ClientInfo
) -> UserChange:
    """Set a new password with a reset token; every session of the user ends."""
    presented = parse_reset_token(token)
    acquire_all(
        [
            (identity.login_ip_limiter, f"ip:{client.ip}"),
            (identity.login_account_limiter, f"reset:{presented.user_id}"),
        ]
    )
    user: UserState | None = (await load_ref(ports.store, USER, user_ref(presented.user_id))).state
    if user is None:
        raise Unauthenticated(INVALID_TOKEN)
    normalised = check_password_policy(new_password, context=(user.email, user.display_name))
    password_hash = await identity.hashing.hash(normalised)
    command = ResetPassword(user_id=user.user_id, token_hash=presented.token_hash, password_hash=password_hash)
    return await run_user_command(ports, Anonymous(), command, user.user_id)
