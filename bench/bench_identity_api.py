"""Identity API budgets (issue 3): authenticated `GET /api/v1/users/me` against a bare handler, and
login latency.

Both targets are served by the same in-process appliance setup (the app factory with its request
observer and error handlers, uvicorn on a loopback socket with TCP_NODELAY), in the same run:
the baseline is a bare Litestar handler returning a small JSON object, added next to the real
routes; the target is `users/me` with a real access token, which on every request verifies the
token, reads the live session from NATS KV, reads the user's row and takes a rate-limit token.
The load comes from a separate client process (raw HTTP/1.1 keep-alive, a few connections), so
the client's own cost does not hide the server's. Rounds interleave baseline and target; medians
are compared.

Login latency is measured with the production argon2id parameters (`ARGON2_PARAMS`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from litestar import get

from appliance.api.app import create_app
from appliance.identity.auth.passwords import ARGON2_PARAMS
from appliance.identity.auth.ratelimit import RateLimit
from appliance.identity.services import IdentitySettings
from appliance.runtime.boot import Appliance
from appliance.runtime.config import Config
from appliance.runtime.modules import route_handlers

PASSWORD = "bench password of a sensible length"
UNLIMITED = RateLimit(burst=10**9, per_s=10**9)


@get("/bench/bare", sync_to_thread=False, include_in_schema=False)
def bare() -> dict[str, object]:
    return {"user_id": "0190aaaa-0000-7000-8000-000000000000", "email": "bench@example.org", "instance_admin": True}


def _load(port: int, path: str, token: str, requests: int, connections: int, out: Any) -> None:
    """Client process: `requests` GETs over `connections` keep-alive connections; puts req/s."""

    async def worker(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
        writer.close()

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(worker(requests // connections) for _ in range(connections)))
        return (requests // connections * connections) / (time.perf_counter() - started)

    out.put(asyncio.run(run()))


def _rate(port: int, path: str, token: str, requests: int, connections: int) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_load, args=(port, path, token, requests, connections, queue))
    process.start()
    rate = float(queue.get(timeout=300))
    process.join(timeout=30)
    return rate


async def _serve_baseline(appliance: Appliance) -> tuple[int, Any]:
    """The bare handler on the same app factory and server setup as the appliance's own routes."""
    import uvicorn

    assert appliance.services is not None
    app = create_app(appliance.services, [*route_handlers(), bare])
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    return sock.getsockname()[1], (server, task)


async def _bootstrap(http: httpx.AsyncClient, setup_token: str) -> str:
    reply = await http.post(
        "/api/v1/auth/signup",
        json={
            "email": "bench@example.org",
            "password": PASSWORD,
            "display_name": "Bench",
            "org_name": "Bench",
            "setup_token": setup_token,
        },
    )
    reply.raise_for_status()
    token: str = reply.json()["access_token"]
    return token


async def _login_latency(http: httpx.AsyncClient, times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        reply = await http.post("/api/v1/auth/login", json={"email": "bench@example.org", "password": PASSWORD})
        seconds.append(time.perf_counter() - started)
        reply.raise_for_status()
    return seconds


async def _run(quick: bool) -> None:
    requests, rounds, connections = (2_000, 3, 4) if quick else (10_000, 5, 4)
    settings = IdentitySettings(login_per_ip=UNLIMITED, login_per_account=UNLIMITED, api_per_principal=UNLIMITED)
    with tempfile.TemporaryDirectory() as data:
        appliance = Appliance(Config(data_dir=Path(data), http="127.0.0.1:0", identity=settings), log_to_stderr=False)
        await appliance.start()
        try:
            async with httpx.AsyncClient(base_url=appliance.url, timeout=30) as http:
                token = await _bootstrap(http, appliance.setup_token or "")
                logins = await _login_latency(http, 3 if quick else 7)
            port = int(appliance.url.rsplit(":", 1)[1])
            base_port, (server, task) = await _serve_baseline(appliance)
            bare_rates, me_rates = [], []
            loop = asyncio.get_running_loop()
            for _ in range(rounds):
                bare_rates.append(
                    await loop.run_in_executor(None, _rate, base_port, "/bench/bare", token, requests, connections)
                )
                me_rates.append(
                    await loop.run_in_executor(None, _rate, port, "/api/v1/users/me", token, requests, connections)
                )
            server.should_exit = True
            await task
        finally:
            await appliance.stop()
    _report(bare_rates, me_rates, logins)


def _report(bare_rates: list[float], me_rates: list[float], logins: list[float]) -> None:
    bare_median, me_median = statistics.median(bare_rates), statistics.median(me_rates)
    print(
        f"bare Litestar handler (baseline)   {bare_median:8.0f} req/s  (rounds: {', '.join(f'{r:.0f}' for r in bare_rates)})"
    )
    print(
        f"authenticated GET /api/v1/users/me {me_median:8.0f} req/s  (rounds: {', '.join(f'{r:.0f}' for r in me_rates)})"
    )
    print(f"ratio                              {me_median / bare_median:8.2f}   (budget: >= 0.60)")
    added_us = (1 / me_median - 1 / bare_median) * 1e6
    print(
        f"added per request                  {added_us:8.0f} µs (token + live session in KV + user row + limit + handler)"
    )
    params = ARGON2_PARAMS
    print(
        f"login latency (argon2id m={params.memory_kib // 1024} MiB, t={params.time_cost}, p={params.parallelism}): "
        f"median {statistics.median(logins) * 1000:.0f} ms, min {min(logins) * 1000:.0f} ms, max {max(logins) * 1000:.0f} ms"
    )


def main(quick: bool) -> None:
    asyncio.run(_run(quick))
