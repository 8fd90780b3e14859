"""HTTP: `/api/v1/auth/oauth/{provider}/authorize` and `/callback` — sign in with a configured OIDC
provider or GitHub, and link such an identity to the signed-in account.

* `GET authorize` answers the provider's authorization URL as JSON (`?redirect=true`: a 302 to it).
  Sent with the bearer token of a signed-in user, the login is for linking to that account.
* `GET callback` is where the provider sends the browser back (`code`, `state`, `iss`): it answers
  `signed_in` or `signed_up` with tokens, or `confirm` with a `link_id` when a signed-in user
  started a link.
* `POST callback` with `{"link_id"}` and the same user's bearer token confirms the link.

This module must never decide a rule, map an error to a status, or log a provider's reply.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_302_FOUND

from appliance.api.auth import Principal
from appliance.api.services import Services
from appliance.identity.http.auth import session_principal
from appliance.identity.http.auth_common import client_of, ports_of, problem_responses, settled
from appliance.identity.workflows.oauth import begin, complete, confirm_link
from appliance.kernel.errors import InvalidInput
from appliance.kernel.structs import Struct

ProviderName = Annotated[str, msgspec.Meta(max_length=64)]


class AuthorizeReply(Struct, frozen=True):
    authorization_url: str
    state: str
    linking: bool


class CallbackReply(Struct, frozen=True, omit_defaults=True):
    outcome: Literal["signed_in", "signed_up", "confirm"]
    reason: str
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: Literal["Bearer"] | None = None
    expires_in: int | None = None
    link_id: str | None = None
    email: str | None = None


class ConfirmBody(Struct, frozen=True):
    link_id: Annotated[str, msgspec.Meta(max_length=64)]


class LinkedReply(Struct, frozen=True):
    provider: str
    linked: bool


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The callback's query, one value per name (a repeated name is refused, not guessed)."""
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in found:
            raise InvalidInput(f"callback parameter {name[:40]!r} appears more than once", field=name[:40])
        found[name] = value
    return found


class OAuthController(Controller):
    path = "/api/v1/auth/oauth/{provider:str}"
    tags = ("auth",)

    @get(
        "/authorize",
        operation_id="oauthAuthorize",
        summary="Start a sign-in (or, with a user's bearer token, a link) at an identity provider",
        responses={
            **problem_responses(400, 401, 404, 429, 502, 503),
            302: ResponseSpec(
                data_container=None, description="With redirect=true: to the provider", generate_examples=False
            ),
        },
    )
    async def authorize(
        self,
        services: NamedDependency[Services],
        maybe_principal: NamedDependency[Principal | None],
        provider: FromPath[str],
        redirect: Annotated[bool, QueryParameter(description="answer 302 to the provider instead of JSON")] = False,
    ) -> Response[AuthorizeReply | None]:
        link_user = None
        if maybe_principal is not None:
            link_user = session_principal(maybe_principal)[0].user_id
        url, pending = await begin(services.identity, provider, link_user)
        if redirect:
            return Response(content=None, status_code=HTTP_302_FOUND, headers={"Location": url})
        return Response(AuthorizeReply(authorization_url=url, state=pending.state, linking=link_user is not None))

    @get(
        "/callback",
        operation_id="oauthCallback",
        summary="Where the provider sends the browser back: sign in, open an account, or ask to confirm a link",
        responses=problem_responses(400, 401, 403, 404, 409, 429, 502, 503),
    )
    async def callback(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], provider: FromPath[str]
    ) -> CallbackReply:
        result = await complete(ports_of(services), services.identity, provider, _query(request), client_of(request))
        tokens = result.tokens
        return CallbackReply(
            outcome=result.outcome,
            reason=result.reason,
            access_token=None if tokens is None else tokens.access_token,
            refresh_token=None if tokens is None else tokens.refresh_token,
            token_type=None if tokens is None else "Bearer",
            expires_in=None if tokens is None else tokens.expires_in_s,
            link_id=result.link_id,
            email=result.email,
        )

    @post(
        "/callback",
        operation_id="oauthConfirmLink",
        summary="Confirm linking the identity of a `confirm` callback to the signed-in account",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 413, 429, 503),
    )
    async def confirm(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        provider: FromPath[str],
        data: JSONBody[ConfirmBody],
    ) -> LinkedReply:
        acting, _ = session_principal(principal)
        change = await confirm_link(ports_of(services), services.identity, acting, provider, data.link_id)
        await settled(services, change.appended)
        return LinkedReply(provider=provider, linked=True)
