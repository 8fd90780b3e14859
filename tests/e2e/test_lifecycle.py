"""The real appliance process: first start, restart, signals, nats-server crashes, SIGKILL mid-write."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import msgspec

from appliance.eventstore.port import PLATFORM_STREAM
from appliance.instance.service import SUBJECT
from appliance.readmodel.db import connect, content_digest
from appliance.runtime.offline import attach
from tests.e2e.harness import nats_children, run_cli, start_appliance, wait_until


def setup_token(data_dir: Path) -> str:
    result = run_cli("admin", "setup-token", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def rename(client: httpx.Client, token: str, name: str) -> httpx.Response:
    return client.patch("/api/v1/instance", json={"name": name}, headers={"Authorization": f"Bearer {token}"})


def stored_names(data_dir: Path) -> list[str]:
    """Every name the instance aggregate was ever given, read from the event store itself."""

    async def read() -> list[str]:
        async with attach(data_dir, exclusive=True) as attached:
            history = await attached.store.load(SUBJECT)
        return [msgspec.json.decode(e.payload)["name"] for e in history.events]

    return asyncio.run(read())


def test_first_start_restart_and_clean_stop(tmp_path: Path) -> None:
    """First start prints the setup token once; a restart keeps the instance; SIGTERM stops everything."""
    data = tmp_path / "data"
    first = start_appliance(data)
    token = setup_token(data)
    assert token in "".join(first.stdout)
    with first.client() as client:
        ready = client.get("/readyz", params={"verbose": ""})
        assert ready.status_code == 200
        assert {c["name"] for c in ready.json()["checks"]} == {
            "nats",
            "jetstream",
            "projection_lag",
            "projection_failures",
        }
        before = client.get("/api/v1/instance").json()
        assert before["setup_pending"] is True
        assert rename(client, token, "Plant 7").json()["name"] == "Plant 7"
    assert len(nats_children(data)) == 1
    assert first.stop() == 0
    assert wait_until(lambda: not nats_children(data), timeout_s=10)
    assert (data / "secrets").stat().st_mode & 0o777 == 0o700
    assert (data / "secrets" / "setup-token").stat().st_mode & 0o777 == 0o600
    assert (data / "secrets" / "nats.json").stat().st_mode & 0o777 == 0o600

    second = start_appliance(data)
    try:
        assert token not in "".join(second.stdout)  # printed once only
        with second.client() as client:
            after = client.get("/api/v1/instance").json()
        assert after["instance_id"] == before["instance_id"]
        assert after["name"] == "Plant 7"
        assert {s["name"]: s["events"] for s in after["streams"]}[PLATFORM_STREAM] == 2
    finally:
        assert second.stop() == 0


def test_sigkill_of_the_appliance_takes_nats_server_with_it(tmp_path: Path) -> None:
    """Even a SIGKILLed appliance leaves no nats-server behind (PR_SET_PDEATHSIG)."""
    data = tmp_path / "data"
    running = start_appliance(data)
    children = nats_children(data)
    assert len(children) == 1
    running.stop(signal.SIGKILL)
    assert wait_until(lambda: not children[0].is_running() or children[0].status() == "zombie", timeout_s=10)


def test_nats_server_killed_is_restarted_and_loses_nothing(tmp_path: Path) -> None:
    """Killing nats-server: /readyz fails, then recovers after the restart, and every acknowledged event remains."""
    data = tmp_path / "data"
    running = start_appliance(data)
    token = setup_token(data)
    acknowledged = []
    try:
        with running.client() as client:
            for i in range(5):
                assert rename(client, token, f"before-{i}").status_code == 200
                acknowledged.append(f"before-{i}")
            statuses: list[int] = []
            stop_polling = threading.Event()

            def poll() -> None:
                with httpx.Client(base_url=running.url, timeout=5) as poller:
                    while not stop_polling.is_set():
                        try:
                            statuses.append(poller.get("/readyz").status_code)
                        except httpx.HTTPError:
                            statuses.append(0)

            poller = threading.Thread(target=poll)
            poller.start()
            nats_children(data)[0].kill()
            assert wait_until(lambda: 503 in statuses, timeout_s=20)
            assert wait_until(lambda: statuses[-1] == 200, timeout_s=30)
            stop_polling.set()
            poller.join()
            instance = client.get("/api/v1/instance").json()
            assert instance["nats"]["restarts"] == 1
            assert instance["nats"]["state"] == "running"
            assert wait_until(lambda: rename(client, token, "after").status_code == 200, timeout_s=30)
            acknowledged.append("after")
            metrics = client.get("/metrics").text
            assert "craton_nats_restarts 1.0" in metrics
    finally:
        assert running.stop() == 0
    assert stored_names(data)[1:] == acknowledged


def test_sigkill_mid_stream_keeps_every_acknowledged_event_once(tmp_path: Path) -> None:
    """SIGKILL during a stream of appends: after restart each acknowledged event is there exactly once,
    and the live read model equals a rebuild from the events."""
    data = tmp_path / "data"
    running = start_appliance(data)
    token = setup_token(data)
    acknowledged: list[str] = []
    with running.client() as client:

        def writer() -> None:
            for i in range(10_000):
                try:
                    response = rename(client, token, f"name-{i}")
                except httpx.HTTPError:
                    return
                if response.status_code != 200:
                    return
                acknowledged.append(f"name-{i}")

        thread = threading.Thread(target=writer)
        thread.start()
        assert wait_until(lambda: len(acknowledged) >= 25, timeout_s=60)
        running.stop(signal.SIGKILL)
        thread.join(timeout=30)
    assert acknowledged

    restarted = start_appliance(data)
    with restarted.client() as client:
        assert wait_until(lambda: client.get("/api/v1/instance").json()["projection"]["lag"] == 0, timeout_s=30)
        projected_name = client.get("/api/v1/instance").json()["name"]
    assert restarted.stop() == 0

    names = stored_names(data)[1:]
    # Every acknowledged rename is stored exactly once and in order; at most one more (in flight when
    # the process died) may have landed without its acknowledgement reaching the client.
    assert names[: len(acknowledged)] == acknowledged
    assert len(names) - len(acknowledged) in (0, 1)
    assert len(set(names)) == len(names)
    assert projected_name == names[-1]

    live = connect(data / "readmodel.sqlite3", read_only=True)
    live_digest = content_digest(live)
    live.close()
    result = run_cli("projections", "rebuild", "--data-dir", str(data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["content_sha256"] == live_digest
    with sqlite3.connect(data / "readmodel.sqlite3") as check:
        assert check.execute("SELECT name FROM instance").fetchone()[0] == names[-1]
