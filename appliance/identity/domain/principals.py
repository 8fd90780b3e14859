"""Who is acting, and the context every identity decision receives.

`DecisionContext` is the only door through which the outside world enters a `decide` function:
the time (`now`), the authenticated `principal`, and the values the imperative shell generated
for this one decision (`Generated`: new ids, and the *hashes* of fresh secrets — a plaintext
token or key never enters the domain).

Principals (a tagged union, built by the auth layer after it verified the credentials):

  * `UserPrincipal`   a signed-in user. `active` and `instance_admin` are copied from the user's
                      own aggregate when the request is authenticated. The user's role in an
                      organisation is *not* carried here: the organisation aggregate is the one
                      authority on membership, so decisions look it up in the state they decide on.
  * `ApiKeyPrincipal` an organisation API key; its role is read from the organisation's state.
  * `SetupTokenHolder` whoever presented the instance's one-time setup token (verified upstream).
  * `Anonymous`       no credentials: open signup, or redeeming an invite or password-reset token
                      (the token's hash travels in the command and is checked by the domain).
  * `Operator`        someone running `craton admin` with access to the data directory, who is
                      therefore already trusted with everything on it.

`Actor` is the audit-trail view of a principal, stored in every event's payload.

This module must never verify credentials: it only describes principals that were verified.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

from appliance.identity.domain.checks import present
from appliance.identity.domain.ids import ApiKeyId, InviteId, PasskeyId
from appliance.kernel.errors import Forbidden, invariant
from appliance.kernel.ids import OrgId, SessionId, UserId
from appliance.kernel.structs import Struct


class ActorKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SETUP_TOKEN = "setup_token"  # noqa: S105 - names a kind of actor, holds no secret
    ANONYMOUS = "anonymous"
    OPERATOR = "operator"


class Actor(Struct, frozen=True):
    """Who did it, as the audit trail shows it: a kind and, where there is one, an id or name."""

    kind: ActorKind
    id: str | None = None


class UserPrincipal(Struct, frozen=True, tag="user"):
    user_id: UserId
    email: str
    active: bool = True
    instance_admin: bool = False


class ApiKeyPrincipal(Struct, frozen=True, tag="api_key"):
    org_id: OrgId
    api_key_id: ApiKeyId


class SetupTokenHolder(Struct, frozen=True, tag="setup_token"):
    pass


class Anonymous(Struct, frozen=True, tag="anonymous"):
    pass


class Operator(Struct, frozen=True, tag="operator"):
    name: str


Principal = UserPrincipal | ApiKeyPrincipal | SetupTokenHolder | Anonymous | Operator


class Generated(Struct, frozen=True):
    """Values made by the shell for one decision. Each command's docstring says which it needs."""

    user_id: UserId | None = None
    org_id: OrgId | None = None
    session_id: SessionId | None = None
    invite_id: InviteId | None = None
    api_key_id: ApiKeyId | None = None
    passkey_id: PasskeyId | None = None
    secret_hash: str | None = None
    secret_prefix: str | None = None


class DecisionContext(Struct, frozen=True):
    now: datetime
    principal: Principal
    generated: Generated = Generated()

    def __post_init__(self) -> None:
        invariant(self.now.utcoffset() is not None, "decision time must be timezone-aware")


def actor_of(principal: Principal) -> Actor:
    """The audit-trail form of a principal."""
    match principal:
        case UserPrincipal(user_id=user_id):
            return Actor(kind=ActorKind.USER, id=str(user_id))
        case ApiKeyPrincipal(api_key_id=api_key_id):
            return Actor(kind=ActorKind.API_KEY, id=str(api_key_id))
        case SetupTokenHolder():
            return Actor(kind=ActorKind.SETUP_TOKEN)
        case Anonymous():
            return Actor(kind=ActorKind.ANONYMOUS)
        case Operator(name=name):
            return Actor(kind=ActorKind.OPERATOR, id=name)


def actor_label(principal: Principal) -> str:
    """A one-string form for `EventMeta.actor` (`user:<id>`, `operator:root`, `anonymous`)."""
    actor = actor_of(principal)
    return actor.kind.value if actor.id is None else f"{actor.kind.value}:{actor.id}"


def require_active(principal: Principal) -> None:
    """A disabled user cannot act, whatever their roles."""
    if isinstance(principal, UserPrincipal) and not principal.active:
        raise Forbidden("this account is disabled")


def is_instance_admin(principal: Principal) -> bool:
    if isinstance(principal, Operator):
        return True
    return isinstance(principal, UserPrincipal) and principal.active and principal.instance_admin


def require_instance_admin(principal: Principal) -> None:
    require_active(principal)
    if not is_instance_admin(principal):
        raise Forbidden("only an instance administrator may do this")


T = TypeVar("T")


def need(value: T | None, what: str) -> T:
    """A generated value the command requires; its absence is a bug in the calling workflow."""
    return present(value, f"the decision context must carry generated.{what}")
