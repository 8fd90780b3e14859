"""HTTP: `/api/v1/auth/` signup, login, refresh, logout and the caller's sessions.

Handlers are three steps: DTO in, workflow (`identity.workflows`), DTO out — after waiting for the
read model where the reply or the caller's next request must see the change. Tokens appear only
in replies to the request that made them. Passkey and OAuth routes live in `auth_passkeys` and
`auth_oauth`.

This module must never decide a rule, map an error to a status, or log a body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from appliance.api.auth import Principal, require_user
from appliance.api.services import Services
from appliance.identity.domain.principals import UserPrincipal
from appliance.identity.domain.session import SessionEndReason
from appliance.identity.http.auth_common import client_of, ports_of, problem_responses, settled
from appliance.identity.workflows.login import log_in_with_password
from appliance.identity.workflows.sessions import SessionTokens, end_session, list_sessions, refresh_session
from appliance.identity.workflows.signup import SignupRequest, sign_up
from appliance.kernel.errors import InvariantViolation
from appliance.kernel.ids import SessionId
from appliance.kernel.structs import Struct

EMAIL_CHARS_MAX = 1024  # far above any valid address; the domain gives the precise rule
PASSWORD_CHARS_MAX = 4096
NAME_CHARS_MAX = 1024
TOKEN_CHARS_MAX = 1024

Email = Annotated[str, msgspec.Meta(max_length=EMAIL_CHARS_MAX)]
Password = Annotated[str, msgspec.Meta(max_length=PASSWORD_CHARS_MAX)]
Name = Annotated[str, msgspec.Meta(max_length=NAME_CHARS_MAX)]
Token = Annotated[str, msgspec.Meta(max_length=TOKEN_CHARS_MAX)]


class SignupBody(Struct, frozen=True):
    email: Email
    password: Password
    display_name: Name
    org_name: Name | None = None
    setup_token: Token | None = None
    invite_token: Token | None = None


class LoginBody(Struct, frozen=True):
    email: Email
    password: Password


class RefreshBody(Struct, frozen=True):
    refresh_token: Token


class TokenReply(Struct, frozen=True):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class SignupReply(Struct, frozen=True):
    user_id: str
    org_id: str | None
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class SessionItem(Struct, frozen=True):
    session_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    method: str
    ip: str
    user_agent: str
    current: bool


class SessionList(Struct, frozen=True):
    sessions: list[SessionItem]


def token_reply(tokens: SessionTokens) -> TokenReply:
    return TokenReply(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=tokens.expires_in_s,
    )


def session_principal(principal: Principal) -> tuple[UserPrincipal, SessionId]:
    """A signed-in user's domain principal and current session (API keys have no session)."""
    require_user(principal)
    acting = principal.acting_as()
    if not isinstance(acting, UserPrincipal) or principal.session_id is None:
        raise InvariantViolation("require_user admits only signed-in users")
    return acting, principal.session_id


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ("auth",)

    @post(
        "/signup",
        operation_id="signUp",
        summary="Create an account: with the setup token (first owner), an invite token, or in open mode",
        status_code=HTTP_201_CREATED,
        responses=problem_responses(400, 401, 403, 404, 409, 413, 429, 503),
    )
    async def signup(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[SignupBody]
    ) -> SignupReply:
        body = SignupRequest(**msgspec.structs.asdict(data))
        result = await sign_up(ports_of(services), services.identity, services.data_dir, body, client_of(request))
        await settled(services, result.appended)
        return SignupReply(
            user_id=str(result.user_id),
            org_id=None if result.org_id is None else str(result.org_id),
            access_token=result.tokens.access_token,
            refresh_token=result.tokens.refresh_token,
            token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_in=result.tokens.expires_in_s,
        )

    @post(
        "/login",
        operation_id="logIn",
        summary="Sign in with e-mail and password; rate-limited per IP and per account before hashing",
        status_code=200,
        responses=problem_responses(400, 401, 403, 413, 429, 503),
    )
    async def login(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[LoginBody]
    ) -> TokenReply:
        tokens = await log_in_with_password(
            ports_of(services), services.identity, data.email, data.password, client_of(request)
        )
        return token_reply(tokens)

    @post(
        "/refresh",
        operation_id="refreshTokens",
        summary="Trade the refresh token for new tokens (rotation); reusing a spent one ends the session",
        status_code=200,
        responses=problem_responses(400, 401, 413, 503),
    )
    async def refresh(self, services: NamedDependency[Services], data: JSONBody[RefreshBody]) -> TokenReply:
        tokens = await refresh_session(ports_of(services), services.identity, data.refresh_token)
        return token_reply(tokens)

    @post(
        "/logout",
        operation_id="logOut",
        summary="End the caller's current session",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 429, 503),
    )
    async def logout(self, services: NamedDependency[Services], principal: NamedDependency[Principal]) -> None:
        acting, session_id = session_principal(principal)
        await end_session(ports_of(services), acting.user_id, session_id, SessionEndReason.LOGOUT, acting)

    @get(
        "/sessions",
        operation_id="listSessions",
        summary="The caller's live sessions, oldest first",
        responses=problem_responses(401, 403, 429, 503),
    )
    async def sessions(self, services: NamedDependency[Services], principal: NamedDependency[Principal]) -> SessionList:
        acting, current = session_principal(principal)
        views = await list_sessions(ports_of(services), acting.user_id)
        return SessionList(
            sessions=[
                SessionItem(
                    session_id=str(view.session_id),
                    created_at=view.created_at,
                    last_seen_at=view.last_seen_at,
                    expires_at=view.expires_at,
                    method=view.method,
                    ip=view.ip,
                    user_agent=view.user_agent,
                    current=view.session_id == current,
                )
                for view in views
            ]
        )

    @delete(
        "/sessions/{session_id:str}",
        operation_id="endSession",
        summary="End one of the caller's sessions (another device, or this one)",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 403, 404, 429, 503),
    )
    async def end(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], session_id: FromPath[str]
    ) -> None:
        acting, _ = session_principal(principal)
        target = SessionId.parse(session_id)
        await end_session(ports_of(services), acting.user_id, target, SessionEndReason.REVOKED, acting)
