"""The command line: --version, doctor, projections status, and the external-NATS mode."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from appliance import __version__
from appliance.eventstore.supervisor import NatsSupervisor
from appliance.runtime.system import SystemClock
from tests.e2e.harness import run_cli, start_appliance


def test_version() -> None:
    """`craton --version` prints the package version."""
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"craton {__version__}"


def test_every_command_has_help() -> None:
    """Each command answers --help with exit 0."""
    for command in (
        ["up"],
        ["tui"],
        ["projections", "status"],
        ["projections", "rebuild"],
        ["admin", "setup-token"],
        ["doctor"],
    ):
        result = run_cli(*command, "--help")
        assert result.returncode == 0, command
        assert "usage: craton" in result.stdout


def test_doctor_on_a_fresh_and_a_running_data_dir(tmp_path: Path) -> None:
    """doctor passes on a usable data dir, flags loose permissions, and knows a running appliance."""
    data = tmp_path / "data"
    result = run_cli("doctor", "--data-dir", str(data), "--http", "127.0.0.1:0", "--json")
    assert result.returncode == 0, result.stdout
    findings = {f["name"]: f for f in json.loads(result.stdout)}
    assert findings["nats_binary"]["status"] == "ok"
    assert findings["data_dir"]["status"] == "ok"
    running = start_appliance(data)
    try:
        (data / "secrets" / "nats.json").chmod(0o644)
        result = run_cli("doctor", "--data-dir", str(data), "--json")
        findings = {f["name"]: f for f in json.loads(result.stdout)}
        assert result.returncode == 1
        assert findings["permissions"]["status"] == "fail"
        assert findings["appliance"]["detail"] == "running"
    finally:
        (data / "secrets" / "nats.json").chmod(0o600)
        assert running.stop() == 0


def test_projections_status_running_and_stopped_and_rebuild_refused_while_running(tmp_path: Path) -> None:
    """status works with the appliance up or down; rebuild refuses to run under a live appliance."""
    data = tmp_path / "data"
    running = start_appliance(data)
    try:
        live = run_cli("projections", "status", "--data-dir", str(data), "--json")
        assert live.returncode == 0, live.stderr
        report = json.loads(live.stdout)
        assert report["appliance_running"] is True
        assert [s["stream"] for s in report["streams"]] == ["PLATFORM"]
        refused = run_cli("projections", "rebuild", "--data-dir", str(data))
        assert refused.returncode == 1
        assert "stop it first" in refused.stderr
    finally:
        assert running.stop() == 0
    stopped = run_cli("projections", "status", "--data-dir", str(data))
    assert stopped.returncode == 0
    assert re.search(r"PLATFORM\s+1\s+1\s+0\s+1", stopped.stdout), stopped.stdout


def test_projections_status_on_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    """Pointing a tool at a folder with no appliance data says so in one line."""
    result = run_cli("projections", "status", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "holds no appliance data" in result.stderr


def test_external_nats(tmp_path: Path) -> None:
    """--nats-url runs the appliance against a NATS it did not start (and starts no nats-server)."""

    async def serve() -> NatsSupervisor:
        from appliance.eventstore.binary import verified_binary

        supervisor = NatsSupervisor(data_dir=tmp_path / "external", binary=verified_binary(), clock=SystemClock())
        await supervisor.start()
        return supervisor

    loop = asyncio.new_event_loop()
    supervisor = loop.run_until_complete(serve())
    try:
        url = f"nats://{supervisor.user}:{supervisor.password}@127.0.0.1:{supervisor.url.rsplit(':', 1)[1]}"
        running = start_appliance(tmp_path / "data", "--nats-url", url)
        try:
            with running.client() as client:
                assert client.get("/readyz").status_code == 200
                nats = client.get("/api/v1/instance").json()["nats"]
            assert nats["mode"] == "external"
            assert supervisor.password not in nats["url"]
            assert nats["pid"] is None
            assert not (tmp_path / "data" / "nats" / "nats.conf").exists()
            tools_env = {"CRATON_NATS_URL": url}
            status = run_cli("projections", "status", "--data-dir", str(tmp_path / "data"), "--json", env=tools_env)
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["appliance_running"] is True
            users = run_cli("admin", "users", "list", "--data-dir", str(tmp_path / "data"), "--json", env=tools_env)
            assert users.returncode == 0, users.stderr
        finally:
            assert running.stop() == 0
        rebuilt = run_cli(
            "projections", "rebuild", "--data-dir", str(tmp_path / "data"), "--json", env={"CRATON_NATS_URL": url}
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert json.loads(rebuilt.stdout)["commits_replayed"]["PLATFORM"] >= 1
    finally:
        loop.run_until_complete(supervisor.stop())
        loop.close()
