"""Passkey responses that must not verify are refused with `Unauthenticated`, never accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from appliance.identity.auth.webauthn import (
    CeremonyKind,
    ChallengeLedger,
    PasskeyDescriptor,
    RegisteredPasskey,
    RelyingParty,
    StoredPasskey,
    authentication_options,
    read_assertion,
    registration_options,
    verify_authentication,
    verify_registration,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import Unauthenticated
from appliance.kernel.ids import SequentialIds, UserId
from tests.identity.support.authenticator import SoftwareAuthenticator, b64url, unb64url

ORIGIN = "https://craton.test"
RP = RelyingParty(rp_id="craton.test", rp_name="Craton", origins=(ORIGIN,))


class Bench:
    """One relying party, one ledger, one user with a registered ES256 passkey."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.ledger = ChallengeLedger(self.clock)
        ids = SequentialIds(seed=9)
        self.user_id = ids.new(UserId)
        self.other_user_id = ids.new(UserId)
        self.device = SoftwareAuthenticator()
        self.passkey = self.register_with(self.device, self.user_id)

    def registration(self, user_id: UserId) -> tuple[str, dict[str, Any]]:
        pending = self.ledger.issue(CeremonyKind.REGISTRATION, user_id)
        return pending.challenge_id, registration_options(RP, pending, user_name="ada", display_name="Ada")

    def register_with(self, device: SoftwareAuthenticator, user_id: UserId, **browser: Any) -> RegisteredPasskey:
        challenge_id, options = self.registration(user_id)
        response = device.create(options, origin=browser.pop("origin", ORIGIN), **browser)
        redeemed = self.ledger.take(challenge_id, CeremonyKind.REGISTRATION)
        return verify_registration(RP, redeemed, response, user_id)

    def assertion_options(self, user_id: UserId | None) -> tuple[str, dict[str, Any]]:
        pending = self.ledger.issue(CeremonyKind.AUTHENTICATION, user_id)
        allowed = [PasskeyDescriptor(credential_id=self.passkey.credential_id)] if user_id else []
        return pending.challenge_id, authentication_options(RP, pending, allowed=allowed)

    def stored(self, **changes: Any) -> StoredPasskey:
        fields = {
            "credential_id": self.passkey.credential_id,
            "public_key": self.passkey.public_key,
            "sign_count": 0,
            "user_id": self.user_id,
        }
        return StoredPasskey(**(fields | changes))

    def verify(self, challenge_id: str, response: dict[str, Any], user_id: UserId | None, **stored: Any) -> None:
        assertion = read_assertion(response)
        redeemed = self.ledger.take(challenge_id, CeremonyKind.AUTHENTICATION)
        verify_authentication(RP, redeemed, assertion, self.stored(**stored))

    def login(self, user_id: UserId | None = None, **browser: Any) -> None:
        challenge_id, options = self.assertion_options(user_id or self.user_id)
        response = self.device.get(options, origin=browser.pop("origin", ORIGIN), **browser)
        self.verify(challenge_id, response, user_id)


@pytest.fixture
def bench() -> Bench:
    return Bench()


def test_login_from_a_wrong_origin_is_refused(bench: Bench) -> None:
    """An assertion collected on another site (phishing origin) does not verify."""
    with pytest.raises(Unauthenticated, match="origin"):
        bench.login(origin="https://craton.test.evil.example")


def test_registration_from_a_wrong_origin_is_refused(bench: Bench) -> None:
    """A registration made on another origin does not verify."""
    with pytest.raises(Unauthenticated, match="origin"):
        bench.register_with(SoftwareAuthenticator(), bench.user_id, origin="https://evil.example")


def test_login_scoped_to_another_rp_id_is_refused(bench: Bench) -> None:
    """Authenticator data whose rpIdHash is for another RP id does not verify."""
    with pytest.raises(Unauthenticated, match="RP ID"):
        bench.login(rp_id="evil.example")


