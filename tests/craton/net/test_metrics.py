"""The scrape-time request metrics: counts by op/outcome and a cumulative latency histogram."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from appliance.craton.server.metrics import ServerMetrics


def test_request_metrics_are_exposed_as_counters_and_cumulative_histograms() -> None:
    """Observations land in the right `le` buckets (boundaries inclusive), cumulatively, with count and sum."""
    metrics = ServerMetrics()
    for seconds in (0.0001, 0.0002, 0.003, 7.0):
        metrics.observe_request("Query", "ok", seconds)
    metrics.observe_request("Query", "TableNotFound", 0.0001)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render({"applied_op": 12, "streams": {"1": 3}}).decode())
        for s in family.samples
    }
    assert samples[("craton_requests_total", (("op", "Query"), ("outcome", "ok")))] == 4
    assert samples[("craton_requests_total", (("op", "Query"), ("outcome", "TableNotFound")))] == 1
    bucket = "craton_request_seconds_bucket"
    assert samples[(bucket, (("le", "0.0001"), ("op", "Query")))] == 2
    assert samples[(bucket, (("le", "0.00025"), ("op", "Query")))] == 3
    assert samples[(bucket, (("le", "0.005"), ("op", "Query")))] == 4
    assert samples[(bucket, (("le", "5.0"), ("op", "Query")))] == 4
    assert samples[(bucket, (("le", "+Inf"), ("op", "Query")))] == 5
    assert samples[("craton_request_seconds_count", (("op", "Query"),))] == 5
    assert samples[("craton_engine", (("field", "applied_op"),))] == 12
