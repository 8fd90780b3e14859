"""A software WebAuthn authenticator plus the browser part of the ceremony, written for the tests.

It makes real key pairs (ES256 on P-256, EdDSA on Ed25519, RS256) with `cryptography`, encodes
real CBOR with `cbor2`, and builds the bytes a platform authenticator would: authenticator data
(rpIdHash, flags, big-endian sign counter, attested credential data with AAGUID, credential id
and COSE public key), attestation objects in the "none" and "packed" (self-attestation) formats,
clientDataJSON with type, challenge and origin, and assertion signatures over
`authenticatorData || SHA-256(clientDataJSON)`. The relying-party code under test then runs the
`webauthn` library for real against these bytes.

Knobs let a test play a misbehaving or hostile party: another origin or RP id than the options
ask for, a forged challenge, a counter set by hand, a cloned credential store.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

Algorithm = Literal["ES256", "EdDSA", "RS256"]
Attestation = Literal["none", "packed"]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

COSE_ALG = {"ES256": -7, "EdDSA": -8, "RS256": -257}
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
AAGUID = uuid.UUID("c0ffee00-cafe-4bad-8000-000000000001").bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthenticatorRefused(Exception):
    """What a browser would raise (e.g. InvalidStateError for an excluded credential)."""


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: PrivateKey
    algorithm: Algorithm
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


def _new_key(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cose_public_key(key: PrivateKey) -> bytes:
    """RFC 9053 COSE_Key encoding of the public half."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})
    if isinstance(key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: raw})
    public = key.public_key().public_numbers()
    n = public.n.to_bytes((public.n.bit_length() + 7) // 8, "big")
    e = public.e.to_bytes((public.e.bit_length() + 7) // 8, "big")
    return cbor2.dumps({1: 3, 3: -257, -1: n, -2: e})


def sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # ASN.1 DER, as WebAuthn requires
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def client_data(kind: str, challenge: bytes | str, origin: str) -> bytes:
    challenge_text = challenge if isinstance(challenge, str) else b64url(challenge)
    body = {"type": kind, "challenge": challenge_text, "origin": origin, "crossOrigin": False}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class SoftwareAuthenticator:
    """One authenticator holding many credentials; its knobs model what real devices differ in."""

    algorithm: Algorithm = "ES256"
    attestation: Attestation = "none"
    user_verifying: bool = True
    backup_eligible: bool = False
    counter_step: int = 1  # 0 models authenticators without a counter (most synced passkeys)
    transports: tuple[str, ...] = ("internal", "hybrid")
    credentials: dict[bytes, SoftCredential] = field(default_factory=dict)

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        challenge: bytes | str | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): make a credential and return RegistrationResponseJSON."""
        rp = rp_id or options["rp"]["id"]
        excluded = {unb64url(d["id"]) for d in options.get("excludeCredentials", [])}
        if any(c.rp_id == rp and c.credential_id in excluded for c in self.credentials.values()):
            raise AuthenticatorRefused("InvalidStateError: a credential in excludeCredentials is here")
        if COSE_ALG[self.algorithm] not in [p["alg"] for p in options["pubKeyCredParams"]]:
            raise AuthenticatorRefused("NotSupportedError: no common algorithm")
        key = _new_key(self.algorithm)
        credential = SoftCredential(os.urandom(32), key, self.algorithm, rp, unb64url(options["user"]["id"]))
        self.credentials[credential.credential_id] = credential
        auth_data = self._auth_data(rp, credential, attested=True)
        client = client_data("webauthn.create", challenge or options["challenge"], origin)
        attestation = self._attestation_object(auth_data, client, key)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client),
                "attestationObject": b64url(attestation),
                "transports": list(self.transports),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        challenge: bytes | str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): sign an assertion and return AuthenticationResponseJSON.

        `rp_id` overrides only the rpIdHash that is signed (a broken or hostile client); the
        credential is still chosen for the options' RP.
        """
        credential = self._choose(options, options["rpId"], credential_id)
        rp = rp_id or options["rpId"]
        credential.sign_count += self.counter_step
        auth_data = self._auth_data(rp, credential, attested=False)
        client = client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = sign(credential.private_key, auth_data + hashlib.sha256(client).digest())
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def clone(self) -> SoftwareAuthenticator:
        """A copy of every key and counter, as an attacker who extracted them would hold."""
        return copy.deepcopy(self)

    def _choose(self, options: dict[str, Any], rp: str, credential_id: bytes | None) -> SoftCredential:
        allowed = [unb64url(d["id"]) for d in options.get("allowCredentials", [])]
        for credential in self.credentials.values():
            wanted = credential_id is None or credential.credential_id == credential_id
            listed = not allowed or credential.credential_id in allowed
            if credential.rp_id == rp and wanted and listed:
                return credential
        raise AuthenticatorRefused("NotAllowedError: no matching credential on this authenticator")

    def _flags(self, *, attested: bool) -> int:
        flags = FLAG_UP | (FLAG_UV if self.user_verifying else 0)
        if self.backup_eligible:
            flags |= FLAG_BE | FLAG_BS
        return flags | (FLAG_AT if attested else 0)

    def _auth_data(self, rp: str, credential: SoftCredential, *, attested: bool) -> bytes:
        head = hashlib.sha256(rp.encode()).digest() + bytes([self._flags(attested=attested)])
        head += struct.pack(">I", credential.sign_count)
        if not attested:
            return head
        cred_id = credential.credential_id
        return head + AAGUID + struct.pack(">H", len(cred_id)) + cred_id + cose_public_key(credential.private_key)

    def _attestation_object(self, auth_data: bytes, client: bytes, key: PrivateKey) -> bytes:
        if self.attestation == "none":
            return cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        # Packed self-attestation: signed by the credential's own key, no certificate (x5c).
        signature = sign(key, auth_data + hashlib.sha256(client).digest())
        statement = {"alg": COSE_ALG[self.algorithm], "sig": signature}
        return cbor2.dumps({"fmt": "packed", "attStmt": statement, "authData": auth_data})
