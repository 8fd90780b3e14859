"""Passkey ceremonies end to end: the `webauthn` library verifies a software authenticator's bytes."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from appliance.identity.auth.webauthn import (
    AuthenticatedPasskey,
    CeremonyKind,
    ChallengeLedger,
    ClonedAuthenticatorSuspected,
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
from tests.identity.support.authenticator import (
    AuthenticatorRefused,
    SoftwareAuthenticator,
    b64url,
    unb64url,
)

ORIGIN = "https://craton.test"


@pytest.fixture
def rp() -> RelyingParty:
    return RelyingParty(rp_id="craton.test", rp_name="Craton", origins=(ORIGIN, "https://admin.craton.test"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(clock: ManualClock) -> ChallengeLedger:
    return ChallengeLedger(clock)


@pytest.fixture
def users() -> SequentialIds:
    return SequentialIds(seed=3)


def register(
    rp: RelyingParty,
    ledger: ChallengeLedger,
    device: SoftwareAuthenticator,
    user_id: UserId,
    existing: tuple[PasskeyDescriptor, ...] = (),
) -> RegisteredPasskey:
    pending = ledger.issue(CeremonyKind.REGISTRATION, user_id)
    options = registration_options(rp, pending, user_name="ada@craton.test", display_name="Ada", existing=existing)
    response = device.create(options, origin=ORIGIN)
    redeemed = ledger.take(pending.challenge_id, CeremonyKind.REGISTRATION)
    return verify_registration(rp, redeemed, response, user_id)


def stored(passkey: RegisteredPasskey, sign_count: int | None = None) -> StoredPasskey:
    count = passkey.sign_count if sign_count is None else sign_count
    return StoredPasskey(
        credential_id=passkey.credential_id,
        public_key=passkey.public_key,
        sign_count=count,
        user_id=passkey.user_handle,
    )


def login(
    rp: RelyingParty,
    ledger: ChallengeLedger,
    device: SoftwareAuthenticator,
    keys: dict[bytes, StoredPasskey],
    user_id: UserId | None,
    **browser: object,
) -> AuthenticatedPasskey:
    """One login; `keys` is the server's passkey table, updated with the new counter like a workflow would."""
    pending = ledger.issue(CeremonyKind.AUTHENTICATION, user_id)
    mine = [PasskeyDescriptor(credential_id=k.credential_id) for k in keys.values() if k.user_id == user_id]
    options = authentication_options(rp, pending, allowed=mine)
    response = device.get(options, origin=str(browser.pop("origin", ORIGIN)), **browser)  # type: ignore[arg-type]
    assertion = read_assertion(response)
    redeemed = ledger.take(pending.challenge_id, CeremonyKind.AUTHENTICATION)
    result = verify_authentication(rp, redeemed, assertion, keys[assertion.credential_id])
    keys[result.credential_id] = msgspec.structs.replace(keys[result.credential_id], sign_count=result.new_sign_count)
    return result


def test_register_then_log_in_with_username(rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds) -> None:
    """A registered ES256 passkey logs its owner in, and the typed results carry what the domain stores."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator()
    passkey = register(rp, ledger, device, user_id)
    assert passkey.user_handle == user_id
    assert passkey.sign_count == 0
    assert passkey.aaguid == "c0ffee00-cafe-4bad-8000-000000000001"
    assert passkey.transports == ("internal", "hybrid")
    assert passkey.attestation_format == "none"
    assert passkey.user_verified
    keys = {passkey.credential_id: stored(passkey)}
    result = login(rp, ledger, device, keys, user_id)
    assert (result.user_id, result.credential_id, result.new_sign_count) == (
        user_id,
        passkey.credential_id,
        1,
    )
    assert login(rp, ledger, device, keys, user_id).new_sign_count == 2


def test_usernameless_login_finds_the_account_from_the_user_handle(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """With no user named and no allow list, the discoverable passkey's user handle names the account."""
    owner = users.new(UserId)
    device = SoftwareAuthenticator()
    passkey = register(rp, ledger, device, owner)
    pending = ledger.issue(CeremonyKind.AUTHENTICATION, None)
    options = authentication_options(rp, pending)
    assert options["allowCredentials"] == []
    assertion = read_assertion(device.get(options, origin=ORIGIN))
    assert assertion.user_handle == owner
    redeemed = ledger.take(pending.challenge_id, CeremonyKind.AUTHENTICATION)
    assert verify_authentication(rp, redeemed, assertion, stored(passkey)).user_id == owner


