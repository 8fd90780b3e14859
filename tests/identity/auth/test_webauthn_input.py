"""Hostile or malformed passkey input gets a clear `InvalidInput`/`Unauthenticated`, never a crash."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.identity.auth.webauthn import (
    CREDENTIAL_JSON_BYTES_MAX,
    CeremonyKind,
    PendingChallenge,
    RegisteredPasskey,
    RelyingParty,
    StoredPasskey,
    authentication_options,
    new_challenge,
    read_assertion,
    registration_options,
    verify_authentication,
    verify_registration,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError, InvalidInput, Rejected, Unauthenticated
from appliance.kernel.ids import SequentialIds, UserId
from tests.identity.support.authenticator import SoftwareAuthenticator, b64url

ORIGIN = "https://craton.test"
RP = RelyingParty(rp_id="craton.test", rp_name="Craton", origins=(ORIGIN,))
CLOCK = ManualClock()
USER = SequentialIds(seed=5).new(UserId)


def _registration() -> tuple[PendingChallenge, dict[str, Any]]:
    pending = new_challenge(CeremonyKind.REGISTRATION, USER, now=CLOCK.now())
    options = registration_options(RP, pending, user_name="ada", display_name="Ada")
    return pending, SoftwareAuthenticator(attestation="packed").create(options, origin=ORIGIN)


REG_PENDING, REG_RESPONSE = _registration()
PASSKEY: RegisteredPasskey = verify_registration(RP, REG_PENDING, REG_RESPONSE, USER)


def _assertion() -> tuple[PendingChallenge, dict[str, Any], StoredPasskey]:
    device = SoftwareAuthenticator()
    reg_pending = new_challenge(CeremonyKind.REGISTRATION, USER, now=CLOCK.now())
    reg = device.create(registration_options(RP, reg_pending, user_name="a", display_name="a"), origin=ORIGIN)
    passkey = verify_registration(RP, reg_pending, reg, USER)
    stored = StoredPasskey(
        credential_id=passkey.credential_id, public_key=passkey.public_key, sign_count=0, user_id=USER
    )
    pending = new_challenge(CeremonyKind.AUTHENTICATION, None, now=CLOCK.now())
    return pending, device.get(authentication_options(RP, pending), origin=ORIGIN), stored


AUTH_PENDING, AUTH_RESPONSE, STORED = _assertion()


def _login(response: Any) -> None:
    """Verify against the stored key, whatever credential id the (possibly damaged) response claims."""
    assertion = read_assertion(response)
    stored = StoredPasskey(
        credential_id=assertion.credential_id, public_key=STORED.public_key, sign_count=0, user_id=USER
    )
    verify_authentication(RP, AUTH_PENDING, assertion, stored)


def test_the_unmodified_fixtures_verify() -> None:
    """Baseline for the mutations below: the untouched responses pass, so refusals come from the damage."""
    assert verify_registration(RP, REG_PENDING, REG_RESPONSE, USER).user_handle == USER
    _login(AUTH_RESPONSE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        ("[1, 2, 3]", "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b"{}", "lacks rawId"),
        ({"rawId": 12}, "lacks rawId"),
        ({"rawId": "!!!not base64!!!"}, "not base64url"),
        ({"rawId": ""}, "empty"),
        ({"rawId": b64url(b"x" * 1024)}, "longer than WebAuthn allows"),
        ({"rawId": "AAAA", "response": {"userHandle": 7}}, "user handle"),
        ({"rawId": "AAAA", "response": {"userHandle": "%%%"}}, "not base64url"),
    ],
)
def test_malformed_assertions_are_invalid_input(body: Any, message: str) -> None:
    """Broken JSON, wrong shapes and bad encodings are refused before any lookup, naming the problem."""
    with pytest.raises(InvalidInput, match=message) as caught:
        read_assertion(body)
    assert caught.value.field == "credential"


def test_an_oversized_response_is_refused_before_parsing() -> None:
    """A body above the byte limit is refused whatever it contains."""
    padded = {**AUTH_RESPONSE, "padding": "x" * CREDENTIAL_JSON_BYTES_MAX}
    with pytest.raises(InvalidInput, match="larger than"):
        read_assertion(json.dumps(padded))
    with pytest.raises(InvalidInput, match="larger than"):
        verify_registration(RP, REG_PENDING, padded, USER)


def test_a_foreign_user_handle_is_unknown() -> None:
    """A user handle that is not 16 bytes was not made by this appliance: unauthenticated, not a crash."""
    response = copy.deepcopy(AUTH_RESPONSE)
    response["response"]["userHandle"] = b64url(b"someone@example.com")
    with pytest.raises(Unauthenticated, match="unknown passkey user handle"):
        read_assertion(response)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("response", "attestationObject"), b64url(b"\xa1\x63fmt\x64none")),  # CBOR without authData
        (("response", "attestationObject"), b64url(b"\x00" * 40)),
        (("response", "clientDataJSON"), b64url(b'{"type": 1}')),
        (("response", "clientDataJSON"), "***"),
        (("type",), "password"),
        (("id",), "c29tZXRoaW5nIGVsc2U"),
        (("response",), "nope"),
    ],
)
def test_malformed_registrations_are_refused(path: tuple[str, ...], value: Any) -> None:
    """Damaged registration fields are refused as `Rejected` (bad input or failed verification)."""
    response = copy.deepcopy(REG_RESPONSE)
    target = response
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(Rejected):
        verify_registration(RP, REG_PENDING, response, USER)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40) | st.binary(max_size=80).map(b64url),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def _mutate(response: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    mutated = copy.deepcopy(response)
    section = data.draw(st.sampled_from([mutated, mutated["response"]]))
    key = data.draw(st.sampled_from(sorted(section)))
    if data.draw(st.booleans()):
        del section[key]
    elif isinstance(section[key], str) and data.draw(st.booleans()):
        raw = bytearray(section[key].encode())
        index = data.draw(st.integers(0, len(raw) - 1)) if raw else 0
        if raw:
            raw[index] = data.draw(st.sampled_from(b"AZaz09-_=+/!"))
        section[key] = raw.decode()
    else:
        section[key] = data.draw(_json_values)
    return mutated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutated_registration_is_refused_cleanly(data: st.DataObject) -> None:
    """Random damage to a valid registration yields `Rejected` or a valid result, never another exception."""
    with contextlib.suppress(Rejected):
        verify_registration(RP, REG_PENDING, _mutate(REG_RESPONSE, data), USER)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutated_assertion_is_refused_cleanly(data: st.DataObject) -> None:
    """Random damage to a valid assertion yields `Rejected` or a valid login, never another exception."""
    with contextlib.suppress(Rejected):
        _login(_mutate(AUTH_RESPONSE, data))


@pytest.mark.parametrize(
    ("rp_id", "origins", "message"),
    [
        ("https://craton.test", (ORIGIN,), "bare lower-case host"),
        ("Craton.test", (ORIGIN,), "bare lower-case host"),
        ("", (ORIGIN,), "bare lower-case host"),
        ("10.0.0.7", ("https://10.0.0.7",), "IP address"),
        ("craton.test", (), "at least one origin"),
        ("craton.test", ("http://craton.test",), "http only for localhost"),
        ("craton.test", ("https://evil.example",), "subdomain"),
        ("craton.test", ("https://notcraton.test",), "subdomain"),
        ("craton.test", ("https://craton.test/login",), "no path"),
    ],
)
def test_relying_party_configuration_is_checked(rp_id: str, origins: tuple[str, ...], message: str) -> None:
    """A relying party that browsers would refuse is a `ConfigError` at startup, not a failure at login."""
    with pytest.raises(ConfigError, match=message):
        RelyingParty(rp_id=rp_id, rp_name="Craton", origins=origins)


def test_localhost_over_http_is_a_valid_relying_party() -> None:
    """Browsers allow WebAuthn on http://localhost, so a local appliance can use passkeys without TLS."""
    rp = RelyingParty(rp_id="localhost", rp_name="Craton", origins=("http://localhost:8080",))
    assert rp.origins == ("http://localhost:8080",)
