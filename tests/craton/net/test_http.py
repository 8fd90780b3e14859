"""The HTTP side port over real HTTP, with the REAL engine: /livez, /readyz, /metrics and bad requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.craton.client import AsyncClient
from appliance.craton.server import ReplicaServer
from tests.craton.net.conftest import address_of, engine_server

TokenFor = Callable[..., str]


def _base(server: ReplicaServer) -> str:
    assert server.http_address is not None
    return f"http://{server.http_address[0]}:{server.http_address[1]}"


async def test_livez_readyz_and_metrics(tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor) -> None:
    """A healthy replica is live and ready (journal writable, disk free, projections caught up); metrics count requests."""
    async with engine_server(tmp_path, signing_key) as (server, _), httpx.AsyncClient(base_url=_base(server)) as http:
        async with AsyncClient(address_of(server), token=token_for(1)) as client:
            await client.execute("CREATE TABLE t (id BIGINT NOT NULL, PRIMARY KEY (id))")
            await client.query("SELECT id FROM t")
        live = await http.get("/livez")
        assert (live.status_code, live.json()) == (200, {"live": True})
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"journal_writable": True, "disk_free": True, "projections_caught_up": True}
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert 'craton_requests_total{op="Execute",outcome="ok"} 1.0' in text
        assert 'craton_requests_total{op="Query",outcome="ok"} 1.0' in text
        assert "craton_request_seconds_bucket" in text
        assert "craton_connections_active" in text


async def test_readyz_fails_when_the_disk_is_short(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: TokenFor
) -> None:
    """With less free disk than required, /readyz answers 503 and names the failed check."""
    async with (
        engine_server(tmp_path, signing_key, disk_free_bytes_min=2**62) as (server, _),
        httpx.AsyncClient(base_url=_base(server)) as http,
    ):
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["ready"] is False
        assert body["checks"]["disk_free"] is False
        assert body["checks"]["journal_writable"] is True
        assert "required" in body["detail"]["disk_free"]


async def test_the_side_port_refuses_what_it_does_not_serve(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """Unknown paths get 404, other methods 405, a garbage request line 400, an oversized head 400."""
    async with engine_server(tmp_path, signing_key) as (server, _), httpx.AsyncClient(base_url=_base(server)) as http:
        assert (await http.get("/admin")).status_code == 404
        assert (await http.post("/readyz")).status_code == 405
        assert server.http_address is not None
        for raw in (b"NONSENSE\r\n\r\n", b"GET /livez HTTP/1.1\r\nX: " + b"a" * 9_000 + b"\r\n\r\n"):
            reader, writer = await asyncio.open_connection(*server.http_address)
            writer.write(raw)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            assert answer.startswith(b"HTTP/1.1 400"), answer[:40]
            writer.close()
            await writer.wait_closed()


async def test_an_engine_that_cannot_report_is_not_ready(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """If the engine's status() fails, /readyz says 503 with the reason and /metrics still serves the server's own."""
    from tests.craton.net.conftest import EngineDouble, running_server

    class BrokenStatus(EngineDouble):
        def status(self) -> dict[str, object]:
            raise OSError("disk vanished")

    async with (
        running_server(BrokenStatus(), signing_key, tmp_path, http=True) as server,
        httpx.AsyncClient(base_url=_base(server)) as http,
    ):
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["detail"]["engine_status"] == "OSError: disk vanished"
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "craton_connections_active" in metrics.text
