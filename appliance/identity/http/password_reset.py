"""HTTP: `POST /api/v1/auth/password-reset` — redeem a one-time reset token for a new password.

Tokens are issued by `craton admin reset-password` (an administrator never chooses a password).
No credential is needed: the token is the credential. The reply is empty; the user then signs in
with the new password (every session they had has ended).

This module must never decide a rule, map an error to a status, or log a body.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from appliance.api.services import Services
from appliance.identity.http.auth_common import client_of, ports_of, problem_responses, settled
from appliance.identity.workflows.password_reset import RESET_TOKEN_CHARS, redeem_password_reset
from appliance.kernel.structs import Struct

PASSWORD_CHARS_MAX = 4096  # far above the policy's maximum; the policy gives the precise rule

ResetToken = Annotated[str, msgspec.Meta(max_length=RESET_TOKEN_CHARS * 2)]
NewPassword = Annotated[str, msgspec.Meta(max_length=PASSWORD_CHARS_MAX)]


class PasswordResetBody(Struct, frozen=True):
    token: ResetToken
    new_password: NewPassword


class PasswordResetController(Controller):
    path = "/api/v1/auth/password-reset"
    tags = ("auth",)

    @post(
        operation_id="resetPassword",
        summary="Set a new password with a one-time reset token (from `craton admin reset-password`); "
        "ends every session of the account",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 403, 413, 429, 503),
    )
    async def reset(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[PasswordResetBody]
    ) -> None:
        change = await redeem_password_reset(
            ports_of(services), services.identity, data.token, data.new_password, client_of(request)
        )
        await settled(services, change.appended)
