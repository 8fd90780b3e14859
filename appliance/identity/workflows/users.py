"""Users as the API reads them (the `users` read model), and the workflows that change an account.

This module must never hash a password on the event loop or decide a rule itself: the domain's
`decide_user` decides, `auth.passwords` hashes (in a worker thread).
"""

from __future__ import annotations

import apsw

from appliance.kernel.errors import Unauthenticated
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct


class UserRow(Struct, frozen=True):
    user_id: UserId
    email: str
    display_name: str
    active: bool
    instance_admin: bool


def user_row(db: apsw.Connection, user_id: UserId) -> UserRow | None:
    row = db.execute(
        "SELECT email, display_name, status, instance_admin FROM users WHERE user_id = ?", (str(user_id),)
    ).fetchone()
    if row is None:
        return None
    email, display_name, status, instance_admin = row
    return UserRow(
        user_id=user_id,
        email=str(email),
        display_name=str(display_name),
        active=status == "active",
        instance_admin=bool(instance_admin),
    )


def active_user_row(db: apsw.Connection, user_id: UserId) -> UserRow:
    """The signed-in user's row; a disabled or unknown account is `Unauthenticated`."""
    row = user_row(db, user_id)
    if row is None or not row.active:
        raise Unauthenticated("this account is disabled or no longer exists")
    return row
