"""Passkeys (WebAuthn): ceremony options, response verification and single-use challenges.

This module owns the relying-party side of the two WebAuthn ceremonies, on top of the `webauthn`
library: it builds the options a browser passes to `navigator.credentials.create()` / `.get()`,
verifies what the authenticator sends back, and returns typed results the domain stores. It
must never store anything itself (the domain keeps passkeys, the HTTP layer keeps pending
challenges in NATS KV), never read the wall clock (it takes a `Clock` or a `now`), and never let
a library exception escape: a malformed response is `InvalidInput`, a response that does not
verify is `Unauthenticated`, and an authentic response whose sign counter did not move forward
is `ClonedAuthenticatorSuspected` (a subclass of `Unauthenticated`, so the workflow can also
record it). Challenges live in `webauthn_challenges`, first parsing of untrusted JSON in
`webauthn_input`; both are re-exported here.

Public API, in the order the HTTP layer calls it::

    rp = RelyingParty(rp_id="craton.example", rp_name="Craton", origins=("https://craton.example",))

    # register (the user is logged in)
    pending = ledger.issue(CeremonyKind.REGISTRATION, user_id)           # or new_challenge(...) + KV
    options = registration_options(rp, pending, user_name=..., display_name=..., existing=[...])
    ...browser...
    pending = ledger.take(challenge_id, CeremonyKind.REGISTRATION)        # single use
    passkey = verify_registration(rp, pending, credential_json, user_id)  # -> RegisteredPasskey

    # log in (known user: allow list; usernameless: user_id None and no allow list)
    pending = ledger.issue(CeremonyKind.AUTHENTICATION, user_id_or_none)
    options = authentication_options(rp, pending, allowed=[...])
    ...browser...
    assertion = read_assertion(credential_json)          # credential id + user handle, to look up
    pending = ledger.take(challenge_id, CeremonyKind.AUTHENTICATION)
    result = verify_authentication(rp, pending, assertion, stored_passkey)  # -> AuthenticatedPasskey

The user handle stored on the authenticator is the 16 bytes of the `UserId` (opaque, no personal
data), which is what makes usernameless login map straight back to an account.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidJSONStructure, WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from appliance.identity.auth.webauthn_challenges import (
    CeremonyKind,
    ChallengeLedger,
    PendingChallenge,
    check_challenge_id,
    new_challenge,
    redeem_challenge,
)
from appliance.identity.auth.webauthn_input import (
    CREDENTIAL_JSON_BYTES_MAX,
    TRANSPORTS_KNOWN,
    CredentialInput,
    base64url_field,
    credential_object,
    parse_user_handle,
    transports_of,
)
from appliance.kernel.errors import ConfigError, InvalidInput, InvariantViolation, Unauthenticated, invariant
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

__all__ = [
    "CREDENTIAL_JSON_BYTES_MAX",
    "AuthenticatedPasskey",
    "CeremonyKind",
    "ChallengeLedger",
    "ClonedAuthenticatorSuspected",
    "PasskeyAssertion",
    "PasskeyDescriptor",
    "PendingChallenge",
    "RegisteredPasskey",
    "RelyingParty",
    "StoredPasskey",
    "authentication_options",
    "check_challenge_id",
    "new_challenge",
    "read_assertion",
    "redeem_challenge",
    "registration_options",
    "verify_authentication",
    "verify_registration",
]

# ES256 first: it is what nearly every platform authenticator makes. RS256 stays for Windows Hello.
ALGORITHMS_ALLOWED = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CREDENTIAL_ID_BYTES_MAX = 1023  # WebAuthn §5.8.3: credential ids are at most 1023 bytes
TIMEOUT_MS_MAX = 600_000
RP_ID_CHARS_MAX = 253

_T = TypeVar("_T")


class RelyingParty(Struct, frozen=True):
    """Who we are to authenticators: the RP id (a domain), a display name, the allowed origins.

    Checked when built, because a wrong RP id or origin makes every passkey unusable later:
    the RP id is a host name (not an IP address, which browsers refuse), and each origin is
    `https://` (or `http://localhost`, which browsers treat as secure) on the RP id or a
    subdomain of it.
    """

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]
    timeout_ms: int = 300_000  # a browser hint; the challenge's own expiry is what is enforced
    require_user_verification: bool = False

    def __post_init__(self) -> None:
        _check_rp_id(self.rp_id)
        if not self.rp_name.strip():
            raise ConfigError("the passkey relying party needs a display name")
        if not self.origins:
            raise ConfigError("the passkey relying party needs at least one origin")
        for origin in self.origins:
            _check_origin(origin, self.rp_id)
        if not 1_000 <= self.timeout_ms <= TIMEOUT_MS_MAX:
            raise ConfigError(f"passkey timeout must be 1000..{TIMEOUT_MS_MAX} ms")


class ClonedAuthenticatorSuspected(Unauthenticated):
    """The signature verified but the sign counter did not move forward: refuse and flag it."""

    code = "cloned_authenticator_suspected"


class PasskeyDescriptor(Struct, frozen=True):
    """A registered credential as it appears in `excludeCredentials` / `allowCredentials`."""

    credential_id: bytes
    transports: tuple[str, ...] = ()


class RegisteredPasskey(Struct, frozen=True):
    """What a verified registration yields; the domain stores all of it."""

    credential_id: bytes
    public_key: bytes  # COSE_Key bytes, as the library verifies them later
    sign_count: int
    user_handle: UserId
    transports: tuple[str, ...]
    aaguid: str
    attestation_format: str
    user_verified: bool
    backup_eligible: bool
    backed_up: bool


class StoredPasskey(Struct, frozen=True):
    """The stored facts `verify_authentication` needs about one passkey."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    user_id: UserId


