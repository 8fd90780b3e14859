"""Hashes and signatures of the engine: the SHA-256 record chain and Ed25519 signed checkpoints.

Owns: `record_hash` (§1.2/§1.3: SHA-256(prev_hash ‖ kind ‖ payload), and for the genesis record,
whose prev_hash is all zeros, SHA-256(kind ‖ payload) with no prefix), the canonical message a
checkpoint signature covers, domain-separated signing of other proofs (exports), and loading or
creating a replica's Ed25519 key file.

Must never: use a non-SHA-256 hash for anything compliance-critical, sign bytes without a domain
tag (a checkpoint signature must never be replayable as an export signature), or write a private
key with permissions wider than 0600.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.craton.types import GENESIS_HASH, HASH_BYTES, InvalidRequest, StorageError

SIGNATURE_BYTES: Final = 64
PUBLIC_KEY_BYTES: Final = 32
CHECKPOINT_DOMAIN: Final = b"Craton-Checkpoint-v1"
EXPORT_DOMAIN: Final = b"Craton-Export-v1"
_CHECKPOINT_FIELDS: Final = struct.Struct("<QQ32sQ")  # stream, offset, chain_hash, record_count
_KIND_BYTES: Final = tuple(bytes([kind]) for kind in range(256))


def chain_hash(prev: bytes | None, data: bytes) -> bytes:
    """SHA-256(prev ‖ data); with no previous hash (genesis) only the data is hashed."""
    digest = hashlib.sha256(prev) if prev is not None else hashlib.sha256()
    digest.update(data)
    return digest.digest()


def record_hash(prev_hash: bytes, kind: int, payload: bytes | memoryview) -> bytes:
    """The hash of one log record; an all-zero `prev_hash` marks the genesis record."""
    if prev_hash == GENESIS_HASH:
        digest = hashlib.sha256(_KIND_BYTES[kind])
    else:
        digest = hashlib.sha256(prev_hash)
        digest.update(_KIND_BYTES[kind])
    digest.update(payload)
    return digest.digest()


class CheckpointFields(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a checkpoint signature covers: the chain hash up to `offset` (the checkpoint record's
    own offset; `chain_hash` is the hash of the record before it, `record_count` equals `offset`)."""

    stream: int
    offset: int
    chain_hash: bytes
    record_count: int


def checkpoint_message(fields: CheckpointFields) -> bytes:
    """The exact bytes a checkpoint signature covers: domain tag, then the fields little-endian."""
    if len(fields.chain_hash) != HASH_BYTES:
        raise InvalidRequest("checkpoint chain hash must be 32 bytes", field="chain_hash")
    packed = _CHECKPOINT_FIELDS.pack(fields.stream, fields.offset, fields.chain_hash, fields.record_count)
    return CHECKPOINT_DOMAIN + packed


def sign_checkpoint(key: Ed25519PrivateKey, fields: CheckpointFields) -> bytes:
    return key.sign(checkpoint_message(fields))


def verify_checkpoint(public_key: Ed25519PublicKey, fields: CheckpointFields, signature: bytes) -> bool:
    """True only if `signature` is the key's signature over exactly these checkpoint fields."""
    return verify_signature(public_key, checkpoint_message(fields), signature)


def sign_with_domain(key: Ed25519PrivateKey, domain: bytes, body: bytes) -> bytes:
    return key.sign(domain + b"\x00" + body)


def verify_with_domain(public_key: Ed25519PublicKey, domain: bytes, body: bytes, signature: bytes) -> bool:
    return verify_signature(public_key, domain + b"\x00" + body, signature)


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    """A public key from its 32 raw bytes (the form exports and `status()` publish)."""
    if len(raw) != PUBLIC_KEY_BYTES:
        raise InvalidRequest(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes, got {len(raw)}", field="key")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The replica's signing key at `path` (PKCS#8 PEM, 0600 in a 0700 folder), created if absent."""
    if path.exists():
        return _read_signing_key(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _fsync_directory(path.parent)
    return key


def _read_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise StorageError(f"signing key {path} is not a readable PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"signing key {path} is not an Ed25519 key")
    return key


def _fsync_directory(directory: Path) -> None:
    # A rename is durable only once the directory entry itself reaches the disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
