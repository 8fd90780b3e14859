"""TLS on the client port, and the rule that nothing listens off loopback without it."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from appliance.craton.client import Client, ConnectionFailed, RetryPolicy
from appliance.craton.server import Authenticator, ReplicaServer, ServerConfigError, server_tls_context
from tests.craton.net.conftest import EngineDouble


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "craton-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_a_tls_replica_serves_a_client_that_trusts_its_certificate(
    tmp_path: Path, signing_key: Ed25519PrivateKey, token_for: Callable[..., str]
) -> None:
    """With a certificate, the client port speaks TLS 1.3; a client with the CA gets answers, one without is refused."""
    cert, key = _self_signed(tmp_path)
    auth = Authenticator(public_keys=[signing_key.public_key()], api_keys=[])
    server = ReplicaServer(EngineDouble(), auth, journal_dir=tmp_path, tls=server_tls_context(cert, key))
    await server.start("127.0.0.1", 0)
    assert server.address is not None
    address = f"127.0.0.1:{server.address[1]}"
    trusting = Client(address, token=token_for(1), tls=ssl.create_default_context(cafile=str(cert)))
    rows = await asyncio.to_thread(trusting.query, "SELECT 1")
    assert rows.rows == [["SELECT 1"]]
    trusting.close()
    untrusting = Client(
        address,
        token=token_for(1),
        tls=ssl.create_default_context(),
        policy=RetryPolicy(retries_max=0),
    )
    with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
        await asyncio.to_thread(untrusting.query, "SELECT 1")
    untrusting.close()
    await server.drain()


async def test_listening_off_loopback_without_tls_is_refused(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    """Binding 0.0.0.0 without TLS, or the plain-HTTP side port off loopback, is refused at start."""
    auth = Authenticator(public_keys=[signing_key.public_key()], api_keys=[])
    server = ReplicaServer(EngineDouble(), auth, journal_dir=tmp_path)
    with pytest.raises(ServerConfigError, match=r"refusing to listen on 0\.0\.0\.0 without TLS"):
        await server.start("0.0.0.0", 0)
    with pytest.raises(ServerConfigError, match=r"loopback only, not 0\.0\.0\.0"):
        await server.start("127.0.0.1", 0, http_host="0.0.0.0", http_port=0)
    await server.drain()
