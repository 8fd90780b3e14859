"""Invite workflows and the invite token: invite by e-mail, revoke, accept while signed in.

The token an inviter hands on (there is no mail server on an air-gapped site; the API returns the
token once and the inviter passes it on) is `cri_` followed by unpadded base64url of
organisation id (16 bytes) ‖ invite id (16 bytes) ‖ secret (32 random bytes): 107 characters in
all. It names its own organisation and invite, so redeeming it needs no lookup table, and only
its hex SHA-256 (`token_hash`) is stored, in the `MemberInvited` event. A presented token is
checked by the domain against that hash in constant time; a wrong token reads as "invite not
found", exactly like a missing invite.

`parse_invite_token` is what signup (helper CORE's `auth/signup`) uses to build its
`signup.InviteRoute`; `accept_invite` lets a user who already has an account join with a token.

This module must never store, log or return a token except the one `invite_member` returns once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from appliance.identity.domain.ids import InviteId
from appliance.identity.domain.org_commands import INVITE_TTL_S_DEFAULT, AcceptInvite, InviteMember, RevokeInvite
from appliance.identity.domain.principals import Generated, Principal
from appliance.identity.domain.rbac import Role
from appliance.identity.workflows.orgs import OrgChange, run_org_command
from appliance.identity.workflows.store import IdentityPorts
from appliance.kernel.errors import InvalidInput, invariant
from appliance.kernel.ids import OrgId
from appliance.kernel.structs import Struct

RandomBytes = Callable[[int], bytes]

INVITE_TOKEN_PREFIX = "cri_"  # noqa: S105 - the public prefix of a token kind, not a secret
INVITE_SECRET_BYTES = 32
_ID_BYTES = 16
_RAW_BYTES = 2 * _ID_BYTES + INVITE_SECRET_BYTES
INVITE_TOKEN_CHARS = len(INVITE_TOKEN_PREFIX) + (4 * _RAW_BYTES + 2) // 3
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class PresentedInvite(Struct, frozen=True):
    """A well-formed invite token as presented: where it points, and its hash to compare."""

    org_id: OrgId
    invite_id: InviteId
    token_hash: str


@dataclass(frozen=True)
class IssuedInvite:
    change: OrgChange
    invite_id: InviteId
    token: str  # shown to the inviter once; never stored


def hash_invite_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def make_invite_token(org_id: OrgId, invite_id: InviteId, *, random_bytes: RandomBytes = secrets.token_bytes) -> str:
    secret = random_bytes(INVITE_SECRET_BYTES)
    invariant(len(secret) == INVITE_SECRET_BYTES, "the random source returns the bytes asked for")
    raw = org_id.bytes + invite_id.bytes + secret
    token = INVITE_TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    invariant(len(token) == INVITE_TOKEN_CHARS, "an invite token has the documented length")
    return token


def parse_invite_token(text: object, *, field: str = "invite_token") -> PresentedInvite:
    """Check a presented token's shape; anything that cannot be one of ours is `InvalidInput`."""
    if not isinstance(text, str) or not text.startswith(INVITE_TOKEN_PREFIX):
        raise InvalidInput(f"{field} must be an invite token starting with {INVITE_TOKEN_PREFIX!r}", field=field)
    if len(text) != INVITE_TOKEN_CHARS:
        raise InvalidInput(f"{field} must be {INVITE_TOKEN_CHARS} characters long", field=field)
    body = text[len(INVITE_TOKEN_PREFIX) :]
    if not _BASE64URL.match(body):
        raise InvalidInput(f"{field} may only contain base64url characters after the prefix", field=field)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64url", field=field) from None
    invariant(len(raw) == _RAW_BYTES, "a token of the right length decodes to the right number of bytes")
    return PresentedInvite(
        org_id=OrgId.from_int(int.from_bytes(raw[:_ID_BYTES], "big")),
        invite_id=InviteId.from_int(int.from_bytes(raw[_ID_BYTES : 2 * _ID_BYTES], "big")),
        token_hash=hash_invite_token(text),
    )


async def invite_member(
    ports: IdentityPorts,
    org_id: OrgId,
    principal: Principal,
    email: str,
    role: Role,
    *,
    ttl_s: int = INVITE_TTL_S_DEFAULT,
    correlation_id: str | None = None,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> IssuedInvite:
    """Invite `email` with `role`; returns the token, which exists nowhere else from now on."""
    invite_id = ports.ids.new(InviteId)
    token = make_invite_token(org_id, invite_id, random_bytes=random_bytes)
    command = InviteMember(org_id=org_id, email=email, role=role, ttl_s=ttl_s)
    generated = Generated(invite_id=invite_id, secret_hash=hash_invite_token(token))
    change = await run_org_command(
        ports, org_id, command, principal, generated=generated, correlation_id=correlation_id
    )
    return IssuedInvite(change=change, invite_id=invite_id, token=token)


async def revoke_invite(
    ports: IdentityPorts, org_id: OrgId, principal: Principal, invite_id: InviteId, *, correlation_id: str | None = None
) -> OrgChange:
    command = RevokeInvite(org_id=org_id, invite_id=invite_id)
    return await run_org_command(ports, org_id, command, principal, correlation_id=correlation_id)


async def accept_invite(
    ports: IdentityPorts, principal: Principal, token: object, *, correlation_id: str | None = None
) -> OrgChange:
    """A signed-in user joins the organisation an invite token names (their e-mail must match)."""
    presented = parse_invite_token(token)
    command = AcceptInvite(org_id=presented.org_id, invite_id=presented.invite_id, token_hash=presented.token_hash)
    return await run_org_command(ports, presented.org_id, command, principal, correlation_id=correlation_id)
