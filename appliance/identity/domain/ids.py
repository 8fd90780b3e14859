"""Typed ids owned by the identity context.

The kernel holds the ids every context shares (`UserId`, `OrgId`, `SessionId`); the ids below
only mean something inside identity. They are `TypedId`s like the kernel's, so an `InviteId` can
never stand in for an `ApiKeyId`. This module must never generate ids: new ones arrive in the
decision context (`Generated`), made by the runtime's id factory.
"""

from __future__ import annotations

from appliance.kernel.ids import TypedId


class InviteId(TypedId):
    __slots__ = ()
    kind = "invite_id"


class ApiKeyId(TypedId):
    __slots__ = ()
    kind = "api_key_id"


class PasskeyId(TypedId):
    __slots__ = ()
    kind = "passkey_id"
