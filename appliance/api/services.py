"""What request handlers may use: the ports and read-side handles, injected by the runtime.

Handlers receive `Services` through Litestar's dependency injection (`services: Services`). It holds
ports and small status providers, never the composition logic itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import apsw

from appliance.api.metrics import Metrics
from appliance.eventstore.port import EventStore, SessionStore
from appliance.identity.services import IdentityServices
from appliance.kernel.clock import Clock
from appliance.kernel.ids import IdFactory
from appliance.readmodel.projector import ProjectorRunner


@dataclass
class NatsStatus:
    mode: str  # "embedded" | "external"
    state: Callable[[], str]
    restarts: Callable[[], int]
    url: str
    pid: Callable[[], int | None]
    connected: Callable[[], bool]


@dataclass
class Services:
    version: str
    data_dir: Path
    started_at: datetime
    http_address: str
    clock: Clock
    ids: IdFactory
    store: EventStore
    sessions: SessionStore
    db: apsw.Connection
    projector: ProjectorRunner
    metrics: Metrics
    nats: NatsStatus
    probe_writable: Callable[[], Any]
    logs: Any  # appliance.runtime.logs.LogBuffer (read-only use)
    identity: IdentityServices
    projection_lag_threshold: int = 1000
