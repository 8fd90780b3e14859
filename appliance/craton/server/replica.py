"""`craton replica`: one replica process — keys, engine, server, signals, clean shutdown.

This module owns the replica's files outside the engine (keys, dev token, `replica.json`) and the
process lifecycle: open the engine, serve, drain on SIGTERM/SIGINT, close the engine. It must
never write a secret with loose permissions (keys and tokens are 0600 in 0700 folders), and never
run `--dev` off loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Final

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.craton.client.policy import parse_address
from appliance.craton.server.auth import (
    JWT_ISSUER_DEFAULT,
    ApiKeyEntry,
    Authenticator,
    AuthError,
    issue_token,
    load_api_keys,
)
from appliance.craton.server.engine_port import EnginePort
from appliance.craton.server.limits import ServerLimits
from appliance.craton.server.server import ReplicaServer, ServerConfigError, is_loopback, server_tls_context

DEV_TOKEN_TTL_S: Final = 7 * 24 * 3600
DEV_TENANT: Final = 1
REPLICA_PUBLIC_KEY_FILE: Final = "replica-public-key.pem"
DEV_CONTROL_PLANE_KEY_FILE: Final = "secrets/dev-control-plane.key"
DEV_PUBLIC_KEY_FILE: Final = "dev-control-plane-public-key.pem"
DEV_TOKEN_FILE: Final = "dev-token"  # noqa: S105 - a file name, not a secret
ADDRESS_FILE: Final = "replica.json"


class ReplicaOptions(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    listen: str
    http: str | None = None
    public_key_files: list[Path] = []
    api_keys_file: Path | None = None
    dev: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    issuer: str = JWT_ISSUER_DEFAULT
    limits: ServerLimits = ServerLimits()
    checkpoint_every: int = 1000


def write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically with mode 0600 (never briefly world-readable)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ServerConfigError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem)
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem_from_raw(raw: bytes) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(raw)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file, or from a file holding its 32 bytes as 64 hex digits."""
    try:
        data = path.read_bytes()
        text = data.strip()
        if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.decode()))
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError) as error:
        raise ServerConfigError(f"cannot read a public key from {path}: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ServerConfigError(f"{path} is not an Ed25519 public key (tokens must be EdDSA)")
    return key


def prepare_dev(data_dir: Path, issuer: str) -> Ed25519PublicKey:
    """Make (or reuse) a stand-in control-plane key and write a fresh tenant-1 token to `dev-token`."""
    key = load_or_create_key(data_dir / DEV_CONTROL_PLANE_KEY_FILE)
    (data_dir / DEV_PUBLIC_KEY_FILE).write_bytes(public_pem(key))
    token = issue_token(key, tenant_id=DEV_TENANT, subject="dev", ttl_s=DEV_TOKEN_TTL_S, issuer=issuer)
    write_private(data_dir / DEV_TOKEN_FILE, token.encode())
    return key.public_key()


def build_authenticator(options: ReplicaOptions) -> Authenticator:
    public_keys = [load_public_key(path) for path in options.public_key_files]
    if options.dev:
        public_keys.append(prepare_dev(options.data_dir, options.issuer))
    api_keys: list[ApiKeyEntry] = load_api_keys(options.api_keys_file) if options.api_keys_file else []
    if not public_keys and not api_keys:
        raise ServerConfigError("no way to authenticate clients: give --public-key and/or --api-keys (or --dev)")
    return Authenticator(public_keys=public_keys, api_keys=api_keys, issuer=options.issuer)


def check_addresses(options: ReplicaOptions) -> tuple[tuple[str, int], tuple[str, int] | None]:
    try:
        listen = parse_address(options.listen, listening=True)
        http = parse_address(options.http, listening=True) if options.http else None
    except ValueError as error:
        raise ServerConfigError(str(error)) from None
    hosts = [listen[0]] + ([http[0]] if http else [])
    if options.dev and not all(is_loopback(h) for h in hosts):
        raise ServerConfigError("--dev serves a self-made key and token: it only listens on loopback")
    if (options.tls_cert is None) != (options.tls_key is None):
        raise ServerConfigError("TLS needs both --tls-cert and --tls-key")
    return listen, http


async def serve(options: ReplicaOptions, engine: EnginePort, authenticator: Authenticator) -> None:
    """Serve until SIGTERM or SIGINT, then drain. The caller opens and closes the engine."""
    listen, http = check_addresses(options)
    tls = server_tls_context(options.tls_cert, options.tls_key) if options.tls_cert and options.tls_key else None
    server = ReplicaServer(engine, authenticator, journal_dir=options.data_dir, limits=options.limits, tls=tls)
    await server.start(listen[0], listen[1], http_host=http[0] if http else None, http_port=http[1] if http else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _announce(options, server)
    await stop.wait()
    sys.stderr.write("craton replica: draining (finishing in-flight requests)\n")
    await server.drain()


def _announce(options: ReplicaOptions, server: ReplicaServer) -> None:
    address = f"{server.address[0]}:{server.address[1]}" if server.address else None
    http = f"{server.http_address[0]}:{server.http_address[1]}" if server.http_address else None
    info = {"listen": address, "http": http, "pid": os.getpid(), "dev": options.dev}
    (options.data_dir / ADDRESS_FILE).write_text(json.dumps(info))
    if options.dev:
        sys.stderr.write(
            "craton replica: *** DEV MODE *** self-made signing key, loopback only, NOT FOR PRODUCTION.\n"
            f"craton replica: token for tenant {DEV_TENANT} in {options.data_dir / DEV_TOKEN_FILE}; try:\n"
            f'  craton sql --addr {address} --token "$(cat {options.data_dir / DEV_TOKEN_FILE})" "SELECT 1"\n'
        )
    print(f"craton replica ready: listen={address} http={http or '-'} data_dir={options.data_dir}", flush=True)


def _already_stopping(signum: int, _frame: object) -> None:
    sys.stderr.write(f"craton replica: signal {signum} ignored: already stopping (SIGKILL forces)\n")


def run_replica(options: ReplicaOptions) -> int:
    """The whole process: returns the exit code; failures print one line on stderr."""
    from appliance.craton.engine import Engine
    from appliance.craton.types import EngineError

    try:
        options.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_addresses(options)
        authenticator = build_authenticator(options)
        # The engine keeps its own signing key (checkpoints, exports); publish its public half.
        engine = Engine.open(options.data_dir, checkpoint_every=options.checkpoint_every)
        raw_public = engine.public_key()
        (options.data_dir / REPLICA_PUBLIC_KEY_FILE).write_bytes(public_pem_from_raw(raw_public))
    except (ServerConfigError, AuthError, EngineError, OSError) as error:
        sys.stderr.write(f"craton replica: {error}\n")
        return 1
    try:
        asyncio.run(serve(options, engine, authenticator))
    except (ServerConfigError, OSError) as error:
        sys.stderr.write(f"craton replica: {error}\n")
        return 1
    finally:
        # A second SIGTERM/SIGINT must not cut the final checkpoint and compaction short.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _already_stopping)
        engine.close()
    sys.stderr.write("craton replica: stopped cleanly\n")
    return 0