class PasskeyAssertion(Struct, frozen=True):
    """A parsed, not yet verified, authentication response: enough to find the stored passkey."""

    credential_id: bytes
    user_handle: UserId | None
    credential: dict[str, Any]


class AuthenticatedPasskey(Struct, frozen=True):
    """A verified login: who, with which passkey, and the counter to store next."""

    credential_id: bytes
    user_id: UserId
    new_sign_count: int
    user_verified: bool
    backed_up: bool


def registration_options(
    rp: RelyingParty,
    pending: PendingChallenge,
    *,
    user_name: str,
    display_name: str,
    existing: Sequence[PasskeyDescriptor] = (),
) -> dict[str, Any]:
    """Options for `navigator.credentials.create()`, as JSON-ready builtins."""
    invariant(pending.kind is CeremonyKind.REGISTRATION, "registration needs a registration challenge")
    if not user_name.strip():
        raise InvalidInput("user name must not be empty", field="user_name")
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_name=user_name,
        user_id=_registering_user(pending).bytes,
        user_display_name=display_name or user_name,
        challenge=pending.challenge,
        timeout=rp.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        # Resident ("discoverable") keys make usernameless login possible; preferred, not
        # required, so that older security keys can still be added.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=_user_verification(rp),
        ),
        exclude_credentials=[_descriptor(d) for d in existing],
        supported_pub_key_algs=ALGORITHMS_ALLOWED,
    )
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def verify_registration(
    rp: RelyingParty, pending: PendingChallenge, credential: CredentialInput, user_id: UserId
) -> RegisteredPasskey:
    """Verify an attestation response against a redeemed registration challenge."""
    _require_ceremony(pending, CeremonyKind.REGISTRATION)
    if pending.user_id != user_id:
        raise Unauthenticated("this registration challenge was issued to another account")
    body = credential_object(credential)
    verified = _call_library(
        "registration",
        lambda: verify_registration_response(
            credential=body,
            expected_challenge=pending.challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_verification=rp.require_user_verification,
            supported_pub_key_algs=ALGORITHMS_ALLOWED,
        ),
    )
    if len(verified.credential_id) > CREDENTIAL_ID_BYTES_MAX:
        raise InvalidInput("credential id is longer than WebAuthn allows", field="credential")
    return RegisteredPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_handle=user_id,
        transports=transports_of(body),
        aaguid=verified.aaguid,
        attestation_format=AttestationFormat(verified.fmt).value,
        user_verified=verified.user_verified,
        backup_eligible=verified.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


def authentication_options(
    rp: RelyingParty, pending: PendingChallenge, *, allowed: Sequence[PasskeyDescriptor] = ()
) -> dict[str, Any]:
    """Options for `navigator.credentials.get()`; an empty `allowed` asks for a discoverable key."""
    invariant(pending.kind is CeremonyKind.AUTHENTICATION, "login needs an authentication challenge")
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=pending.challenge,
        timeout=rp.timeout_ms,
        allow_credentials=[_descriptor(d) for d in allowed],
        user_verification=_user_verification(rp),
    )
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def read_assertion(credential: CredentialInput) -> PasskeyAssertion:
    """Parse an authentication response far enough to find which stored passkey it claims."""
    body = credential_object(credential)
    raw_id = base64url_field(body, "rawId")
    if not raw_id or len(raw_id) > CREDENTIAL_ID_BYTES_MAX:
        raise InvalidInput("credential id is empty or longer than WebAuthn allows", field="credential")
    response = body.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    return PasskeyAssertion(credential_id=raw_id, user_handle=parse_user_handle(handle), credential=body)


