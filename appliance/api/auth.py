"""Who is calling: the bearer credential of a request, resolved once into a `Principal`, and guards.

A request proves who it is with `Authorization: Bearer <credential>`, where the credential is
either an access token (a signed JWT, see `identity.auth.tokens`) or an organisation API key
(`crk_…`, see `identity.auth.apikeys`). Resolution, on EVERY request that asks for a principal:

* access token → signature, algorithm, issuer, audience, expiry (`AccessTokens.verify`) → the
  live session in the session store (NATS KV; idle and absolute timeouts) → the user's status in
  the read model. A revoked session or a disabled user therefore stops the token at the next
  request, whatever its `exp` says;
* API key → shape and checksum → the one stored key with that lookup prefix (read model table
  `api_keys`, projected by the organisations context) → constant-time hash comparison → not
  revoked, not expired, organisation not deleted.

Handlers take `principal: NamedDependency[Principal]` (401 problem when absent or invalid) or
`maybe_principal: NamedDependency[Principal | None]` (None when no credential was sent; a credential
that was sent must still be valid). Both apply the general per-principal rate limit.

Guards: `require_instance_admin(principal)` and `org_access(services, principal, org_id,
permission)`, which answers 404 for an organisation the principal cannot see (absent, deleted, not
a member, an API key of another organisation) — never 403, which would leak that it exists — and
403 only when the principal belongs to the organisation but its role lacks the permission (the one
table in `identity.domain.rbac`).

This module must never log a credential, decide anything about users or organisations beyond
reading who may act, or map errors to statuses (`problems` does that).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import apsw
from litestar import Request
from litestar.di import NamedDependency, Provide

from appliance.api.ratelimit import limit_principal
from appliance.api.services import Services
from appliance.identity.auth.apikeys import api_key_matches, looks_like_api_key, parse_api_key
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.principals import ApiKeyPrincipal, UserPrincipal
from appliance.identity.domain.principals import Principal as DomainPrincipal
from appliance.identity.domain.rbac import Permission, Role, parse_role, require
from appliance.identity.projections.users_query import active_user
from appliance.identity.workflows.sessions import live_session
from appliance.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from appliance.kernel.ids import OrgId, SessionId, UserId
from appliance.kernel.structs import Struct

BEARER_CHARS_MAX = 4096
_API_KEY_REFUSED = "API key is not valid"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Principal(Struct, frozen=True):
    """Who is calling, resolved once per request from its bearer credential."""

    kind: Literal["user", "api_key"]
    user_id: UserId | None  # for API keys: the user who created the key, if known
    session_id: SessionId | None  # user access tokens only
    api_key_id: ApiKeyId | None
    api_key_org_id: OrgId | None  # an API key acts only inside its organisation
    api_key_role: Role | None
    instance_admin: bool
    email: str | None = None  # the signed-in user's e-mail (user tokens only)

    def acting_as(self) -> DomainPrincipal:
        """The same caller as the identity domain's decisions see it."""
        if self.kind == "api_key":
            if self.api_key_org_id is None or self.api_key_id is None:
                raise Unauthenticated(_API_KEY_REFUSED)
            return ApiKeyPrincipal(org_id=self.api_key_org_id, api_key_id=self.api_key_id)
        if self.user_id is None:
            raise Unauthenticated("access token is not valid")
        return UserPrincipal(
            user_id=self.user_id, email=self.email or "", active=True, instance_admin=self.instance_admin
        )

    @property
    def rate_key(self) -> str:
        if self.kind == "api_key":
            return f"api_key:{self.api_key_id}"
        return f"user:{self.user_id}"