def test_registration_scoped_to_another_rp_id_is_refused(bench: Bench) -> None:
    """A credential created for another RP id is not enrolled."""
    with pytest.raises(Unauthenticated, match="RP ID"):
        bench.register_with(SoftwareAuthenticator(), bench.user_id, rp_id="evil.example")


def test_login_signing_another_challenge_is_refused(bench: Bench) -> None:
    """A response to a challenge the server did not issue for this ceremony does not verify."""
    with pytest.raises(Unauthenticated, match="challenge"):
        bench.login(challenge=b"\x01" * 32)


def test_registration_signing_another_challenge_is_refused(bench: Bench) -> None:
    """A registration answering another challenge does not verify."""
    with pytest.raises(Unauthenticated, match="challenge"):
        bench.register_with(SoftwareAuthenticator(), bench.user_id, challenge=b"\x02" * 32)


def test_a_challenge_is_redeemed_only_once(bench: Bench) -> None:
    """Presenting the same challenge id twice fails the second time, even after a success."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    response = bench.device.get(options, origin=ORIGIN)
    bench.verify(challenge_id, response, bench.user_id)
    with pytest.raises(Unauthenticated, match="already used"):
        bench.verify(challenge_id, response, bench.user_id, sign_count=0)


def test_a_replayed_response_fails_against_a_new_challenge(bench: Bench) -> None:
    """Sending a captured, once-valid response again under a fresh challenge is refused."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    captured = bench.device.get(options, origin=ORIGIN)
    bench.verify(challenge_id, captured, bench.user_id)
    fresh_id, _ = bench.assertion_options(bench.user_id)
    with pytest.raises(Unauthenticated, match="challenge"):
        bench.verify(fresh_id, captured, bench.user_id)


def test_a_failed_verification_still_spends_the_challenge(bench: Bench) -> None:
    """A wrong answer cannot be followed by a retry on the same challenge."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    bad = bench.device.get(options, origin="https://evil.example")
    with pytest.raises(Unauthenticated, match="origin"):
        bench.verify(challenge_id, bad, bench.user_id)
    good = bench.device.get(options, origin=ORIGIN)
    with pytest.raises(Unauthenticated, match="already used"):
        bench.verify(challenge_id, good, bench.user_id)


def test_an_expired_challenge_is_refused(bench: Bench) -> None:
    """A response arriving after the challenge's expiry is refused even if it is otherwise perfect."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    response = bench.device.get(options, origin=ORIGIN)
    bench.clock.advance(301)
    with pytest.raises(Unauthenticated, match="expired"):
        bench.verify(challenge_id, response, bench.user_id)


def test_a_registration_challenge_cannot_be_used_to_log_in(bench: Bench) -> None:
    """Challenges are bound to their ceremony kind."""
    challenge_id, _ = bench.registration(bench.user_id)
    with pytest.raises(Unauthenticated, match="registration"):
        bench.ledger.take(challenge_id, CeremonyKind.AUTHENTICATION)


