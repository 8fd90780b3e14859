"""Users as the API reads them: the `users`, `user_passkeys` and `user_identities` read model
(migration 0010, projected by `projections.users`), one user's card, the admin listing with its
opaque cursor, and `UserCards`, the cache of cards the auth layer reads on every request.

This module must never write: it only reads the read model.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime

import apsw

from appliance.kernel.errors import InvalidInput, Unauthenticated
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

USERS_PAGE_MAX = 200
USER_CARDS_MAX = 10_000
CURSOR_CHARS_MAX = 64


class UserRow(Struct, frozen=True):
    user_id: UserId
    email: str
    display_name: str
    active: bool
    instance_admin: bool
    has_password: bool
    created_at: datetime


_COLUMNS = "user_id, email, display_name, status, instance_admin, has_password, created_at"


def _row(row: Sequence[object]) -> UserRow:
    user_id, email, display_name, status, instance_admin, has_password, created_at = row
    return UserRow(
        user_id=UserId.parse(user_id),
        email=str(email),
        display_name=str(display_name),
        active=status == "active",
        instance_admin=bool(instance_admin),
        has_password=bool(has_password),
        created_at=datetime.fromisoformat(str(created_at)),
    )


class LinkRow(Struct, frozen=True):
    provider: str
    subject: str
    email: str | None
    linked_at: datetime


class UserCard(Struct, frozen=True):
    """A user's row and linked identities, as one read of the read model."""

    row: UserRow
    identities: tuple[LinkRow, ...]


def user_row(db: apsw.Connection, user_id: UserId) -> UserRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE user_id = ?", (str(user_id),)).fetchone()  # noqa: S608 - fixed columns
    return None if row is None else _row(row)


def user_card(db: apsw.Connection, user_id: UserId) -> UserCard | None:
    row = user_row(db, user_id)
    if row is None:
        return None
    links = db.execute(
        "SELECT provider, subject, email, linked_at FROM user_identities WHERE user_id = ? ORDER BY linked_at, provider",
        (str(user_id),),
    ).fetchall()
    identities = tuple(
        LinkRow(
            provider=str(p),
            subject=str(s),
            email=None if e is None else str(e),
            linked_at=datetime.fromisoformat(str(at)),
        )
        for p, s, e, at in links
    )
    return UserCard(row=row, identities=identities)


class UserCards:
    """User cards read from the read model, remembered while the read model is unchanged.

    The appliance's read-model connection is the only writer of its file while it runs (the
    projector), so `total_changes()` moving is exactly "something may have changed": then every
    remembered card is dropped. A disabled user is therefore seen on the first request after the
    projection applied `UserDisabled` — the same moment an uncached read would see it.
    """

    def __init__(self, db: apsw.Connection, *, entries_max: int = USER_CARDS_MAX) -> None:
        self._db = db
        self._entries: dict[UserId, UserCard] = {}
        self._seen_changes = -1
        self._entries_max = entries_max

    def get(self, user_id: UserId) -> UserCard | None:
        changes = self._db.total_changes()
        if changes != self._seen_changes:
            self._entries.clear()
            self._seen_changes = changes
        card = self._entries.get(user_id)
        if card is None:
            card = user_card(self._db, user_id)
            if card is not None:
                if len(self._entries) >= self._entries_max:
                    self._entries.clear()
                self._entries[user_id] = card
        return card


def active_user(cards: UserCards, user_id: UserId) -> UserCard:
    """The signed-in user's card; a disabled or unknown account is `Unauthenticated`."""
    card = cards.get(user_id)
    if card is None or not card.row.active:
        raise Unauthenticated("this account is disabled or no longer exists")
    return card


class UsersPage(Struct, frozen=True):
    users: list[UserRow]
    next_cursor: str | None


def encode_cursor(user_id: UserId) -> str:
    return base64.urlsafe_b64encode(user_id.bytes).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> UserId:
    """An opaque cursor from a previous page; anything else is `InvalidInput`."""
    if len(cursor) > CURSOR_CHARS_MAX:
        raise InvalidInput("cursor is not one this appliance made", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("cursor is not one this appliance made", field="cursor") from None
    if len(raw) != 16:
        raise InvalidInput("cursor is not one this appliance made", field="cursor")
    return UserId.from_int(int.from_bytes(raw, "big"))


def list_users(db: apsw.Connection, *, cursor: str | None, limit: int) -> UsersPage:
    """Users in the order they were created (ids are UUIDv7), a page at a time."""
    if not 1 <= limit <= USERS_PAGE_MAX:
        raise InvalidInput(f"limit must be from 1 to {USERS_PAGE_MAX}", field="limit")
    after = "" if cursor is None else str(decode_cursor(cursor))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",  # noqa: S608 - fixed columns
        (after, limit + 1),
    ).fetchall()
    users = [_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(users[-1].user_id) if len(rows) > limit else None
    return UsersPage(users=users, next_cursor=next_cursor)
