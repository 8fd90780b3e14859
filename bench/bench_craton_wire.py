"""Point query by primary key through the wire (client → server → engine) against raw apsw.

Budget (issue 4): the wire rate reaches ≥ 30 % of raw apsw in-process for the same query on the
same data, and p99 latency at 1 client stays under 2 ms. Everything is measured in this run:

- raw apsw: `SELECT id, name, score FROM t WHERE id = ?` on a plain table in-process;
- engine in-process: `Engine.query` of the same SQL (no network), to show where time goes;
- wire, 1 client: the blocking `Client`, one request at a time (rate, p50, p99);
- wire, pipelined: the `AsyncClient` with `WINDOW` requests in flight on one connection;
- echo floor: a do-nothing asyncio echo server in another process, round trips of 60 bytes, one
  at a time and `WINDOW` per write: no server written in Python can beat it on this machine.

The replica runs as a real `craton replica --dev` child process, so client and server do not
share a GIL. Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from appliance.craton.client import AsyncClient, Client

ROWS = 10_000
WINDOW = 32
SQL = "SELECT id, name, score FROM t WHERE id = $1"


def _keys(count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(ROWS) for _ in range(count)]


def bench_raw_apsw(count: int) -> float:
    connection = apsw.Connection(":memory:")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER)")
    with connection:
        connection.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"name-{i}", i * 3) for i in range(ROWS)])
    keys = _keys(count)
    started = time.perf_counter()
    for key in keys:
        rows = connection.execute("SELECT id, name, score FROM t WHERE id = ?", (key,)).fetchall()
        assert rows[0][0] == key
    return count / (time.perf_counter() - started)


def _load(execute: Callable[[str, list[Any]], object]) -> None:
    execute("CREATE TABLE t (id BIGINT NOT NULL, name TEXT NOT NULL, score BIGINT, PRIMARY KEY (id))", [])
    for start in range(0, ROWS, 500):
        values = ", ".join(f"({i}, 'name-{i}', {i * 3})" for i in range(start, min(start + 500, ROWS)))
        execute(f"INSERT INTO t (id, name, score) VALUES {values}", [])


def bench_engine_in_process(count: int, data_dir: Path) -> float:
    from appliance.craton.engine import Engine
    from appliance.craton.types import TenantId

    engine = Engine.open(data_dir)
    tenant = TenantId(1)
    try:
        _load(lambda sql, params: engine.execute(tenant, sql, params))
        keys = _keys(count)
        started = time.perf_counter()
        for key in keys:
            result = engine.query(tenant, SQL, [key])
            assert result.rows[0][0] == key
        return count / (time.perf_counter() - started)
    finally:
        engine.close()


_ECHO_SERVER = """
import asyncio
class Echo(asyncio.Protocol):
    def connection_made(self, transport): self.transport = transport
    def data_received(self, data): self.transport.write(data)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def bench_echo_floor(count: int, message_bytes: int) -> tuple[float, float]:
    """The physical floor on this machine: a do-nothing asyncio echo server in another process.

    Returns (sequential round trips per second, pipelined messages per second with WINDOW per write).
    """
    process = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    message = b"x" * message_bytes
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            for _ in range(count):
                sock.sendall(message)
                _receive_exactly(sock, message_bytes)
            sequential = count / (time.perf_counter() - started)
            burst = message * WINDOW
            started = time.perf_counter()
            for _ in range(count // WINDOW):
                sock.sendall(burst)
                _receive_exactly(sock, len(burst))
            pipelined = (count // WINDOW) * WINDOW / (time.perf_counter() - started)
    finally:
        process.kill()
        process.wait()
    return sequential, pipelined


def _receive_exactly(sock: socket.socket, size: int) -> None:
    while size > 0:
        size -= len(sock.recv(size))


def _start_replica(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    command = [sys.executable, "-m", "appliance.craton.cli", "replica", "--dev", "--data-dir", str(data_dir)]
    command += ["--listen", "127.0.0.1:0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready" not in line:
        process.kill()
        raise SystemExit(f"replica did not start: {line!r}")
    address = line.split("listen=")[1].split()[0]
    token = (data_dir / "dev-token").read_text()
    return process, address, token


def bench_wire_sequential(client: Client, count: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    keys = _keys(count, seed=11)
    started = time.perf_counter()
    for key in keys:
        begun = time.perf_counter()
        result = client.query(SQL, [key])
        latencies.append(time.perf_counter() - begun)
        assert result.rows[0][0] == key
    rate = count / (time.perf_counter() - started)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return rate, statistics.median(latencies), p99


async def _pipelined(address: str, token: str, count: int) -> float:
    async with AsyncClient(address, token=token) as client:
        await client.connect()
        keys = _keys(count, seed=13)
        queue = iter(keys)

        async def worker() -> None:
            for key in queue:
                result = await client.query(SQL, [key])
                assert result.rows[0][0] == key

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(WINDOW)))
        return count / (time.perf_counter() - started)


def main(quick: bool) -> None:
    count = 2_000 if quick else 20_000
    raw = bench_raw_apsw(count)
    echo_sequential, echo_pipelined = bench_echo_floor(count, message_bytes=60)
    with tempfile.TemporaryDirectory(prefix="craton-bench-wire-") as scratch:
        in_process = bench_engine_in_process(count, Path(scratch) / "in-process")
        process, address, token = _start_replica(Path(scratch) / "replica")
        try:
            client = Client(address, token=token)
            _load(client.execute)
            client.query(SQL, [1])
            sequential, p50, p99 = bench_wire_sequential(client, count)
            client.close()
            pipelined = asyncio.run(_pipelined(address, token, count))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"cpus={os.cpu_count()} queries={count} rows={ROWS}")
    print(f"raw apsw in-process          {raw:12,.0f} q/s   (baseline)")
    print(f"engine.query in-process      {in_process:12,.0f} q/s   {in_process / raw:6.1%} of raw")
    print(f"wire, 1 client sequential    {sequential:12,.0f} q/s   {sequential / raw:6.1%} of raw")
    print(f"wire, pipelined ({WINDOW} in flight) {pipelined:10,.0f} q/s   {pipelined / raw:6.1%} of raw")
    print(f"echo floor, sequential       {echo_sequential:12,.0f} rt/s  {echo_sequential / raw:6.1%} of raw")
    print(f"echo floor, {WINDOW} per write     {echo_pipelined:12,.0f} msg/s {echo_pipelined / raw:6.1%} of raw")
    print(
        f"wire vs floor: sequential {sequential / echo_sequential:.0%} of echo, pipelined {pipelined / echo_pipelined:.0%}"
        f" of echo; pipelined wire is {pipelined / in_process:.0%} of engine.query in-process"
    )
    print(f"wire latency at 1 client     p50 {p50 * 1e3:.3f} ms   p99 {p99 * 1e3:.3f} ms (budget p99 < 2 ms)")
    best = max(sequential, pipelined)
    verdict = "meets" if best >= 0.3 * raw and p99 < 0.002 else "MISSES"
    print(f"budget: best wire rate {best / raw:.1%} of raw apsw (≥ 30 %), p99 {p99 * 1e3:.2f} ms → {verdict}")