@pytest.mark.parametrize(
    ("algorithm", "attestation"), list(itertools.product(["ES256", "EdDSA", "RS256"], ["none", "packed"]))
)
def test_every_allowed_algorithm_and_attestation_format_works(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds, algorithm: str, attestation: str
) -> None:
    """ES256, EdDSA and RS256 keys register with "none" or "packed" self-attestation and then log in."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator(algorithm=algorithm, attestation=attestation)  # type: ignore[arg-type]
    passkey = register(rp, ledger, device, user_id)
    assert passkey.attestation_format == attestation
    assert login(rp, ledger, device, {passkey.credential_id: stored(passkey)}, user_id).user_id == user_id


def test_registration_options_ask_for_what_usernameless_login_needs(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """Options prefer a resident key and user verification, allow ES256/EdDSA/RS256 and name the RP."""
    user_id = users.new(UserId)
    options = registration_options(
        rp, ledger.issue(CeremonyKind.REGISTRATION, user_id), user_name="ada@craton.test", display_name="Ada"
    )
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert sorted(p["alg"] for p in options["pubKeyCredParams"]) == [-257, -8, -7]
    assert options["rp"] == {"id": "craton.test", "name": "Craton"}
    assert unb64url(options["user"]["id"]) == user_id.bytes
    assert options["user"]["displayName"] == "Ada"


def test_existing_passkeys_are_excluded_from_a_new_registration(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """The user's passkeys go in excludeCredentials, so one authenticator is not enrolled twice."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator()
    first = register(rp, ledger, device, user_id)
    existing = (PasskeyDescriptor(credential_id=first.credential_id, transports=first.transports),)
    pending = ledger.issue(CeremonyKind.REGISTRATION, user_id)
    options = registration_options(rp, pending, user_name="ada", display_name="", existing=existing)
    assert options["excludeCredentials"] == [
        {"id": b64url(first.credential_id), "type": "public-key", "transports": ["internal", "hybrid"]}
    ]
    with pytest.raises(AuthenticatorRefused, match="InvalidStateError"):
        device.create(options, origin=ORIGIN)
    second = register(rp, ledger, SoftwareAuthenticator(), user_id, existing)
    assert second.credential_id != first.credential_id


def test_a_second_allowed_origin_is_accepted(rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds) -> None:
    """Every configured origin may run the ceremony (here a subdomain of the RP id)."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator()
    passkey = register(rp, ledger, device, user_id)
    keys = {passkey.credential_id: stored(passkey)}
    assert login(rp, ledger, device, keys, user_id, origin="https://admin.craton.test").user_id == user_id


def test_counter_regression_is_refused_as_a_cloned_authenticator(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """A copy of the keys that signs with a counter not above the stored one is refused with its own error."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator()
    passkey = register(rp, ledger, device, user_id)
    keys = {passkey.credential_id: stored(passkey)}
    login(rp, ledger, device, keys, user_id)
    copy_of_device = device.clone()
    login(rp, ledger, device, keys, user_id)  # the genuine device moves on to 2
    with pytest.raises(ClonedAuthenticatorSuspected, match="from 2 to 2"):
        login(rp, ledger, copy_of_device, keys, user_id)
    assert isinstance(ClonedAuthenticatorSuspected("x"), Unauthenticated)
    assert keys[passkey.credential_id].sign_count == 2


def test_a_counter_that_falls_back_to_zero_is_refused(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """Once a passkey has counted, a response with counter 0 is a regression, not "no counter"."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator(counter_step=0)
    passkey = register(rp, ledger, device, user_id)
    with pytest.raises(ClonedAuthenticatorSuspected):
        login(rp, ledger, device, {passkey.credential_id: stored(passkey, sign_count=7)}, user_id)


def test_authenticators_without_a_counter_keep_working(
    rp: RelyingParty, ledger: ChallengeLedger, users: SequentialIds
) -> None:
    """A counter that is always zero on both sides (synced passkeys) is allowed, login after login."""
    user_id = users.new(UserId)
    device = SoftwareAuthenticator(counter_step=0, backup_eligible=True)
    passkey = register(rp, ledger, device, user_id)
    assert passkey.backup_eligible
    assert passkey.backed_up
    keys = {passkey.credential_id: stored(passkey)}
    for _ in range(3):
        assert login(rp, ledger, device, keys, user_id).new_sign_count == 0
