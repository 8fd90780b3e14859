"""Projection of the instance aggregate into the `instance` table (one row)."""

from __future__ import annotations

import apsw

from appliance.eventstore.port import StoredCommit
from appliance.instance.domain import (
    InstanceEvent,
    InstanceInitialised,
    InstanceRenamed,
    SetupTokenSpent,
    SignupModeChanged,
)
from appliance.instance.service import INSTANCE
from appliance.kernel.envelope import EventEnvelope


class InstanceProjection:
    name = "instance"
    types = frozenset({"InstanceInitialised", "InstanceRenamed", "SetupTokenSpent", "SignupModeChanged"})

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        event = INSTANCE.upcasters.decode(envelope, InstanceEvent)
        version = envelope.aggregate_version
        match event:
            case InstanceInitialised():
                db.execute(
                    "INSERT INTO instance (singleton, instance_id, name, created_at, setup_spent, signup_mode, version) "
                    "VALUES (1, ?, ?, ?, 0, 'invite_only', ?)",
                    (str(event.instance_id), event.name, event.initialised_at.isoformat(), version),
                )
            case InstanceRenamed():
                db.execute("UPDATE instance SET name = ?, version = ? WHERE singleton = 1", (event.name, version))
            case SetupTokenSpent():
                db.execute("UPDATE instance SET setup_spent = 1, version = ? WHERE singleton = 1", (version,))
            case SignupModeChanged():
                db.execute(
                    "UPDATE instance SET signup_mode = ?, version = ? WHERE singleton = 1",
                    (event.signup_mode.value, version),
                )
