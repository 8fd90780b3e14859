"""`craton doctor`: checks an operator can run before (or while) the appliance runs."""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from appliance.eventstore import binary
from appliance.kernel.errors import ConfigError
from appliance.runtime.config import Config, split_address
from appliance.runtime.offline import appliance_running
from appliance.runtime.preflight import bind_http, check_data_dir

DISK_FREE_BYTES_WARN = 1 << 30
DISK_FREE_BYTES_FAIL = 100 << 20


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str


def check_permissions(data_dir: Path) -> Finding:
    if not data_dir.exists():
        return Finding("permissions", "ok", f"{data_dir} will be created with mode 0700")
    loose = [
        str(path)
        for path in [data_dir, data_dir / "secrets", *sorted((data_dir / "secrets").glob("**/*"))]
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077
    ]
    if loose:
        return Finding("permissions", "fail", f"readable by others: {', '.join(loose[:3])} (chmod go-rwx)")
    return Finding("permissions", "ok", "data dir and secrets are private to this user")


def check_disk(data_dir: Path) -> Finding:
    target = data_dir if data_dir.exists() else data_dir.parent
    while not target.exists():
        target = target.parent
    free = shutil.disk_usage(target).free
    status = "fail" if free < DISK_FREE_BYTES_FAIL else "warn" if free < DISK_FREE_BYTES_WARN else "ok"
    return Finding("disk", status, f"{free / (1 << 30):.1f} GiB free at {target}")


def check_port(config: Config, running: bool) -> Finding:
    host, port = split_address(config.http)
    if running:
        return Finding("http_port", "ok", "the appliance is running and holds it")
    try:
        bind_http(host, port).close()
    except ConfigError as error:
        return Finding("http_port", "fail", error.message)
    return Finding("http_port", "ok", f"{host}:{port} is free")


def check_binary(config: Config) -> Finding:
    try:
        path = binary.verified_binary(config.nats_binary)
    except ConfigError as error:
        return Finding("nats_binary", "fail", error.message)
    return Finding("nats_binary", "ok", f"{path} matches bundled/manifest.json")


def run_checks(config: Config) -> list[Finding]:
    findings: list[Finding] = []
    try:
        check_data_dir(config.data_dir)
        findings.append(Finding("data_dir", "ok", f"{config.data_dir} is usable"))
    except ConfigError as error:
        findings.append(Finding("data_dir", "fail", error.message))
    running = config.data_dir.is_dir() and appliance_running(config.data_dir)
    findings.append(Finding("appliance", "ok", "running" if running else "not running"))
    findings.append(check_permissions(config.data_dir))
    findings.append(check_disk(config.data_dir))
    findings.append(check_port(config, running))
    if config.nats_url is None:
        findings.append(check_binary(config))
    return findings
