"""HTTP: `/api/v1/auth/webauthn/` — passkey registration (signed in) and passkey login (with or
without an e-mail), each an options request and a verify request.

The options replies carry `challenge_id` (send it back with the verify request) and `options`
(pass them, with the base64url fields decoded, to `navigator.credentials.create()` / `.get()`).
The verify requests carry the browser's credential JSON as `credential`.

This module must never decide a rule, map an error to a status, or log a credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from appliance.api.auth import Principal
from appliance.api.services import Services
from appliance.identity.auth.webauthn_input import CREDENTIAL_JSON_BYTES_MAX
from appliance.identity.domain.validation import normalise_email
from appliance.identity.http.auth import Email, TokenReply, session_principal, token_reply
from appliance.identity.http.auth_common import client_of, ports_of, problem_responses, settled
from appliance.identity.workflows.passkeys import (
    begin_login,
    begin_registration,
    finish_login,
    finish_registration,
)
from appliance.kernel.structs import Struct

ChallengeId = Annotated[str, msgspec.Meta(max_length=64)]
PasskeyName = Annotated[str, msgspec.Meta(max_length=256)]


class OptionsReply(Struct, frozen=True):
    challenge_id: str
    options: dict[str, Any]


class RegisterVerifyBody(Struct, frozen=True):
    challenge_id: ChallengeId
    credential: dict[str, Any]
    name: PasskeyName = "passkey"


class LoginOptionsBody(Struct, frozen=True):
    email: Email | None = None


class LoginVerifyBody(Struct, frozen=True):
    challenge_id: ChallengeId
    credential: dict[str, Any]


class RegisteredView(Struct, frozen=True):
    passkey_id: str
    name: str
    created_at: datetime


class PasskeysController(Controller):
    path = "/api/v1/auth/webauthn"
    tags = ("auth",)
    request_max_body_size = CREDENTIAL_JSON_BYTES_MAX + 4096

    @post(
        "/register/options",
        operation_id="passkeyRegisterOptions",
        summary="Start registering a passkey on the signed-in account",
        status_code=200,
        responses=problem_responses(401, 403, 429, 503),
    )
    async def register_options(
        self, services: NamedDependency[Services], principal: NamedDependency[Principal]
    ) -> OptionsReply:
        acting, _ = session_principal(principal)
        ceremony = await begin_registration(ports_of(services), services.identity, acting.user_id)
        return OptionsReply(challenge_id=ceremony.challenge_id, options=ceremony.options)

    @post(
        "/register/verify",
        operation_id="passkeyRegisterVerify",
        summary="Finish registering: verify the authenticator's attestation and add the passkey",
        status_code=HTTP_201_CREATED,
        responses=problem_responses(400, 401, 403, 409, 413, 429, 503),
    )
    async def register_verify(
        self,
        services: NamedDependency[Services],
        principal: NamedDependency[Principal],
        data: JSONBody[RegisterVerifyBody],
    ) -> RegisteredView:
        acting, _ = session_principal(principal)
        change, passkey_id = await finish_registration(
            ports_of(services), services.identity, acting, data.challenge_id, data.credential, data.name
        )
        await settled(services, change.appended)
        state = change.state
        passkey = None if state is None else state.passkeys.get(passkey_id)
        created_at = services.clock.now() if passkey is None else passkey.created_at
        return RegisteredView(passkey_id=str(passkey_id), name=data.name, created_at=created_at)

    @post(
        "/login/options",
        operation_id="passkeyLoginOptions",
        summary="Start a passkey login; without an e-mail, any passkey of this site may answer (usernameless)",
        status_code=200,
        responses=problem_responses(400, 413, 429, 503),
    )
    async def login_options(
        self, services: NamedDependency[Services], data: JSONBody[LoginOptionsBody]
    ) -> OptionsReply:
        email = None if data.email is None else normalise_email(data.email)
        ceremony = await begin_login(ports_of(services), services.identity, email)
        return OptionsReply(challenge_id=ceremony.challenge_id, options=ceremony.options)

    @post(
        "/login/verify",
        operation_id="passkeyLoginVerify",
        summary="Finish a passkey login: verify the assertion and open a session",
        status_code=200,
        responses=problem_responses(400, 401, 403, 413, 429, 503),
    )
    async def login_verify(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[LoginVerifyBody]
    ) -> TokenReply:
        tokens = await finish_login(
            ports_of(services), services.identity, data.challenge_id, data.credential, client_of(request)
        )
        return token_reply(tokens)