def verify_authentication(
    rp: RelyingParty, pending: PendingChallenge, assertion: PasskeyAssertion, stored: StoredPasskey
) -> AuthenticatedPasskey:
    """Verify an assertion with the stored passkey, including the sign-counter check."""
    _require_ceremony(pending, CeremonyKind.AUTHENTICATION)
    invariant(stored.credential_id == assertion.credential_id, "the caller looked up the asserted passkey")
    _check_owner(pending, assertion, stored)
    verified = _call_library(
        "login",
        lambda: verify_authentication_response(
            credential=assertion.credential,
            expected_challenge=pending.challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=stored.public_key,
            # The counter is checked below, after the signature: only an authentic response may
            # raise the cloned-authenticator alarm, and it gets its own error type.
            credential_current_sign_count=0,
            require_user_verification=rp.require_user_verification,
        ),
    )
    _check_counter(stored.sign_count, verified.new_sign_count)
    return AuthenticatedPasskey(
        credential_id=stored.credential_id,
        user_id=stored.user_id,
        new_sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
    )


def _check_owner(pending: PendingChallenge, assertion: PasskeyAssertion, stored: StoredPasskey) -> None:
    """The passkey must belong to the account the ceremony is for (or that the handle names)."""
    if pending.user_id is not None and stored.user_id != pending.user_id:
        raise Unauthenticated("this passkey is not registered to the account logging in")
    if pending.user_id is None and assertion.user_handle is None:
        raise Unauthenticated("a usernameless login needs a passkey that returns its user handle")
    if assertion.user_handle is not None and assertion.user_handle != stored.user_id:
        raise Unauthenticated("the passkey's user handle does not match its account")


def _check_counter(stored_count: int, new_count: int) -> None:
    """WebAuthn §6.1.1: a counter that does not grow, when either side is non-zero, means a copy."""
    if (new_count > 0 or stored_count > 0) and new_count <= stored_count:
        raise ClonedAuthenticatorSuspected(
            f"passkey sign counter went from {stored_count} to {new_count}; "
            "the authenticator may have been cloned, so this login is refused"
        )


def _require_ceremony(pending: PendingChallenge, kind: CeremonyKind) -> None:
    if pending.kind is not kind:
        raise Unauthenticated(f"this challenge was issued for {pending.kind.value}, not {kind.value}")


def _call_library(what: str, call: Callable[[], _T]) -> _T:
    """Run a library verification; map its failures onto the error tree with a clear message."""
    try:
        return call()
    except InvalidJSONStructure as error:
        raise InvalidInput(f"malformed passkey {what} response: {_reason(error)}", field="credential") from None
    except WebAuthnException as error:
        raise Unauthenticated(f"passkey {what} refused: {_reason(error)}") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as error:
        # Hostile bytes can reach parsers below the library's own checks (CBOR, COSE, DER).
        raise InvalidInput(f"malformed passkey {what} response ({type(error).__name__})", field="credential") from None


def _reason(error: Exception) -> str:
    return str(error).replace(" See __cause__ for more info", "").strip() or type(error).__name__


def _descriptor(descriptor: PasskeyDescriptor) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in descriptor.transports if t in TRANSPORTS_KNOWN]
    return PublicKeyCredentialDescriptor(id=descriptor.credential_id, transports=transports or None)


def _user_verification(rp: RelyingParty) -> UserVerificationRequirement:
    if rp.require_user_verification:
        return UserVerificationRequirement.REQUIRED
    return UserVerificationRequirement.PREFERRED


def _registering_user(pending: PendingChallenge) -> UserId:
    user_id = pending.user_id
    if user_id is None:
        raise InvariantViolation("a passkey is registered on a known account")
    return user_id


def _check_rp_id(rp_id: str) -> None:
    host = rp_id.strip().lower()
    if not host or host != rp_id or len(host) > RP_ID_CHARS_MAX or "/" in host or ":" in host:
        raise ConfigError(f"passkey RP id {rp_id!r} must be a bare lower-case host name, like craton.example")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    raise ConfigError(f"passkey RP id {rp_id!r} is an IP address; browsers only accept a domain name")


def _check_origin(origin: str, rp_id: str) -> None:
    parts = urlsplit(origin)
    host = parts.hostname or ""
    bare = not (parts.path or parts.query or parts.fragment or parts.username)
    secure = parts.scheme == "https" or (parts.scheme == "http" and host == "localhost")
    if not (bare and secure and (host == rp_id or host.endswith("." + rp_id))):
        raise ConfigError(
            f"passkey origin {origin!r} must be https://{rp_id} or a subdomain of it "
            "(http only for localhost), with no path"
        )