def bearer_credential(request: Request[Any, Any, Any]) -> str | None:
    """The bearer credential of a request; None when there is no Authorization header at all."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise Unauthenticated("send `Authorization: Bearer <access token or API key>`")
    if len(credential) > BEARER_CHARS_MAX:
        raise Unauthenticated("the bearer credential is too long")
    return credential


async def resolve(services: Services, credential: str) -> Principal:
    """The principal a bearer credential proves, checked against live state; `Unauthenticated` otherwise."""
    if looks_like_api_key(credential):
        return _api_key_principal(services, credential)
    return await _user_principal(services, credential)


async def _user_principal(services: Services, token: str) -> Principal:
    identity = services.identity
    claims = identity.tokens.verify(token)
    await live_session(services.sessions, identity, services.clock, claims.user_id, claims.session_id)
    row = active_user(identity.user_cards, claims.user_id).row
    return Principal(
        kind="user",
        user_id=claims.user_id,
        session_id=claims.session_id,
        api_key_id=None,
        api_key_org_id=None,
        api_key_role=None,
        instance_admin=row.instance_admin,
        email=row.email,
    )


def _api_key_principal(services: Services, text: str) -> Principal:
    presented = parse_api_key(text)
    row = services.db.execute(
        "SELECT k.key_id, k.org_id, k.key_sha256, k.role, k.expires_us, k.revoked, k.created_by "
        "FROM api_keys AS k JOIN orgs AS o ON o.org_id = k.org_id "
        "WHERE k.prefix = ? AND o.deleted = 0",
        (presented.prefix,),
    ).fetchone()
    if row is None or not api_key_matches(presented, str(row[2])):
        raise Unauthenticated(_API_KEY_REFUSED)
    key_id, org_id, _, role, expires_us, revoked, created_by = row
    if revoked:
        raise Unauthenticated("API key has been revoked")
    if expires_us is not None and epoch_us(services.clock.now()) >= int(expires_us):
        raise Unauthenticated("API key has expired")
    return Principal(
        kind="api_key",
        user_id=_creator(created_by),
        session_id=None,
        api_key_id=ApiKeyId.parse(key_id),
        api_key_org_id=OrgId.parse(org_id),
        api_key_role=parse_role(role),
        instance_admin=False,
    )


def epoch_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch, the read model's comparable time (`*_us` columns)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _creator(created_by: object) -> UserId | None:
    # `created_by` names the user a key acts for (a user id, or `user:<id>`); NULL or another kind
    # of actor (an operator) means no user.
    if not isinstance(created_by, str):
        return None
    text = created_by.removeprefix("user:")
    try:
        return UserId.parse(text)
    except InvalidInput:
        return None


async def provide_maybe_principal(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Principal | None:
    credential = bearer_credential(request)
    if credential is None:
        return None
    principal = await resolve(services, credential)
    limit_principal(services, principal.rate_key)
    return principal


async def provide_principal(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Principal:
    # Resolved directly rather than through `maybe_principal`: one dependency less on the path
    # every authenticated request takes.
    principal = await provide_maybe_principal(request, services)
    if principal is None:
        raise Unauthenticated("send `Authorization: Bearer <access token or API key>`")
    return principal


DEPENDENCIES = {
    "maybe_principal": Provide(provide_maybe_principal),
    "principal": Provide(provide_principal),
}


def require_instance_admin(principal: Principal) -> None:
    """Only a signed-in instance administrator passes (never an API key)."""
    if principal.kind != "user" or not principal.instance_admin:
        raise Forbidden("only an instance administrator may do this")


def require_user(principal: Principal) -> UserId:
    """Routes about one's own account need a signed-in user, not an API key."""
    if principal.kind != "user" or principal.user_id is None or principal.session_id is None:
        raise Forbidden("this route needs a signed-in user, not an API key")
    return principal.user_id


async def org_access(services: Services, principal: Principal, org_id: OrgId, permission: Permission) -> Role:
    """The principal's role in `org_id` if it holds `permission`: 404 if it cannot see the org, 403 if
    its role is too low."""
    if not isinstance(org_id, OrgId):
        raise InvalidInput("org_id must be an organisation id", field="org_id")
    role = _role_in(services.db, principal, org_id)
    if role is None:
        raise NotFound("organisation not found")
    require(role, permission)
    return role


def _role_in(db: apsw.Connection, principal: Principal, org_id: OrgId) -> Role | None:
    live = db.execute("SELECT 1 FROM orgs WHERE org_id = ? AND deleted = 0", (str(org_id),)).fetchone()
    if live is None:
        return None
    if principal.kind == "api_key":
        return principal.api_key_role if principal.api_key_org_id == org_id else None
    if principal.user_id is None:
        return None
    row = db.execute(
        "SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (str(org_id), str(principal.user_id))
    ).fetchone()
    return None if row is None else parse_role(row[0])
