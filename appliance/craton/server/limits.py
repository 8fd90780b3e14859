"""The server's limits: a per-tenant token bucket and the limit values themselves.

This module owns the arithmetic of rate limiting and the named defaults. It must never sleep or
queue a request: a request over the limit is refused at once with RateLimited (code 14), so a
noisy tenant cannot build a backlog that delays the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import msgspec

CONNECTIONS_MAX_DEFAULT: Final = 1024
REQUEST_BYTES_MAX_DEFAULT: Final = 8 * 1024 * 1024
IDLE_TIMEOUT_S_DEFAULT: Final = 300.0
RATE_PER_TENANT_PER_S_DEFAULT: Final = 50_000.0
RATE_BURST_PER_TENANT_DEFAULT: Final = 100_000.0
IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT: Final = 256
DRAIN_TIMEOUT_S_DEFAULT: Final = 30.0
TENANT_BUCKETS_MAX: Final = 100_000


class ServerLimits(msgspec.Struct, frozen=True, kw_only=True):
    connections_max: int = CONNECTIONS_MAX_DEFAULT
    request_bytes_max: int = REQUEST_BYTES_MAX_DEFAULT
    idle_timeout_s: float = IDLE_TIMEOUT_S_DEFAULT
    rate_per_tenant_per_s: float = RATE_PER_TENANT_PER_S_DEFAULT
    rate_burst_per_tenant: float = RATE_BURST_PER_TENANT_DEFAULT
    # Beyond this many unanswered requests the connection stops reading, which pushes back on a
    # client that pipelines faster than the engine answers (TCP flow control does the rest).
    in_flight_per_connection_max: int = IN_FLIGHT_PER_CONNECTION_MAX_DEFAULT
    drain_timeout_s: float = DRAIN_TIMEOUT_S_DEFAULT

    def __post_init__(self) -> None:
        if self.connections_max < 1 or self.request_bytes_max < 64 or self.in_flight_per_connection_max < 1:
            raise ValueError("connections_max, request_bytes_max and in_flight_per_connection_max must be positive")
        if self.idle_timeout_s <= 0 or self.rate_per_tenant_per_s <= 0 or self.rate_burst_per_tenant < 1:
            raise ValueError("idle timeout and rate must be positive and burst at least 1")


class TenantRateLimiter:
    """One token bucket per tenant: `rate_per_s` tokens refill per second up to `burst`.

    Only the event-loop thread calls it, so it needs no lock. Buckets of idle tenants are
    dropped when the table is full (a full bucket is the same as no bucket).
    """

    def __init__(self, *, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def try_acquire(self, tenant_id: int) -> float:
        """Take one token; return 0.0 when allowed, else the seconds until a token is available."""
        now = self._clock()
        tokens, stamp = self._buckets.get(tenant_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - stamp) * self._rate_per_s)
        if tokens < 1.0:
            self._buckets[tenant_id] = (tokens, now)
            return (1.0 - tokens) / self._rate_per_s
        if tenant_id not in self._buckets and len(self._buckets) >= TENANT_BUCKETS_MAX:
            self._forget_full_buckets(now)
        self._buckets[tenant_id] = (tokens - 1.0, now)
        return 0.0

    def _forget_full_buckets(self, now: float) -> None:
        full = [
            t
            for t, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self._rate_per_s >= self._burst
        ]
        for tenant_id in full:
            del self._buckets[tenant_id]
        # Still full of active tenants: forget the longest-known one rather than grow without bound.
        while len(self._buckets) >= TENANT_BUCKETS_MAX:
            del self._buckets[next(iter(self._buckets))]
