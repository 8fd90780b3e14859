"""Prometheus metrics of the appliance, in a registry of its own.

Request metrics are labelled by route template (never by raw path, which would let a caller
create unbounded series). Gauges that mirror live state (projection lag, NATS restarts) are read
at scrape time from a `StatusSource`, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LiveGauges(Collector):
    """Gauges computed at scrape time from callables returning {labels: value}."""

    def __init__(
        self, lag: Callable[[], dict[str, int]], nats_restarts: Callable[[], int], failed: Callable[[], int]
    ) -> None:
        self._lag = lag
        self._nats_restarts = nats_restarts
        self._failed = failed

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "craton_projection_lag_commits", "Commits in the stream not yet projected", labels=["stream"]
        )
        for stream, value in sorted(self._lag().items()):
            lag.add_metric([stream], value)
        yield lag
        yield GaugeMetricFamily(
            "craton_nats_restarts",
            "Times the embedded nats-server was restarted",
            value=self._nats_restarts(),
        )
        yield GaugeMetricFamily(
            "craton_projection_failed_events", "Events a projection failed on", value=self._failed()
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "craton_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.requests = Counter(
            "craton_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.errors = Counter(
            "craton_http_errors", "HTTP requests answered 5xx", ["method", "route"], registry=self.registry
        )
        self.append_seconds = Histogram(
            "craton_event_append_duration_seconds",
            "Latency of appending a commit to the event store",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def attach_live(
        self, lag: Callable[[], dict[str, int]], nats_restarts: Callable[[], int], failed: Callable[[], int]
    ) -> None:
        self.registry.register(LiveGauges(lag, nats_restarts, failed))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.request_seconds.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()
        if status >= 500:
            self.errors.labels(method, route).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_label(scope: dict[str, Any]) -> str:
    template = scope.get("path_template")
    return str(template) if template else "unmatched"
