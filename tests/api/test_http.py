"""The HTTP surface: problem+json for every kind of bad request, request ids, metrics, OpenAPI."""

from __future__ import annotations

import re

import httpx
import pytest

from appliance.api.app import REQUEST_BODY_BYTES_MAX


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) >= {"type", "title", "detail"}
    return body


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    """Responses, good and bad, carry a fresh x-request-id."""
    first = await client.get("/livez")
    second = await client.get("/no/such/route")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert_problem(second, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"name": ', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'{"nam": "x"}', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'{"name": 5}', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'["name"]', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'{"name": "' + b"x" * 65 + b'"}', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'{"name": "a\\u0000b"}', {"content-type": "application/json"}, 400, "invalid_input"),
        (b'{"name": "   "}', {"content-type": "application/json"}, 400, "invalid_input"),
        (b"\xff\xfe garbage", {"content-type": "application/json"}, 400, "invalid_input"),
    ],
)
async def test_malformed_rename_bodies(
    client: httpx.AsyncClient, token: str, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    """Malformed, hostile or out-of-range bodies are refused with problem+json and change nothing."""
    before_response = await client.get("/api/v1/instance")
    assert before_response.status_code == 200, before_response.text
    before = before_response.json()
    response = await client.patch(
        "/api/v1/instance", content=body, headers={**headers, "Authorization": f"Bearer {token}"}
    )
    assert_problem(response, status, code)
    after = (await client.get("/api/v1/instance")).json()
    assert after["name"] == before["name"]
    assert after["streams"] == before["streams"]


async def test_oversized_body_is_refused(client: httpx.AsyncClient, token: str) -> None:
    """A body over the limit is refused with 413 before it is parsed."""
    response = await client.patch(
        "/api/v1/instance",
        content=b'{"name": "' + b"x" * REQUEST_BODY_BYTES_MAX + b'"}',
        headers={"content-type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert_problem(response, 413, "body_too_large")


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Basic abc", "Bearer wrong-token", "Bearer " + "A" * 10_000]
)
async def test_rename_requires_the_setup_token(client: httpx.AsyncClient, authorization: str | None) -> None:
    """Without the right bearer credential, renaming is 401 and nothing changes."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.patch("/api/v1/instance", json={"name": "intruder"}, headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert (await client.get("/api/v1/instance")).json()["name"] == "craton"


async def test_rename_is_visible_immediately(client: httpx.AsyncClient, token: str) -> None:
    """A successful rename is projected before the reply (read your writes)."""
    response = await client.patch(
        "/api/v1/instance", json={"name": "  Lab  "}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Lab"
    assert (await client.get("/api/v1/instance")).json()["name"] == "Lab"


async def test_wrong_method_and_paging_parameters(client: httpx.AsyncClient) -> None:
    """Unsupported methods and out-of-range paging are clear 4xx problems."""
    assert_problem(await client.delete("/api/v1/instance"), 405, "method_not_allowed")
    assert_problem(await client.get("/api/v1/instance/logs", params={"limit": 0}), 400, "invalid_input")
    assert_problem(await client.get("/api/v1/instance/logs", params={"after": -1}), 400, "invalid_input")
    assert_problem(await client.get("/api/v1/instance/logs", params={"limit": "ten"}), 400, "invalid_input")


async def test_logs_are_paged_in_order(client: httpx.AsyncClient) -> None:
    """Log lines come oldest first and paging by `next` never repeats a line."""
    first = (await client.get("/api/v1/instance/logs", params={"limit": 1})).json()
    assert len(first["lines"]) == 1
    rest = (await client.get("/api/v1/instance/logs", params={"after": first["next"], "limit": 500})).json()
    seqs = [line["seq"] for line in first["lines"] + rest["lines"]]
    assert seqs == sorted(set(seqs))
    assert any("appliance ready" in line["message"] for line in first["lines"] + rest["lines"])


async def test_metrics_use_route_templates(client: httpx.AsyncClient) -> None:
    """Metrics are labelled by route template and count errors; lag and restarts are exported."""
    await client.get("/api/v1/instance")
    await client.get("/no/such/thing/12345")
    text = (await client.get("/metrics")).text
    assert 'craton_http_requests_total{method="GET",route="/api/v1/instance",status="200"}' in text
    assert 'route="unmatched"' in text
    assert "/no/such/thing" not in text
    assert 'craton_projection_lag_commits{stream="PLATFORM"} 0.0' in text
    assert "craton_nats_restarts 0.0" in text
    assert "craton_event_append_duration_seconds" in text


def append_count(metrics_text: str) -> float:
    line = next(
        line for line in metrics_text.splitlines() if line.startswith("craton_event_append_duration_seconds_count")
    )
    return float(line.split()[-1])


async def test_event_append_latency_is_measured(client: httpx.AsyncClient, token: str) -> None:
    """Every acknowledged append is observed in the append-latency histogram."""
    before = append_count((await client.get("/metrics")).text)
    assert before >= 1  # the instance record written on first start
    response = await client.patch(
        "/api/v1/instance", json={"name": "timed"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert append_count((await client.get("/metrics")).text) == before + 1


async def test_openapi_page_has_no_external_assets(client: httpx.AsyncClient) -> None:
    """The /schema page works air-gapped: no script, stylesheet, font or image from elsewhere."""
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page.text)
    assert "/api/v1/instance" in page.text


async def test_openapi_documents_every_route_and_its_errors(client: httpx.AsyncClient) -> None:
    """Every operation has an id, and every non-health operation documents its error replies."""
    spec = (await client.get("/schema/openapi.json")).json()
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert {path for path, _, _ in operations} >= {
        "/livez",
        "/readyz",
        "/metrics",
        "/api/v1/instance",
        "/api/v1/instance/logs",
    }
    for path, method, operation in operations:
        assert operation.get("operationId"), (path, method)
        if path.startswith("/api/"):
            assert any(code.startswith(("4", "5")) for code in operation["responses"]), (path, method)


async def test_failed_requests_are_logged_with_their_request_id(client: httpx.AsyncClient) -> None:
    """A failed request leaves a log line carrying the same request id as its response."""
    response = await client.get("/api/v1/nothing-here")
    request_id = response.headers["x-request-id"]
    lines = (await client.get("/api/v1/instance/logs", params={"limit": 500})).json()["lines"]
    matching = [line for line in lines if line["request_id"] == request_id]
    assert matching
    assert "status=404" in matching[0]["message"]
