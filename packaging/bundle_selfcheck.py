"""`craton --bundle-selfcheck`: prove, inside the frozen binary, that the bundle is complete.

The build records (in `packaging/selfcheck.json` inside the bundle) every module that imports in
the build venv, the frontends declared under `craton.frontends` and the expected versions. This
check imports each module, resolves each frontend through `importlib.metadata` exactly as the
appliance does, and checks that the bundled nats-server is where the appliance looks for it,
executable, has the digest the bundled manifest records, and reports the pinned version. It prints
one JSON object `{"ok": bool, "problems": [...], "checked": {...}}` and exits 0 only when ok.

It must never start the appliance, open a port, or write a file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

NATS_VERSION_TIMEOUT_S = 30
_PROBLEM_CHARS_MAX = 300


def _problem(text: str) -> str:
    return text[:_PROBLEM_CHARS_MAX]


def check_modules(modules: list[str]) -> list[str]:
    problems = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # any failure to import is exactly what we report
            problems.append(_problem(f"module {name}: {type(error).__name__}: {error}"))
    return problems


def check_frontends(expected: dict[str, str]) -> list[str]:
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="craton.frontends")}
    problems = []
    for name, value in expected.items():
        entry_point = found.get(name)
        if entry_point is None or entry_point.value != value:
            problems.append(f"frontend {name}: entry point missing from the bundled metadata")
            continue
        try:
            entry_point.load()
        except Exception as error:  # see check_modules
            problems.append(_problem(f"frontend {name}: {type(error).__name__}: {error}"))
    return problems


def check_version(expected: str) -> list[str]:
    try:
        installed = importlib.metadata.version("craton-appliance")
    except importlib.metadata.PackageNotFoundError:
        return ["metadata of craton-appliance is missing from the bundle"]
    return [] if installed == expected else [f"bundled metadata says {installed}, expected {expected}"]


def check_nats_server(home: Path, platform_key: str, version: str) -> list[str]:
    binary, manifest = home / "nats-server", home / "bundled" / "manifest.json"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return [f"nats-server missing or not executable at {binary}"]
    try:
        want = json.loads(manifest.read_text())["nats-server"]["sha256"][platform_key]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [_problem(f"bundled manifest {manifest} unreadable: {error}")]
    have = hashlib.sha256(binary.read_bytes()).hexdigest()
    if have != want:
        return [f"bundled nats-server has SHA-256 {have}, manifest says {want}"]
    shown = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=NATS_VERSION_TIMEOUT_S, check=False
    )
    if shown.returncode != 0 or version not in shown.stdout:
        return [_problem(f"nats-server --version printed {shown.stdout.strip()!r}, expected {version}")]
    return []


def main() -> int:
    home = Path(getattr(sys, "_MEIPASS", ""))
    try:
        spec = json.loads((home / "packaging" / "selfcheck.json").read_text())
    except (OSError, ValueError) as error:
        sys.stdout.write(json.dumps({"ok": False, "problems": [f"no self-check spec: {error}"]}))
        return 1
    problems = [
        *check_version(spec["version"]),
        *check_nats_server(home, spec["platform_key"], spec["nats_server_version"]),
        *check_frontends(spec["frontends"]),
        *check_modules(spec["modules"]),
    ]
    checked = {"modules": len(spec["modules"]), "frontends": sorted(spec["frontends"])}
    sys.stdout.write(json.dumps({"ok": not problems, "problems": problems, "checked": checked}))
    return 0 if not problems else 1
