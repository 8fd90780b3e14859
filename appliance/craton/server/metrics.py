"""Prometheus metrics of one replica's server, in a registry of its own.

This module owns metric names and labels. It must never register into prometheus_client's global
registry: several replicas (and tests) live in one process, and each must report only itself.

Per-request figures (count by op and outcome, latency histogram by op) are plain counters kept on
the event-loop thread and turned into Prometheus families only when scraped: prometheus_client's
own Counter and Histogram take a lock per update, which cost more than the rest of a request's
bookkeeping together.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# Request latencies on loopback are tens of microseconds to tens of milliseconds.
_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class RequestStats(Collector):
    """Request counts and latencies, updated by the loop thread, exported at scrape time."""

    def __init__(self) -> None:
        self.answered: dict[tuple[str, str], int] = {}
        # Per op: one count per bucket (the last is +Inf), and the sum of seconds.
        self.buckets: dict[str, list[int]] = {}
        self.seconds_sum: dict[str, float] = {}

    def observe(self, op: str, outcome: str, seconds: float) -> None:
        key = (op, outcome)
        self.answered[key] = self.answered.get(key, 0) + 1
        counts = self.buckets.get(op)
        if counts is None:
            counts = self.buckets[op] = [0] * (len(_LATENCY_BUCKETS_S) + 1)
            self.seconds_sum[op] = 0.0
        counts[bisect_left(_LATENCY_BUCKETS_S, seconds)] += 1
        self.seconds_sum[op] += seconds

    def collect(self) -> Iterator[Metric]:
        answered = CounterMetricFamily(
            "craton_requests", "Requests answered, by operation and outcome", labels=["op", "outcome"]
        )
        for (op, outcome), count in sorted(self.answered.items()):
            answered.add_metric([op, outcome], count)
        yield answered
        latency = HistogramMetricFamily(
            "craton_request_seconds", "Time from decoding a request to writing its response", labels=["op"]
        )
        for op, counts in sorted(self.buckets.items()):
            bounds = [*(str(b) for b in _LATENCY_BUCKETS_S), "+Inf"]
            cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
            latency.add_metric([op], list(zip(bounds, cumulative, strict=True)), self.seconds_sum[op])
        yield latency


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = RequestStats()
        self.registry.register(self._requests)
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
        self._engine = Gauge("craton_engine", "Numeric engine status fields", ["field"], registry=self.registry)

    def observe_request(self, op: str, outcome: str, seconds: float) -> None:
        """Count and time one answered request (event-loop thread only)."""
        self._requests.observe(op, outcome, seconds)

    def render(self, engine_status: Mapping[str, object]) -> bytes:
        """Prometheus text exposition, with the engine's numeric status fields refreshed first."""
        for field, value in engine_status.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._engine.labels(field=field).set(value)
        return generate_latest(self.registry)
