"""Prometheus metrics of one replica's server, in a registry of its own.

This module owns metric names and labels. It must never register into prometheus_client's global
registry: several replicas (and tests) live in one process, and each must report only itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Request latencies on loopback are tens of microseconds to tens of milliseconds.
_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "craton_requests",
            "Requests answered, by operation and outcome",
            ["op", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "craton_request_seconds",
            "Time from decoding a request to writing its response",
            ["op"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        # Gauges read at scrape time: no lock taken per request or per connection.
        self.in_flight_count = 0
        self.connection_count = 0
        in_flight = Gauge("craton_requests_in_flight", "Requests being executed", registry=self.registry)
        in_flight.set_function(lambda: self.in_flight_count)
        connections = Gauge("craton_connections_active", "Open client connections", registry=self.registry)
        connections.set_function(lambda: self.connection_count)
        self.connections_refused = Counter(
            "craton_connections_refused",
            "Connections refused or closed by a limit",
            ["reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter("craton_auth_failures", "Refused credentials", registry=self.registry)
        self.rate_limited = Counter("craton_rate_limited", "Requests refused by the rate limit", registry=self.registry)
        self.frame_errors = Counter(
            "craton_frame_errors", "Connections closed for a malformed frame", registry=self.registry
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._engine = Gauge("craton_engine", "Numeric engine status fields", ["field"], registry=self.registry)

    def observe_request(self, op: str, outcome: str, seconds: float) -> None:
        """Count and time one answered request. Label children are cached: `labels()` is slow."""
        children = self._children.get((op, outcome))
        if children is None:
            children = (self.requests.labels(op=op, outcome=outcome), self.latency.labels(op=op))
            self._children[(op, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self, engine_status: Mapping[str, object]) -> bytes:
        """Prometheus text exposition, with the engine's numeric status fields refreshed first."""
        for field, value in engine_status.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._engine.labels(field=field).set(value)
        return generate_latest(self.registry)
