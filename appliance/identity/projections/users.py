"""Projection of the user aggregate into `users`, `user_passkeys` and `user_identities` (migration 0010).

The rows answer what the API asks about accounts on every request (is this user active, is it an
instance administrator) and the account listings (`users/me`, `users/me/passkeys`, the admin user
list). Secrets never reach these tables: no password hash, reset token or passkey public key.
The event log stays the authority: decisions load the aggregate, never these rows.

This module must never read the clock or draw randomness (a rebuild writes the same bytes), nor
look at any other aggregate's rows than the user whose event it applies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import apsw

from appliance.eventstore.port import StoredCommit
from appliance.identity.domain.events import decode_event
from appliance.identity.domain.user_events import (
    DisplayNameChanged,
    ExternalIdentityLinked,
    ExternalIdentityUnlinked,
    InstanceAdminGranted,
    InstanceAdminRevoked,
    PasskeyRegistered,
    PasskeyRemoved,
    PasskeyUsed,
    PasswordChanged,
    UserDisabled,
    UserEnabled,
    UserEvent,
    UserRegistered,
)
from appliance.kernel.envelope import EventEnvelope
from appliance.kernel.errors import InvariantViolation, invariant

USER_EVENT_TYPES = frozenset(kind.__name__ for kind in get_args(UserEvent))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class UsersProjection:
    name = "identity.users"
    types = USER_EVENT_TYPES

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        event = decode_event(envelope)
        if not isinstance(event, get_args(UserEvent)):
            raise InvariantViolation(f"{envelope.type} is not a user event")
        if isinstance(event, UserRegistered):
            _registered(db, event, envelope.aggregate_version)
            return
        _touch(db, event, envelope.aggregate_version)
        match event:
            case (
                DisplayNameChanged()
                | PasswordChanged()
                | UserDisabled()
                | UserEnabled()
                | InstanceAdminGranted()
                | InstanceAdminRevoked()
            ):
                _account(db, event)
            case PasskeyRegistered() | PasskeyUsed() | PasskeyRemoved():
                _passkey(db, event)
            case ExternalIdentityLinked() | ExternalIdentityUnlinked():
                _identity(db, event)


def _registered(db: apsw.Connection, event: UserRegistered, version: int) -> None:
    db.execute(
        "INSERT INTO users (user_id, email, display_name, status, instance_admin, has_password, created_at, "
        "updated_at, version) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?)",
        (
            str(event.user_id),
            event.email,
            event.display_name,
            int(event.instance_admin),
            int(event.password_hash is not None),
            _iso(event.at),
            _iso(event.at),
            version,
        ),
    )


def _touch(db: apsw.Connection, event: UserEvent, version: int) -> None:
    changed = db.execute(
        "UPDATE users SET updated_at = ?, version = ? WHERE user_id = ? RETURNING user_id",
        (_iso(event.at), version, str(event.user_id)),
    ).fetchall()
    invariant(len(changed) == 1, "user events follow the user's registration")


def _account(db: apsw.Connection, event: UserEvent) -> None:
    user_id = str(event.user_id)
    match event:
        case DisplayNameChanged(display_name=name):
            db.execute("UPDATE users SET display_name = ? WHERE user_id = ?", (name, user_id))
        case PasswordChanged():
            db.execute("UPDATE users SET has_password = 1 WHERE user_id = ?", (user_id,))
        case UserDisabled() | UserEnabled():
            status = "disabled" if isinstance(event, UserDisabled) else "active"
            db.execute("UPDATE users SET status = ? WHERE user_id = ?", (status, user_id))
        case InstanceAdminGranted() | InstanceAdminRevoked():
            admin = int(isinstance(event, InstanceAdminGranted))
            db.execute("UPDATE users SET instance_admin = ? WHERE user_id = ?", (admin, user_id))


def _passkey(db: apsw.Connection, event: PasskeyRegistered | PasskeyUsed | PasskeyRemoved) -> None:
    match event:
        case PasskeyRegistered():
            db.execute(
                "INSERT INTO user_passkeys (passkey_id, user_id, credential_id, name, sign_count, transports, "
                "aaguid, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    str(event.passkey_id),
                    str(event.user_id),
                    event.credential_id,
                    event.name,
                    event.sign_count,
                    ",".join(event.transports),
                    event.aaguid,
                    _iso(event.at),
                ),
            )
        case PasskeyUsed():
            db.execute(
                "UPDATE user_passkeys SET sign_count = ?, last_used_at = ? WHERE passkey_id = ? AND user_id = ?",
                (event.sign_count, _iso(event.at), str(event.passkey_id), str(event.user_id)),
            )
        case PasskeyRemoved():
            db.execute(
                "DELETE FROM user_passkeys WHERE passkey_id = ? AND user_id = ?",
                (str(event.passkey_id), str(event.user_id)),
            )


def _identity(db: apsw.Connection, event: ExternalIdentityLinked | ExternalIdentityUnlinked) -> None:
    if isinstance(event, ExternalIdentityLinked):
        db.execute(
            "INSERT INTO user_identities (provider, subject, user_id, email, linked_at) VALUES (?, ?, ?, ?, ?)",
            (event.provider, event.subject, str(event.user_id), event.email, _iso(event.at)),
        )
        return
    db.execute(
        "DELETE FROM user_identities WHERE provider = ? AND subject = ? AND user_id = ?",
        (event.provider, event.subject, str(event.user_id)),
    )