def test_a_tampered_signature_is_refused(bench: Bench) -> None:
    """Flipping one bit of the assertion signature makes it fail verification."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    response = bench.device.get(options, origin=ORIGIN)
    signature = bytearray(unb64url(response["response"]["signature"]))
    signature[-1] ^= 0x01
    response["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(Unauthenticated, match="signature"):
        bench.verify(challenge_id, response, bench.user_id)


def test_tampered_authenticator_data_is_refused(bench: Bench) -> None:
    """Raising the counter in the signed authenticator data by hand breaks the signature."""
    challenge_id, options = bench.assertion_options(bench.user_id)
    response = bench.device.get(options, origin=ORIGIN)
    data = bytearray(unb64url(response["response"]["authenticatorData"]))
    data[36] ^= 0x80  # the low byte of the big-endian sign counter
    response["response"]["authenticatorData"] = b64url(bytes(data))
    with pytest.raises(Unauthenticated, match="signature"):
        bench.verify(challenge_id, response, bench.user_id)


def test_a_tampered_packed_attestation_is_refused(bench: Bench) -> None:
    """A packed self-attestation whose signature does not match is not enrolled."""
    import cbor2

    challenge_id, options = bench.registration(bench.user_id)
    response = SoftwareAuthenticator(attestation="packed").create(options, origin=ORIGIN)
    attestation = cbor2.loads(unb64url(response["response"]["attestationObject"]))
    attestation["attStmt"]["sig"] = attestation["attStmt"]["sig"][:-1] + b"\x00"
    response["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))
    redeemed = bench.ledger.take(challenge_id, CeremonyKind.REGISTRATION)
    with pytest.raises(Unauthenticated, match="Packed"):
        verify_registration(RP, redeemed, response, bench.user_id)


def test_someone_elses_passkey_cannot_log_in_a_named_user(bench: Bench) -> None:
    """A valid passkey of user B is refused in a ceremony started for user A."""
    challenge_id, options = bench.assertion_options(bench.other_user_id)
    response = bench.device.get({**options, "allowCredentials": []}, origin=ORIGIN)
    with pytest.raises(Unauthenticated, match="not registered to the account"):
        bench.verify(challenge_id, response, bench.other_user_id)


def test_a_user_handle_naming_another_account_is_refused(bench: Bench) -> None:
    """In usernameless login, the returned user handle must be the stored passkey's owner."""
    challenge_id, options = bench.assertion_options(None)
    response = bench.device.get(options, origin=ORIGIN)
    response = copy.deepcopy(response)
    response["response"]["userHandle"] = b64url(bench.other_user_id.bytes)
    with pytest.raises(Unauthenticated, match="user handle"):
        bench.verify(challenge_id, response, None)


def test_usernameless_login_without_a_user_handle_is_refused(bench: Bench) -> None:
    """A non-discoverable response (no user handle) cannot complete a usernameless login."""
    challenge_id, options = bench.assertion_options(None)
    response = bench.device.get(options, origin=ORIGIN)
    del response["response"]["userHandle"]
    with pytest.raises(Unauthenticated, match="user handle"):
        bench.verify(challenge_id, response, None)


def test_a_registration_challenge_of_another_account_is_refused(bench: Bench) -> None:
    """A registration challenge issued to user A cannot enrol a passkey on user B."""
    challenge_id, options = bench.registration(bench.user_id)
    response = SoftwareAuthenticator().create(options, origin=ORIGIN)
    redeemed = bench.ledger.take(challenge_id, CeremonyKind.REGISTRATION)
    with pytest.raises(Unauthenticated, match="another account"):
        verify_registration(RP, redeemed, response, bench.other_user_id)


def test_required_user_verification_refuses_a_presence_only_authenticator(bench: Bench) -> None:
    """When the RP requires user verification, a response without the UV flag is refused."""
    strict = RelyingParty(rp_id="craton.test", rp_name="Craton", origins=(ORIGIN,), require_user_verification=True)
    pending = bench.ledger.issue(CeremonyKind.REGISTRATION, bench.user_id)
    options = registration_options(strict, pending, user_name="ada", display_name="Ada")
    assert options["authenticatorSelection"]["userVerification"] == "required"
    response = SoftwareAuthenticator(user_verifying=False).create(options, origin=ORIGIN)
    with pytest.raises(Unauthenticated, match="User verification"):
        verify_registration(
            strict,
            bench.ledger.take(pending.challenge_id, CeremonyKind.REGISTRATION),
            response,
            bench.user_id,
        )


def test_a_passkey_signed_by_another_key_is_refused(bench: Bench) -> None:
    """An assertion checked against a different stored public key does not verify."""
    other = SoftwareAuthenticator()
    other_passkey = bench.register_with(other, bench.user_id)
    challenge_id, options = bench.assertion_options(bench.user_id)
    response = bench.device.get(options, origin=ORIGIN)
    with pytest.raises(Unauthenticated, match="signature"):
        bench.verify(challenge_id, response, bench.user_id, public_key=other_passkey.public_key)
