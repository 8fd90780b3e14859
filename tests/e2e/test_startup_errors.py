"""Bad start-up conditions give one clear line on stderr, a non-zero exit, and write nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from appliance.eventstore.binary import locate
from tests.e2e.harness import run_cli, tree_listing


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("craton: error: ")
    return lines[0]


def up(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "up", "--headless", "--data-dir", str(data_dir), "--http", "127.0.0.1:0", *extra, env=env, timeout_s=60
    )


def test_missing_data_dir_parent(tmp_path: Path) -> None:
    """A data dir whose parent cannot be created under is refused before anything is written."""
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    line = one_line_error(up(target / "data"))
    assert "does not exist and cannot be created" in line
    assert target.read_text() == "x"


def test_unwritable_data_dir(tmp_path: Path) -> None:
    """An existing data dir the appliance cannot write to is refused, and stays untouched."""
    data = tmp_path / "locked"
    data.mkdir()
    (data / "keep").write_text("mine")
    immutable = (
        shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(data)], check=False).returncode == 0
    )
    if not immutable:
        data.chmod(0o500)
    try:
        line = one_line_error(up(data))
        assert "not writable" in line
        assert tree_listing(data) == ["keep"]
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(data)], check=True)
        data.chmod(0o700)


def test_http_port_already_taken(tmp_path: Path) -> None:
    """A taken HTTP port is refused with its address, and the data dir is not created."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("up", "--headless", "--data-dir", str(tmp_path / "d"), "--http", f"127.0.0.1:{port}")
        line = one_line_error(result)
    assert f"127.0.0.1:{port}" in line
    assert "already in use" in line
    assert not (tmp_path / "d").exists()


def test_nats_port_already_taken(tmp_path: Path) -> None:
    """A taken NATS port (when one is configured) is refused before anything starts."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_line_error(up(tmp_path / "d", "--nats-port", str(port)))
    assert "NATS port" in line
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("http = \n", "not valid TOML"),
        ("http = 8470\n", "must be a non-empty string"),
        ("bogus_setting = 1\n", "unknown setting 'bogus_setting'"),
        ("nats_port = 'high'\n", "whole number"),
        ("http = '0.0.0.0:8470'\n", "off loopback"),
        ("\x00\xff binary", "not valid TOML"),
    ],
)
def test_bad_config_file(tmp_path: Path, content: str, expected: str) -> None:
    """A corrupt or wrong craton.toml names the problem; nothing else appears in the data dir."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "craton.toml").write_bytes(content.encode("utf-8", "surrogateescape"))
    line = one_line_error(run_cli("up", "--headless", "--data-dir", str(data)))
    assert expected in line
    assert tree_listing(data) == ["craton.toml"]


def test_bad_environment_value(tmp_path: Path) -> None:
    """A wrong CRATON_* variable is named in the error."""
    line = one_line_error(up(tmp_path / "d", env={"CRATON_PROJECTION_LAG_THRESHOLD": "lots"}))
    assert "CRATON_PROJECTION_LAG_THRESHOLD" in line


def test_unknown_flag(tmp_path: Path) -> None:
    """An unknown flag is a usage error on one line, exit code 2."""
    result = run_cli("up", "--frobnicate", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unrecognized arguments: --frobnicate" in lines[0]
    assert not (tmp_path / "d").exists()


def test_nats_binary_missing(tmp_path: Path) -> None:
    """A missing nats-server binary is refused and nothing is written."""
    line = one_line_error(up(tmp_path / "d", env={"CRATON_NATS_BINARY": str(tmp_path / "absent" / "nats-server")}))
    assert "nats-server binary missing" in line
    assert not (tmp_path / "d").exists()


def test_nats_binary_with_wrong_checksum(tmp_path: Path) -> None:
    """A nats-server whose SHA-256 differs from the manifest is never run."""
    tampered = tmp_path / "nats-server"
    data = bytearray(locate().read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.chmod(0o755)
    line = one_line_error(up(tmp_path / "d", env={"CRATON_NATS_BINARY": str(tampered)}))
    assert "SHA-256" in line
    assert not (tmp_path / "d").exists()


def test_second_appliance_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    """Two appliances never share a data dir."""
    from tests.e2e.harness import start_appliance

    running = start_appliance(tmp_path / "d")
    try:
        line = one_line_error(up(tmp_path / "d"))
        assert "already running" in line
    finally:
        assert running.stop() == 0
