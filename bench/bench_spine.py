"""Spine budgets (issue 2): start-up, append rate, projection lag, rebuild rate, idle memory.

Every figure is printed next to a baseline measured in the same run on the same machine:
raw nats-py publishes (same server, same `sync_interval: always`), a raw nats-py ordered-consumer
replay, and the bare interpreter / nats-server start-up.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apsw
import httpx
import psutil

from appliance.eventstore.binary import verified_binary
from appliance.eventstore.jetstream import JetStreamEventStore, connect
from appliance.eventstore.port import PLATFORM_STREAM, StoredCommit, platform_subject
from appliance.eventstore.supervisor import NatsSupervisor
from appliance.kernel.envelope import EventEnvelope
from appliance.kernel.structs import to_json
from appliance.readmodel.db import connect as connect_db
from appliance.readmodel.db import migrate
from appliance.readmodel.projector import ProjectorRunner
from appliance.readmodel.rebuild import rebuild
from appliance.runtime.system import SystemClock
from tests.eventstore.contract import commit_of


class RowPerEvent:
    name = "bench"
    types = frozenset({"ThingNamed"})

    def __init__(self) -> None:
        self.applied_at: dict[int, float] = {}
        self._ready: set[int] = set()

    def apply(self, db: apsw.Connection, envelope: EventEnvelope, stored: StoredCommit) -> None:
        if id(db) not in self._ready:  # a real projection's table comes from a migration
            db.execute("CREATE TABLE IF NOT EXISTS bench (seq INTEGER PRIMARY KEY, payload BLOB)")
            self._ready.add(id(db))
        db.execute("INSERT OR REPLACE INTO bench VALUES (?, ?)", (stored.sequence, bytes(envelope.payload)))
        self.applied_at[stored.sequence] = time.perf_counter()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def startup(runs: int) -> None:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data:
            started = time.perf_counter()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "appliance",
                    "up",
                    "--headless",
                    "--data-dir",
                    data,
                    "--http",
                    "127.0.0.1:18499",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            with httpx.Client(timeout=1) as client:
                while True:
                    try:
                        if client.get("http://127.0.0.1:18499/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.01)
            times.append(time.perf_counter() - started)
            process.terminate()
            process.wait()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import appliance.runtime.cli"], check=True)
    imports = time.perf_counter() - started
    print(
        f"start-up to /readyz 200 (fresh data dir, from source): median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s over {runs} runs (budget 2 s); of which interpreter+imports {imports:.2f} s"
    )


async def append_rate(store: JetStreamEventStore, client: object, count: int, rounds: int) -> None:
    js = client.jetstream()  # type: ignore[attr-defined]
    # Raw messages go to a stream of their own (same server, same durability) so that the
    # rebuild below replays only real commits.
    await js.add_stream(name="RAWBENCH", subjects=["rawbench.>"])
    raw_bytes = len(to_json(commit_of("x" * 64)))
    raw_rates, our_rates = [], []
    for round_number in range(rounds):  # interleaved, so both see the same machine load
        started = time.perf_counter()
        for i in range(count):
            await js.publish(
                f"rawbench.thing.{i}", b"x" * raw_bytes, headers={"Nats-Msg-Id": f"raw-{round_number}-{i}"}
            )
        raw_rates.append(count / (time.perf_counter() - started))
        started = time.perf_counter()
        for i in range(count):
            subject = platform_subject("bench", "thing", f"{round_number}-{i}")
            await store.append(subject, commit_of("x" * 64), expected_last_sequence=0)
        our_rates.append(count / (time.perf_counter() - started))
    raw, ours = statistics.median(raw_rates), statistics.median(our_rates)
    print(
        f"append (sequential, sync_interval always, {rounds} interleaved rounds of {count}): event store "
        f"{ours:,.0f}/s vs raw js.publish {raw:,.0f}/s = {ours / raw:.0%} (budget ≥ 60 %)"
    )


async def projection_lag(store: JetStreamEventStore, db_path: Path, seconds: float) -> None:
    projection = RowPerEvent()
    db = connect_db(db_path)
    migrate(db)
    runner = ProjectorRunner(store, db, [projection], SystemClock())
    await runner.start()
    acked: dict[int, float] = {}
    interval = 1 / 500
    next_at = time.perf_counter()
    deadline = next_at + seconds
    i = 0
    while time.perf_counter() < deadline:
        result = await store.append(platform_subject("lag", "thing", str(i)), commit_of("y"), expected_last_sequence=0)
        acked[result.sequence] = time.perf_counter()
        i += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await runner.wait_for(PLATFORM_STREAM, max(acked), timeout_s=30)
    await runner.stop()
    lags = [(projection.applied_at[s] - t) * 1000 for s, t in acked.items() if s in projection.applied_at]
    rate = len(acked) / seconds
    print(
        f"projection lag at {rate:,.0f} events/s ({len(lags)} events): p50 {percentile(lags, 0.5):.2f} ms, "
        f"p99 {percentile(lags, 0.99):.2f} ms (budget p99 < 10 ms)"
    )
    db.close()


async def raw_replay(client: object, last: int) -> float:
    js = client.jetstream()  # type: ignore[attr-defined]
    done = asyncio.Event()
    seen = 0

    async def on_message(msg: object) -> None:
        nonlocal seen
        seen += 1
        if seen >= last:
            done.set()

    started = time.perf_counter()
    sub = await js.subscribe("platform.>", stream=PLATFORM_STREAM, ordered_consumer=True, cb=on_message)
    await done.wait()
    elapsed = time.perf_counter() - started
    await sub.unsubscribe()
    return last / elapsed


async def rebuild_rate(store: JetStreamEventStore, client: object, db_path: Path, rounds: int) -> None:
    last = next(s for s in await store.streams() if s.name == PLATFORM_STREAM).last_sequence
    raw_rates, our_rates = [], []
    for _ in range(rounds):
        raw_rates.append(await raw_replay(client, last))
        started = time.perf_counter()
        await rebuild(store, db_path, [RowPerEvent()])
        our_rates.append(last / (time.perf_counter() - started))
    raw, ours = statistics.median(raw_rates), statistics.median(our_rates)
    print(
        f"rebuild of {last:,} commits ({rounds} interleaved rounds): {ours:,.0f}/s vs raw ordered-consumer "
        f"replay {raw:,.0f}/s = {ours / raw:.0%} (budget ≥ 50 %)"
    )


async def in_process(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        supervisor = NatsSupervisor(data_dir=Path(tmp), binary=verified_binary(), clock=SystemClock())
        await supervisor.start()
        client = await connect(supervisor.url, user=supervisor.user, password=supervisor.password)
        store = JetStreamEventStore(client)
        await store.ensure_stream(PLATFORM_STREAM)
        await append_rate(store, client, 300 if quick else 1500, 3 if quick else 5)
        await projection_lag(store, Path(tmp) / "lag.sqlite3", 2 if quick else 10)
        await rebuild_rate(store, client, Path(tmp) / "rebuilt.sqlite3", 3)
        await client.close()
        await supervisor.stop()


def idle_memory() -> None:
    with tempfile.TemporaryDirectory() as data:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "up", "--headless", "--data-dir", data, "--http", "127.0.0.1:18498"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(6)
        parent = psutil.Process(process.pid)
        rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
        process.terminate()
        process.wait()
    print(f"idle resident memory, appliance + nats-server: {rss / 2**20:.0f} MiB (budget < 200 MB)")


def main(quick: bool) -> None:
    startup(2 if quick else 5)
    asyncio.run(in_process(quick))
    idle_memory()
