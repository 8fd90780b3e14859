"""HTTP: `/api/v1/users/me` (the signed-in user's account, password and passkeys) and
`/api/v1/admin/users` (instance administrators: list, disable, enable, end a user's sessions).

Handlers are three steps: DTO in, workflow, DTO out — after waiting for the read model where the
reply or the caller's next request must see the change (a disabled user's token fails on the very
next request, because the sessions are gone from the store before this replies).

This module must never decide a rule, map an error to a status, or log a body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from appliance.api.auth import Principal, require_instance_admin, require_user
from appliance.api.services import Services
from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.session import SessionEndReason
from appliance.identity.http.auth import Name, Password, session_principal
from appliance.identity.http.auth_common import client_of, ports_of, problem_responses, settled
from appliance.identity.projections.users_query import UserCard
from appliance.identity.workflows.passkeys import remove_passkey
from appliance.identity.workflows.sessions import end_user_sessions
from appliance.identity.workflows.users import (
    USERS_PAGE_MAX,
    UserChange,
    UserRow,
    change_display_name,
    change_password,
    list_users,
    set_user_status,
    user_row,
)
from appliance.kernel.errors import NotFound
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct


class IdentityLink(Struct, frozen=True):
    provider: str
    subject: str
    email: str | None
    linked_at: datetime


class MeView(Struct, frozen=True):
    user_id: str
    email: str
    display_name: str
    instance_admin: bool
    has_password: bool
    created_at: datetime
    identities: list[IdentityLink]


class MeChange(Struct, frozen=True):
    display_name: Name


class PasswordChange(Struct, frozen=True):
    current_password: Password
    new_password: Password


class PasskeyView(Struct, frozen=True):
    passkey_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: list[str]


class PasskeyList(Struct, frozen=True):
    passkeys: list[PasskeyView]


class UserView(Struct, frozen=True):
    user_id: str
    email: str
    display_name: str
    status: str
    instance_admin: bool
    created_at: datetime


class UserPage(Struct, frozen=True):
    users: list[UserView]
    next_cursor: str | None


class SessionsEnded(Struct, frozen=True):
    ended: int


def _me(card: UserCard) -> MeView:
    row = card.row
    return MeView(
        user_id=str(row.user_id),
        email=row.email,
        display_name=row.display_name,
        instance_admin=row.instance_admin,
        has_password=row.has_password,
        created_at=row.created_at,
        identities=[
            IdentityLink(provider=link.provider, subject=link.subject, email=link.email, linked_at=link.linked_at)
            for link in card.identities
        ],
    )


def _user_view(row: UserRow) -> UserView:
    return UserView(
        user_id=str(row.user_id),
        email=row.email,
        display_name=row.display_name,
        status="active" if row.active else "disabled",
        instance_admin=row.instance_admin,
        created_at=row.created_at,
    )


def _card(services: Services, user_id: UserId) -> UserCard:
    card = services.identity.user_cards.get(user_id)
    if card is None:
        raise NotFound("user not found")
    return card


def _existing(services: Services, user_id: UserId) -> UserRow:
    row = user_row(services.db, user_id)
    if row is None:
        raise NotFound("user not found")
    return row


class UsersController(Controller):
    path = "/api/v1/users/me"
    tags = ("users",)

    @get(
        operation_id="getMe",
        summary="The signed-in user's account",
        responses=problem_responses(401, 403, 429),
        sync_to_thread=False,
    )
    def me(self, services: NamedDependency[Services], principal: NamedDependency[Principal]) -> MeView:
        return _me(_card(services, require_user(principal)))

    @patch(
        operation_id="updateMe",
        summary="Change the signed-in user's display name",
        responses=problem_responses(400, 401, 403, 409, 413, 429, 503),
    )
    async def update_me(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], data: JSONBody[MeChange]
    ) -> MeView:
        acting, _ = session_principal(principal)
        change = await change_display_name(ports_of(services), acting, acting.user_id, data.display_name)
        await settled(services, change.appended)
        return _me(_card(services, acting.user_id))

    @post(
        "/password",
        operation_id="changePassword",
        summary="Change the password (the current one is required); ends the user's other sessions",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 403, 409, 413, 429, 503),
    )
    async def password(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        data: JSONBody[PasswordChange],
    ) -> None:
        acting, session_id = session_principal(principal)
        change = await change_password(
            ports_of(services),
            services.identity,
            acting,
            acting.user_id,
            session_id,
            data.current_password,
            data.new_password,
            client_of(request),
        )
        await settled(services, change.appended)

    @get(
        "/passkeys",
        operation_id="listPasskeys",
        summary="The signed-in user's passkeys",
        responses=problem_responses(401, 403, 429),
        sync_to_thread=False,
    )
    def passkeys(self, services: NamedDependency[Services], principal: NamedDependency[Principal]) -> PasskeyList:
        acting, _ = session_principal(principal)
        rows = services.db.execute(
            "SELECT passkey_id, name, created_at, last_used_at, transports FROM user_passkeys "
            "WHERE user_id = ? ORDER BY created_at, passkey_id",
            (str(acting.user_id),),
        ).fetchall()
        return PasskeyList(
            passkeys=[
                PasskeyView(
                    passkey_id=str(passkey_id),
                    name=str(name),
                    created_at=datetime.fromisoformat(str(created_at)),
                    last_used_at=None if used is None else datetime.fromisoformat(str(used)),
                    transports=[t for t in str(transports).split(",") if t],
                )
                for passkey_id, name, created_at, used, transports in rows
            ]
        )

    @delete(
        "/passkeys/{passkey_id:str}",
        operation_id="removePasskey",
        summary="Remove a passkey (not the account's last way to sign in); ends the user's other sessions",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
    )
    async def remove_passkey(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], passkey_id: FromPath[str]
    ) -> None:
        acting, session_id = session_principal(principal)
        change = await remove_passkey(ports_of(services), acting, PasskeyId.parse(passkey_id), session_id)
        await settled(services, change.appended)


class AdminUsersController(Controller):
    path = "/api/v1/admin/users"
    tags = ("admin",)

    @get(
        operation_id="listUsers",
        summary="Every account, oldest first, a page at a time (instance administrators)",
        responses=problem_responses(400, 401, 403, 429),
        sync_to_thread=False,
    )
    def list(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        cursor: Annotated[
            str | None, QueryParameter(max_length=64, description="next_cursor of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=USERS_PAGE_MAX)] = 50,
    ) -> UserPage:
        require_instance_admin(principal)
        page = list_users(services.db, cursor=cursor, limit=limit)
        return UserPage(users=[_user_view(row) for row in page.users], next_cursor=page.next_cursor)

    @post(
        "/{user_id:str}/disable",
        operation_id="disableUser",
        summary="Disable an account: every session of the user ends at once",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
    )
    async def disable(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], user_id: FromPath[str]
    ) -> UserView:
        return await self._set_status(services, principal, user_id, enabled=False)

    @post(
        "/{user_id:str}/enable",
        operation_id="enableUser",
        summary="Enable a disabled account",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 429, 503),
    )
    async def enable(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], user_id: FromPath[str]
    ) -> UserView:
        return await self._set_status(services, principal, user_id, enabled=True)

    @delete(
        "/{user_id:str}/sessions",
        operation_id="endUserSessions",
        summary="End every session of a user (instance administrators)",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 429, 503),
    )
    async def end_sessions(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal], user_id: FromPath[str]
    ) -> SessionsEnded:
        require_instance_admin(principal)
        target = _existing(services, UserId.parse(user_id)).user_id
        ended = await end_user_sessions(ports_of(services), target, SessionEndReason.REVOKED, principal.acting_as())
        return SessionsEnded(ended=len(ended))

    async def _set_status(self, services: Services, principal: Principal, user_id: str, *, enabled: bool) -> UserView:
        require_instance_admin(principal)
        target = _existing(services, UserId.parse(user_id)).user_id
        change: UserChange = await set_user_status(ports_of(services), principal.acting_as(), target, enabled=enabled)
        await settled(services, change.appended)
        return _user_view(_existing(services, target))
