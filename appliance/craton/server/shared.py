"""State shared by every connection of one replica server.

This module owns the connection registry (and so the connection cap), the draining flag, the
engine executor and the fire-and-forget audit of auth decisions. It must never run engine calls
on the event loop: `executor` is the only way to reach the engine.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from appliance.craton.server.auth import Authenticator
from appliance.craton.server.engine_port import EnginePort
from appliance.craton.server.limits import ServerLimits, TenantRateLimiter
from appliance.craton.server.metrics import ServerMetrics
from appliance.craton.types import TenantId

if TYPE_CHECKING:
    from appliance.craton.server.connection import ClientConnection

_log = logging.getLogger("craton.server")


class ServerShared:
    def __init__(
        self,
        *,
        engine: EnginePort,
        authenticator: Authenticator,
        limits: ServerLimits,
        metrics: ServerMetrics,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.engine = engine
        self.authenticator = authenticator
        self.limits = limits
        self.metrics = metrics
        self.executor = executor
        self.limiter = TenantRateLimiter(rate_per_s=limits.rate_per_tenant_per_s, burst=limits.rate_burst_per_tenant)
        self.connections: set[ClientConnection] = set()
        self.draining = False

    def admit(self, connection: ClientConnection) -> bool:
        if self.draining or len(self.connections) >= self.limits.connections_max:
            return False
        self.connections.add(connection)
        self.metrics.connection_count = len(self.connections)
        return True

    def forget(self, connection: ClientConnection) -> None:
        self.connections.discard(connection)
        self.metrics.connection_count = len(self.connections)

    def audit_auth(self, tenant_id: int, subject: str, ok: bool, reason: str) -> None:
        """Record an auth decision in the engine's audit log without blocking the loop.

        The reply does not wait for the audit write: a refusal must be fast even when the disk is
        slow, and the audit log orders entries by its own chain, not by reply time.
        """
        future = self.executor.submit(self.engine.audit_auth, TenantId(tenant_id), subject, ok, reason)
        future.add_done_callback(_log_audit_failure)


def _log_audit_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:
        _log.error("could not record an auth decision in the audit log: %s", error)
